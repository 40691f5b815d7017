"""SeaweedFS, a real S3 server, on loopback: `weed server -s3` built from its Go module (scripts/build-s3server).

Fixtures (listed in tests/conftest.py):

- `seaweedfs_server` (session): one `weed server` (master, volume, filer and S3 gateway in one
  process) on free 127.0.0.1 ports, its own data dir, the test key pair from tests/plugins/s3.py as
  its only identity. Skips, saying why, when `weed` is not built (no Go); the `seaweedfs` lane marker
  makes that skip a failure when CI requires the lane.
- `SeaweedServer.gateway()`: an extra `weed s3` gateway on the same filer (same buckets), which a
  test may `stop()` mid-upload: the SeaweedFS counterpart of `make_moto_server`.

Unlike moto, SeaweedFS checks SigV4 signatures, verifies supplied checksums and reports multipart
composite checksums with their `-N` suffix, so tests parametrized over both servers (the `s3_server`
fixture) see the answers real S3 gives.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from tests.plugins.s3 import TEST_ACCESS_KEY_ID, TEST_REGION, TEST_SECRET_ACCESS_KEY

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "scripts" / "build-s3server"
READY_TIMEOUT = 90.0  # ~2 s on an idle machine; the 2-core CI box may be busy with other lanes


def weed_binary() -> Path:
    """Where scripts/build-s3server puts `weed` (whether or not it is built yet)."""
    out = subprocess.run([str(BUILD_SCRIPT), "--print-path"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (all held open at once so none repeats)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def identities_json() -> str:
    """The S3 identities file: the test key pair, allowed everything on every bucket."""
    return json.dumps(
        {
            "identities": [
                {
                    "name": "evm-digest-tests",
                    "credentials": [{"accessKey": TEST_ACCESS_KEY_ID, "secretKey": TEST_SECRET_ACCESS_KEY}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
    )


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when pytest dies, so a killed run leaves no server behind."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class _Process:
    """A weed process in its own process group, logging into its own dir."""

    def __init__(self, argv: list[str], log: Path) -> None:
        self.log = log
        # Every bucket is its own collection, and the master pre-grows 7 volumes per collection by
        # default: one per bucket keeps a session's hundreds of test buckets within the volume slots.
        # AWS_* are dropped: weed would add the environment's key pair as a second admin identity.
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["WEED_MASTER_VOLUME_GROWTH_COPY_1"] = "1"
        # Keys are filer paths, whose names are capped at 255 bytes by default (a filesystem's limit);
        # S3 allows 1024 bytes for the whole key, and tests/emit/test_keys.py goes right up to it.
        env["WEED_FILER_OPTIONS_MAX_FILE_NAME_LENGTH"] = "1024"
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                preexec_fn=_die_with_parent,
            )

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    def kill(self, sig: int = signal.SIGTERM, grace: float = 3.0) -> None:
        """`sig` to the whole process group, then SIGKILL after `grace` seconds.

        On SIGTERM `weed server` stops its volume server before its filer, whose last metadata-log
        flush then retries for 15 s against the stopped volume server; the data dir is discarded
        anyway, so a short grace keeps the session's teardown short.
        """
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def _wait_ready(endpoint_url: str, process: _Process, what: str, *, first_write: bool = False) -> None:
    """Ready = ListBuckets answers with the test credentials (so IAM is loaded, not just the port open).

    With `first_write`, also until a first PutObject lands: a fresh `weed server` defers its first
    volume allocation by ~4 s and refuses writes until its filer lock ring forms (~8 s after start),
    which would otherwise be charged to whichever test writes first.
    """
    client = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=TEST_REGION,
        aws_access_key_id=TEST_ACCESS_KEY_ID,
        aws_secret_access_key=TEST_SECRET_ACCESS_KEY,
        config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5),
    )
    deadline = time.monotonic() + READY_TIMEOUT
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process.proc.poll() is not None:
            status = process.proc.returncode
            raise RuntimeError(f"{what} exited with {status} before it was ready:\n{process.log_tail()}")
        try:
            client.list_buckets()
            if first_write:
                if not client.list_buckets().get("Buckets"):
                    client.create_bucket(Bucket="evmd-ready")
                client.put_object(Bucket="evmd-ready", Key="ready", Body=b"ready")
            return
        except Exception as exc:  # not up yet: refused, 503, IAM still loading, no volume or lock yet
            last = exc
            time.sleep(0.2)
    process.kill(signal.SIGKILL)
    raise RuntimeError(f"{what} was not ready within {READY_TIMEOUT:.0f} s ({last}):\n{process.log_tail()}")


class SeaweedGateway:
    """An extra `weed s3` gateway on a running server's filer; `stop()` kills it (SIGKILL, like a crash)."""

    name = "seaweedfs"

    def __init__(self, server: SeaweedServer) -> None:
        self.host = "127.0.0.1"
        self.port, grpc = free_ports(2)
        self.endpoint_url = f"http://{self.host}:{self.port}"
        work = server.data_dir / f"gateway-{self.port}"
        work.mkdir()
        argv = [
            str(server.binary), "-logtostderr", "s3",
            f"-filer={server.filer_address}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-port={self.port}", f"-port.grpc={grpc}", "-port.iceberg=0", "-port.lance=0",
            f"-config={server.config}", "-autoCreateBucket=false", f"-localSocket={work}/s3.sock",
        ]  # fmt: skip
        self._process = _Process(argv, work / "weed.out")
        self.running = True
        _wait_ready(self.endpoint_url, self._process, f"weed s3 gateway on port {self.port}")

    def stop(self) -> None:
        if self.running:
            self.running = False
            self._process.kill(signal.SIGKILL)


