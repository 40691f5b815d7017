"""A real `prefect server start` on loopback with its own PREFECT_HOME, plus helpers for its REST API."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).parent / "prefect")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class PrefectServer:
    home: Path
    port: int
    process: subprocess.Popen[bytes]
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        return {
            **base,
            "PREFECT_HOME": str(self.home),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "INFO",
            **extra,
        }

    def cli(self, *args: str, cwd: Path = REPO, timeout: float = 180, **env: str) -> str:
        done = subprocess.run(
            [PREFECT, "--no-prompt", *args], cwd=cwd, env=self.env(**env), capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"prefect {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self, *args: str, log: Path, cwd: Path = REPO, **env: str) -> subprocess.Popen[bytes]:
        with log.open("wb") as sink:
            child = subprocess.Popen(
                [PREFECT, *args], cwd=cwd, env=self.env(**env), stdout=sink, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.children.append(child)
        return child

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(method, f"{self.api_url}{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def wait_run(self, flow_run_id: str, wanted: set[str], timeout: float = 240) -> dict[str, Any]:
        """The flow run once its state type is in `wanted` (or as it is when `timeout` runs out)."""
        deadline = time.monotonic() + timeout
        while True:
            run: dict[str, Any] = self.api("GET", f"/flow_runs/{flow_run_id}")
            if run["state"]["type"] in wanted or time.monotonic() > deadline:
                return run
            time.sleep(1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


def start_prefect_server(home: Path, *, timeout: float = 120) -> PrefectServer:
    """`prefect server start` on a free loopback port with its own PREFECT_HOME, once /api/health answers."""
    port = free_port()
    # The UI calls the API at PREFECT_UI_API_URL; off port 4200 it must be told where that is.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_UI_API_URL=f"http://127.0.0.1:{port}/api",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    log_path = home / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    server = PrefectServer(home, port, process)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{server.api_url}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(process)
            raise RuntimeError(f"prefect server did not become healthy:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.5)


def stop_prefect_server(server: PrefectServer) -> None:
    for child in server.children:
        _stop(child)
    _stop(server.process)


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    try:
        server = start_prefect_server(tmp_path_factory.mktemp("prefect-home"))
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield server
    stop_prefect_server(server)
