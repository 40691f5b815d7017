"""S3 over real HTTP on loopback: two servers, a fresh bucket per test, and a fault proxy.

Fixtures (any test module can request them; listed in tests/conftest.py):

- `aws_test_env` (session): fake, AWS-shaped credentials in the environment, shared config files
  pointed at nothing, IMDS disabled, AWS_ENDPOINT_URL*/AWS_PROFILE removed — so boto3's standard
  chain resolves the fakes and no developer credentials or endpoints leak into tests.
- `moto_server` (session): moto's ThreadedMotoServer on 127.0.0.1, free port, real HTTP.
- `seaweedfs_server` (session, tests/plugins/seaweedfs.py): SeaweedFS, a real S3 server.
- `s3_server` (function, parametrized `moto` / `seaweedfs`): every test that requests it, or
  `s3_bucket` / `s3_fault_proxy` / `make_s3_gateway`, runs once per server. The seaweedfs case
  carries the `seaweedfs` lane marker (it skips, saying why, when SeaweedFS is not built).
- `s3_bucket` (function): a new bucket on `s3_server`, as an `S3Target` (`.server` names which).
- `make_s3_gateway` (function): start extra endpoints onto the same buckets that a test may `stop()`
  mid-upload: another moto server (moto's backends are per process) or another `weed s3` gateway on
  the SeaweedFS filer.
- `make_moto_server` (function): extra moto servers, for tests that are about moto only.
- `s3_fault_proxy` (function): a `FaultProxy` (tests/plugins/fault_proxy.py) in front of `s3_server`
  that forwards requests, answers matching ones with real S3 error responses (503 SlowDown, 403
  AccessDenied, …) instead, or strips headers such as If-None-Match.
  Use `proxy.target(s3_bucket)` to talk to the bucket through it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

import boto3
import pytest
from botocore.config import Config
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from tests.plugins.fault_proxy import Fault, FaultProxy

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# AWS's documented example key pair: shaped like real credentials so redaction is exercised.
TEST_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
TEST_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TEST_REGION = "us-east-1"
TEST_SECRETS = {TEST_ACCESS_KEY_ID: TEST_SECRET_ACCESS_KEY}

__all__ = ["Fault", "FaultProxy", "MotoServer", "S3Server", "S3Target"]


class S3Server(Protocol):
    """What the S3 fixtures need of a server: `name` is "moto" or "seaweedfs"."""

    name: str
    host: str
    port: int
    endpoint_url: str

    def gateway(self) -> Gateway: ...


class Gateway(Protocol):
    """An extra endpoint onto a server's buckets that a test may stop."""

    endpoint_url: str

    def stop(self) -> None: ...


@dataclass(frozen=True)
class S3Target:
    """Where a test's S3 objects live: endpoint, bucket, region, and which server ("moto", "seaweedfs")."""

    endpoint_url: str
    bucket: str
    region: str = TEST_REGION
    server: str = "moto"

    def url(self, prefix: str = "") -> str:
        return f"s3://{self.bucket}/{prefix}".rstrip("/")

    def client(self) -> S3Client:
        """A plain boto3 client (path-style, no retries) for arranging and inspecting state."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1, "mode": "standard"}),
        )

    def env(self) -> dict[str, str]:
        """Environment for a subprocess that should reach this store through boto3's chain."""
        return {**os.environ, "AWS_ENDPOINT_URL": self.endpoint_url, "AWS_REGION": self.region}

    def via(self, endpoint_url: str) -> S3Target:
        return replace(self, endpoint_url=endpoint_url)


class MotoServer(ThreadedMotoServer):
    """moto's ThreadedMotoServer on 127.0.0.1 and a free port, started on construction.

    `stop()` also shuts down every open client connection: ThreadedMotoServer's own stop ends the
    accept loop, but a request already in flight (a part upload) would still be served to the end.
    """

    name = "moto"

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__(ip_address=host, port=0, verbose=False)
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.start()
        self.host, self.port = self.get_host_and_port()
        self.endpoint_url = f"http://{self.host}:{self.port}"
        self.running = True

    def gateway(self) -> MotoServer:
        """Another moto server: moto's backends are per process, so it serves the same buckets."""
        return MotoServer()

    def _server_entry(self) -> None:
        # Same as ThreadedMotoServer's, with a handler that tracks its connections.
        conns, lock = self._conns, self._lock

        class Handler(MotoRequestHandler):
            def handle(self) -> None:
                with lock:
                    conns.add(self.connection)
                try:
                    super().handle()
                finally:
                    with lock:
                        conns.discard(self.connection)

            def log_request(self, *args: Any, **kwargs: Any) -> None:
                return None  # one line per request would drown the test output

        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=Handler)
        self._server_ready_event.set()
        self._server.serve_forever()

    def stop(self) -> None:
        if not self.running:
            return
        self.running = False
        super().stop()
        with self._lock:
            for conn in list(self._conns):
                with contextlib.suppress(OSError):  # already closed by the client
                    conn.shutdown(socket.SHUT_RDWR)


@pytest.fixture(scope="session")
def aws_test_env() -> Iterator[None]:
    mp = pytest.MonkeyPatch()
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL") or name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
            mp.delenv(name)
    mp.setenv("AWS_ACCESS_KEY_ID", TEST_ACCESS_KEY_ID)
    mp.setenv("AWS_SECRET_ACCESS_KEY", TEST_SECRET_ACCESS_KEY)
    mp.setenv("AWS_REGION", TEST_REGION)
    mp.setenv("AWS_DEFAULT_REGION", TEST_REGION)
    mp.setenv("AWS_CONFIG_FILE", os.devnull)
    mp.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    mp.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no 1 s IMDS probes when credentials are absent
    yield
    mp.undo()


@pytest.fixture(scope="session")
def moto_server(aws_test_env: None) -> Iterator[MotoServer]:
    server = MotoServer()
    yield server
    server.stop()


# For a fixture with its own params (e.g. folder + both servers): pytest cannot look up a
# parametrized fixture such as `s3_bucket` dynamically, so such fixtures use these with `new_bucket`.
S3_SERVERS = [pytest.param("moto", id="moto"), pytest.param("seaweedfs", id="seaweedfs", marks=pytest.mark.seaweedfs)]


def server_named(request: pytest.FixtureRequest, name: str) -> S3Server:
    """The session's moto or SeaweedFS server (SeaweedFS skips, saying why, when not built)."""
    server: S3Server = request.getfixturevalue(f"{name}_server")
    return server


def new_bucket(server: S3Server) -> S3Target:
    target = S3Target(server.endpoint_url, f"evmd-{uuid.uuid4().hex[:16]}", server=server.name)
    target.client().create_bucket(Bucket=target.bucket)
    return target


@pytest.fixture(params=S3_SERVERS)
def s3_server(request: pytest.FixtureRequest) -> S3Server:
    return server_named(request, request.param)


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> S3Target:
    return new_bucket(s3_server)


@pytest.fixture
def make_s3_gateway(s3_server: S3Server) -> Iterator[Callable[[], Gateway]]:
    started: list[Gateway] = []

    def start() -> Gateway:
        gateway = s3_server.gateway()
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


@pytest.fixture
def make_moto_server(aws_test_env: None) -> Iterator[Callable[[], MotoServer]]:
    started: list[MotoServer] = []

    def start() -> MotoServer:
        started.append(MotoServer())
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def s3_fault_proxy(s3_server: S3Server) -> Iterator[FaultProxy]:
    proxy = FaultProxy(s3_server, secrets=TEST_SECRETS)
    yield proxy
    proxy.stop()