class SeaweedServer:
    """`weed server -s3` on free loopback ports; `endpoint_url` is its S3 gateway."""

    name = "seaweedfs"

    def __init__(self, binary: Path, data_dir: Path) -> None:
        self.binary = binary
        self.data_dir = data_dir
        self.host = "127.0.0.1"
        ports = free_ports(8)
        self.ports = dict(zip(("master", "volume", "filer", "s3"), ports[:4], strict=True))
        self.grpc_ports = dict(zip(("master", "volume", "filer", "s3"), ports[4:], strict=True))
        self.port = self.ports["s3"]
        self.endpoint_url = f"http://{self.host}:{self.port}"
        # SeaweedFS's address form for a non-default gRPC port: host:httpPort.grpcPort
        self.filer_address = f"{self.host}:{self.ports['filer']}.{self.grpc_ports['filer']}"
        self.config = data_dir / "s3-identities.json"
        self.config.write_text(identities_json())
        (data_dir / "store").mkdir()
        argv = [str(binary), "-logtostderr", "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1"]
        argv += [f"-dir={data_dir / 'store'}", "-volume.max=0", "-master.volumeSizeLimitMB=64"]
        argv += ["-volume.preStopSeconds=0"]  # default 10 s of draining heartbeats before every stop
        for svc in ("master", "volume", "filer", "s3"):
            argv += [f"-{svc}.port={self.ports[svc]}", f"-{svc}.port.grpc={self.grpc_ports[svc]}"]
        argv += [
            "-s3", f"-s3.config={self.config}", "-s3.autoCreateBucket=false",
            "-s3.port.iceberg=0", "-s3.port.lance=0",  # both listen by default (8181, 9101)
            "-master.telemetry=false",
            f"-filer.localSocket={data_dir / 'filer.sock'}", f"-s3.localSocket={data_dir / 's3.sock'}",
        ]  # fmt: skip
        self._process = _Process(argv, data_dir / "weed.out")
        self.gateways: list[SeaweedGateway] = []
        try:
            _wait_ready(self.endpoint_url, self._process, f"weed server (S3 on port {self.port})", first_write=True)
        except BaseException:
            self.stop()
            raise

    def gateway(self) -> SeaweedGateway:
        self.gateways.append(SeaweedGateway(self))
        return self.gateways[-1]

    @property
    def pid(self) -> int:
        return self._process.proc.pid

    def stop(self) -> None:
        for gw in self.gateways:
            gw.stop()
        self._process.kill()
        # `weed server` registers its gRPC unix sockets under a hard-coded /tmp whatever TMPDIR says.
        for port in self.grpc_ports.values():
            for path in glob.glob(f"/tmp/seaweedfs-*-{port}.sock"):
                with contextlib.suppress(OSError):
                    os.unlink(path)


def start_seaweedfs(data_dir: Path) -> SeaweedServer:
    """Start a server, or skip with the reason when `weed` is not built (no Go on this machine)."""
    binary = weed_binary()
    if not os.access(binary, os.X_OK):
        go = shutil.which("go")
        why = "Go is not on PATH" if go is None else "it is not built yet: run scripts/build-s3server (or make test)"
        pytest.skip(f"seaweedfs lane: no SeaweedFS binary at {binary} ({why})")
    return SeaweedServer(binary, data_dir)


@pytest.fixture(scope="session")
def seaweedfs_server(aws_test_env: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()
