"""End to end, as an operator would: `prefect server start`, `prefect deploy --all` from prefect.yaml, a
process worker, the `adhoc` deployment triggered through the REST API the UI uses, artifacts read back,
the artifact page rendered by headless Chromium, and a UI-style cancellation that must kill seidb."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from evmdigest.seidb.procs import RUN_TAG_ENV, pids_tagged
from tests.plugins.server import REPO, PrefectServer
from tests.plugins.sim import MakeNode, SimNode

pytestmark = [pytest.mark.server]
HEIGHT = 213200000
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium; .ci/run does it)")
    return found


def _wait_state(server: PrefectServer, flow_run_id: str, wanted: set[str], timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = server.api("GET", f"/flow_runs/{flow_run_id}")
        if run["state"]["type"] in wanted or time.monotonic() > deadline:
            return run
        time.sleep(1)


@pytest.fixture(scope="module")
def deployed(prefect_server: PrefectServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("e2e")
    server = prefect_server
    server.cli("block", "register", "-m", "blocks")
    server.cli("work-pool", "create", "evm-digest", "--type", "process")
    server.cli(
        "deploy", "--all",
        PWD=str(REPO),
        EVMDIGEST_FLATKV_DIR=str(work / "segment" / "flatkv"),
        EVMDIGEST_MEMIAVL_DIR=str(work / "segment" / "memiavl"),
        EVMDIGEST_SINK_URL=(work / "segment-sealed").as_uri(),
    )  # fmt: skip
    server.start("worker", "start", "--pool", "evm-digest", log=work / "worker.log")
    deployments = server.api("POST", "/deployments/filter", json={})
    return {"work": work, "deployments": {d["name"]: d for d in deployments}}


def test_deploy_creates_scheduled_segment_seal_and_unscheduled_adhoc(deployed: dict[str, Any]) -> None:
    deployments = deployed["deployments"]
    assert set(deployments) >= {"segment-seal", "adhoc"}
    segment = deployments["segment-seal"]
    assert [s["schedule"]["interval"] for s in segment["schedules"]] == [3600.0]
    assert segment["parameters"]["sink_url"].startswith("file://")
    assert "height" not in segment["parameters"]  # no height: segment discovery
    assert deployments["adhoc"]["schedules"] == []
    schema = deployments["adhoc"]["parameter_openapi_schema"]["properties"]
    assert schema["height"]["description"].startswith("Segment boundary height")
    assert {"seidb", "sink", "normalizations", "scan_timeout"} <= set(schema)


@pytest.mark.browser
def test_adhoc_run_through_the_api_publishes_and_renders_its_table(
    deployed: dict[str, Any], prefect_server: PrefectServer, make_node: MakeNode, sim_binary: Path
) -> None:
    chromium = _chromium()
    work: Path = deployed["work"]
    node: SimNode = make_node(work / "adhoc", height=HEIGHT, rows=2000)
    sealed = work / "adhoc-sealed"
    adhoc = deployed["deployments"]["adhoc"]
    run = prefect_server.api(
        "POST",
        f"/deployments/{adhoc['id']}/create_flow_run",
        json={
            "parameters": {
                "flatkv_dir": str(node.flatkv_dir),
                "memiavl_dir": str(node.memiavl_dir),
                "height": HEIGHT,
                "seidb_path": str(sim_binary),
                "sink_url": sealed.as_uri(),
                "node": "e2e-node",
            }
        },
    )
    finished = _wait_state(prefect_server, run["id"], TERMINAL)
    assert finished["state"]["type"] == "COMPLETED", finished["state"]
    records = [p.name for p in (sealed / "e2e-node").iterdir() if p.is_file() and ".intent-" not in p.name]
    assert sorted(records) == sorted(
        f"endpoint-digest-{HEIGHT}-{n}.json.gz{s}" for n in ("semantic", "translator") for s in ("", ".seal.json")
    )
    artifacts = prefect_server.api(
        "POST", "/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [run["id"]]}}}
    )
    table = next(a for a in artifacts if a["type"] == "table")
    assert table["key"] == "evm-digest-buckets-e2e-node"
    final_digest = node.expected("flatkv")["final"]["digest"]
    assert final_digest in str(table["data"])

    profile = work / "chromium-profile"
    dom = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=20000", "--dump-dom",
         f"{prefect_server.ui_url}/artifacts/artifact/{table['id']}"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert "<table" in dom.stdout, dom.stderr[-2000:]
    for cell in ("account", "storage", "final", final_digest):
        assert cell in dom.stdout, f"{cell!r} not rendered on the artifact page"


def test_cancelling_a_run_kills_its_seidb_processes(
    deployed: dict[str, Any], prefect_server: PrefectServer, make_node: MakeNode, sim_binary: Path
) -> None:
    work: Path = deployed["work"]
    node: SimNode = make_node(work / "cancel", height=HEIGHT, rows=500)
    node.set_faults("memiavl", hang=True)
    adhoc = deployed["deployments"]["adhoc"]
    run = prefect_server.api(
        "POST",
        f"/deployments/{adhoc['id']}/create_flow_run",
        json={"parameters": {"flatkv_dir": str(node.flatkv_dir), "memiavl_dir": str(node.memiavl_dir),
                             "height": HEIGHT, "seidb_path": str(sim_binary), "sink_url": (work / "c").as_uri()}},
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while not pids_tagged(RUN_TAG_ENV, run["id"]):
        assert time.monotonic() < deadline, "the hanging scan never started"
        time.sleep(0.5)
    # What the UI's Cancel button does: ask the API to move the run to CANCELLING.
    prefect_server.api(
        "POST", f"/flow_runs/{run['id']}/set_state", json={"state": {"type": "CANCELLING"}, "force": True}
    )
    finished = _wait_state(prefect_server, run["id"], {"CANCELLED", "FAILED", "CRASHED", "COMPLETED"}, timeout=120)
    assert finished["state"]["type"] == "CANCELLED", finished["state"]
    deadline = time.monotonic() + 15
    while pids_tagged(RUN_TAG_ENV, run["id"]) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert pids_tagged(RUN_TAG_ENV, run["id"]) == []
    assert not (work / "c").exists() or not any((work / "c").iterdir())
