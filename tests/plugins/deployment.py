"""The README's deployment steps, run as written against the session's `prefect server start`.

`readme_deployment` extracts the shell block marked `<!-- deployment-steps` in README.md and runs it
with bash from the repo root, changing only what a test must: the demo path `/tmp/evm-digest-demo`
becomes a temp dir, port 4200 becomes the session server's port, and the `prefect server start` line is
dropped because the `prefect_server` fixture is that server. Its background worker keeps serving the
other end-to-end tests until the session ends. Session-scoped: one server, one deploy, one worker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.plugins.server import REPO, PrefectServer
from tests.plugins.sim import node_factory

README = REPO / "README.md"
STEPS_MARK = "<!-- deployment-steps"
DEMO_ROOT = "/tmp/evm-digest-demo"
DEMO_API = "127.0.0.1:4200"
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}
ADHOC_HEIGHT = 213200000


def readme_steps() -> list[str]:
    """The command lines of the README's deployment block, verbatim."""
    after_mark = README.read_text().split(STEPS_MARK, 1)[1]
    block = after_mark.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def steps_script(lines: list[str], server: PrefectServer, root: Path) -> str:
    kept = [line for line in lines if "prefect server start" not in line]
    assert len(kept) == len(lines) - 1, "the README block should start exactly one server"
    body = "\n".join(kept).replace(DEMO_ROOT, str(root)).replace(DEMO_API, f"127.0.0.1:{server.port}")
    return f"set -euo pipefail\n{body}\n"


def wait_state(server: PrefectServer, flow_run_id: str, wanted: set[str], timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = server.api("GET", f"/flow_runs/{flow_run_id}")
        if run["state"]["type"] in wanted or time.monotonic() > deadline:
            return run
        time.sleep(1)


@dataclass
class Deployment:
    root: Path  # what the README calls /tmp/evm-digest-demo
    log: Path  # the steps' output, worker included
    deployments: dict[str, dict[str, Any]]

    def sealed(self) -> list[str]:
        return records_under(self.root / "sealed")


def records_under(sink_dir: Path) -> list[str]:
    """Names of the records and seals under a folder sink, any layout (intents are bookkeeping, left out)."""
    return sorted(p.name for p in sink_dir.rglob("endpoint-digest-*") if ".intent-" not in p.name)


@pytest.fixture(scope="session")
def readme_deployment(prefect_server: PrefectServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("evm-digest-demo")
    log = root / "readme-steps.log"
    # A fresh machine: none of our variables set. The worker polls every 2 s instead of 10 (not a README step).
    env = {k: v for k, v in prefect_server.env(PREFECT_WORKER_QUERY_SECONDS="2").items() if "EVMDIGEST" not in k}
    with log.open("wb") as out:
        steps = subprocess.Popen(
            ["bash", "-c", steps_script(readme_steps(), prefect_server, root)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        code = steps.wait(timeout=900)
        assert code == 0, f"the README's deployment steps failed ({code}):\n{log.read_text()[-5000:]}"
        found = prefect_server.api("POST", "/deployments/filter", json={})
        yield Deployment(root, log, {d["name"]: d for d in found})
    finally:
        _stop_group(steps.pid)  # the worker the steps started with `&` is still in their process group


def _stop_group(pgid: int) -> None:
    for sig, grace in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


@pytest.fixture(scope="session")
def adhoc_run(readme_deployment: Deployment, prefect_server: PrefectServer, sim_binary: Path) -> dict[str, Any]:
    """One `adhoc` run triggered through the REST API the UI uses: node `e2e-node`, a clean simulated node."""
    root = readme_deployment.root / "adhoc"
    node = node_factory()(root, height=ADHOC_HEIGHT, rows=2000)
    run = prefect_server.api(
        "POST",
        f"/deployments/{readme_deployment.deployments['adhoc']['id']}/create_flow_run",
        json={"parameters": {
            "flatkv_dir": str(node.flatkv_dir), "memiavl_dir": str(node.memiavl_dir), "height": ADHOC_HEIGHT,
            "seidb_path": str(sim_binary), "sink_url": str(root / "sealed"), "node": "e2e-node",
        }},
    )  # fmt: skip
    finished = wait_state(prefect_server, run["id"], TERMINAL)
    artifacts = prefect_server.api(
        "POST", "/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [run["id"]]}}}
    )
    return {"run": finished, "node": node, "sealed": root / "sealed", "artifacts": artifacts}
