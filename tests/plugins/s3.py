"""S3 over real HTTP on loopback: moto's server app, a fresh bucket per test, and a fault proxy.

Fixtures (any test module can request them; listed in tests/conftest.py):

- `aws_test_env` (session): fake, AWS-shaped credentials in the environment, shared config files
  pointed at nothing, IMDS disabled, AWS_ENDPOINT_URL*/AWS_PROFILE removed — so boto3's standard
  chain resolves the fakes and no developer credentials or endpoints leak into tests.
- `moto_server` (session): moto's ThreadedMotoServer on 127.0.0.1, free port, real HTTP.
- `s3_bucket` (function): a new bucket on `moto_server`, as an `S3Target`.
- `make_moto_server` (function): start extra servers you may `stop()` mid-test. Moto's backends are
  per process, so every server here serves the same buckets: stop one, inspect through another.
- `s3_fault_proxy` (function): a `FaultProxy` in front of `moto_server` that forwards requests and
  answers matching ones with real S3 error responses (503 SlowDown, 403 AccessDenied, …) instead.
  Use `proxy.target(s3_bucket)` to talk to the bucket through it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# AWS's documented example key pair: shaped like real credentials so redaction is exercised.
TEST_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
TEST_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TEST_REGION = "us-east-1"


@dataclass(frozen=True)
class S3Target:
    """Where a test's S3 objects live: endpoint, bucket, region."""

    endpoint_url: str
    bucket: str
    region: str = TEST_REGION

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

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__(ip_address=host, port=0, verbose=False)
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.start()
        self.host, self.port = self.get_host_and_port()
        self.endpoint_url = f"http://{self.host}:{self.port}"
        self.running = True

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


@dataclass
class Fault:
    """Answer matching requests with an S3 error instead of forwarding them.

    A request matches when every given criterion holds: `method` (e.g. "PUT"), `path_contains`
    (substring of the path, i.e. bucket/key), `path_suffix` (the path ends with it: the object, not
    its `.seal.json` or `.intent-…` companions), `query_contains` (substring of the query string,
    e.g. "partNumber=2" or "uploads"). `times=None` fires forever; otherwise that many times.
    """

    status: int
    code: str
    message: str = "injected by the test fault proxy"
    method: str | None = None
    path_contains: str | None = None
    path_suffix: str | None = None
    query_contains: str | None = None
    times: int | None = None
    extra_xml: str = ""
    fired: int = field(default=0, init=False)

    def matches(self, method: str, path: str, query: str) -> bool:
        return (
            (self.times is None or self.fired < self.times)
            and (self.method is None or self.method == method)
            and (self.path_contains is None or self.path_contains in path)
            and (self.path_suffix is None or path.endswith(self.path_suffix))
            and (self.query_contains is None or self.query_contains in query)
        )

    def body(self, path: str) -> bytes:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error>'
            f"<Code>{self.code}</Code><Message>{self.message}</Message><Resource>{path}</Resource>"
            f"{self.extra_xml}<RequestId>FAULTPROXY{self.fired}</RequestId></Error>"
        ).encode()


_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection", "te", "upgrade"}


class FaultProxy:
    """HTTP/1.1 forwarding proxy to an upstream S3 endpoint with injectable error answers."""

    def __init__(self, upstream: MotoServer) -> None:
        self.upstream = upstream
        self.faults: list[Fault] = []
        self.log: list[tuple[str, str, int]] = []  # (method, path?query, status sent back)
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive and `Expect: 100-continue`, as boto3 uses

            def _read_body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    data = bytearray()
                    while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                        data += self.rfile.read(size)
                        self.rfile.readline()
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _handle(self) -> None:
                body = self._read_body()  # drain first so the client's connection stays usable
                path, _, query = self.path.partition("?")
                fault = proxy._match(self.command, path, query)
                if fault is not None:
                    payload = fault.body(path)
                    self.send_response_only(fault.status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.send_header("x-amz-request-id", "FAULTPROXY")
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                    proxy._record(self.command, self.path, fault.status)
                    return
                status = self._forward(body)
                proxy._record(self.command, self.path, status)

            def _forward(self, body: bytes) -> int:
                conn = HTTPConnection(proxy.upstream.host, proxy.upstream.port, timeout=60)
                try:
                    conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                    for name, value in self.headers.items():
                        if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                            conn.putheader(name, value)
                    if body or self.command in ("PUT", "POST"):
                        conn.putheader("Content-Length", str(len(body)))
                    conn.endheaders(body or None)
                    resp = conn.getresponse()
                    data = resp.read()
                finally:
                    conn.close()
                self.send_response_only(resp.status, resp.reason)
                for name, value in resp.getheaders():
                    if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                length = resp.getheader("Content-Length") if self.command == "HEAD" else str(len(data))
                self.send_header("Content-Length", length or "0")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                return resp.status

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def inject(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def target(self, direct: S3Target) -> S3Target:
        """The same bucket, reached through this proxy."""
        return direct.via(self.endpoint_url)

    def _match(self, method: str, path: str, query: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path, query):
                    fault.fired += 1
                    return fault
        return None

    def _record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.log.append((method, path, status))

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


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


@pytest.fixture
def s3_bucket(moto_server: MotoServer) -> S3Target:
    target = S3Target(moto_server.endpoint_url, f"evmd-{uuid.uuid4().hex[:16]}")
    target.client().create_bucket(Bucket=target.bucket)
    return target


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
def s3_fault_proxy(moto_server: MotoServer) -> Iterator[FaultProxy]:
    proxy = FaultProxy(moto_server)
    yield proxy
    proxy.stop()
