"""End to end, as an operator would: the README's deployment steps (`prefect server start`, blocks, a
process pool, `prefect deploy --all` from prefect.yaml, a worker, the scheduled-style segment-seal run),
then the `adhoc` deployment triggered through the REST API the UI uses, the deployment concurrency
limit queueing two segment-seal runs, a UI run with a hostile label, a UI-style cancellation, and the
daily ledger deployment."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from evmdigest.emit import open_sink
from evmdigest.emit.keys import PROBE_DIR
from evmdigest.seidb.procs import RUN_TAG_ENV, pids_tagged
from tests.console import CLOSED_API, cli, env_with
from tests.ledger.records import seal
from tests.plugins.deployment import TERMINAL, Deployment, records_under, wait_state
from tests.plugins.server import PrefectServer
from tests.plugins.sim import MakeNode

pytestmark = [pytest.mark.server]
HEIGHT = 213200000
PAIR = sorted(
    f"endpoint-digest-{HEIGHT}-{n}.json.gz{s}" for n in ("semantic", "translator") for s in ("", ".seal.json")
)


def _create_run(server: PrefectServer, deployment: dict[str, Any], **parameters: Any) -> dict[str, Any]:
    run: dict[str, Any] = server.api(
        "POST", f"/deployments/{deployment['id']}/create_flow_run", json={"parameters": parameters}
    )
    return run


def test_the_readme_steps_seal_the_simulated_node(readme_deployment: Deployment, prefect_server: PrefectServer) -> None:
    assert readme_deployment.sealed() == PAIR, readme_deployment.log.read_text()[-3000:]
    segment = readme_deployment.deployments["segment-seal"]
    runs = prefect_server.api("POST", "/flow_runs/filter", json={"deployments": {"id": {"any_": [segment["id"]]}}})
    # The scheduler has also queued the next hourly runs (SCHEDULED); the README's run is the one that ran.
    assert [run["state"]["type"] for run in runs if run["state"]["type"] != "SCHEDULED"] == ["COMPLETED"]
    assert "Flow run finished successfully in 'Completed'" in readme_deployment.log.read_text()


def test_deploy_takes_seidb_sink_and_concurrency_from_prefect_yaml(readme_deployment: Deployment) -> None:
    deployments = readme_deployment.deployments
    assert set(deployments) >= {"segment-seal", "adhoc"}
    segment = deployments["segment-seal"]
    assert [s["schedule"]["interval"] for s in segment["schedules"]] == [3600.0]
    assert "height" not in segment["parameters"]  # no height: segment discovery
    assert segment["parameters"]["seidb_path"].endswith("/.venv/bin/seidb-sim")  # EVMDIGEST_SEIDB
    assert segment["parameters"]["sink_url"] == str(readme_deployment.root / "sealed")  # EVMDIGEST_SINK
    assert segment["global_concurrency_limit"]["limit"] == 1
    assert segment["concurrency_options"]["collision_strategy"] == "ENQUEUE"
    assert deployments["adhoc"]["schedules"] == []
    schema = deployments["adhoc"]["parameter_openapi_schema"]["properties"]
    assert schema["height"]["description"].startswith("Segment boundary height")
    assert {"seidb", "sink", "normalizations", "scan_timeout"} <= set(schema)
    # The UI renders descriptions as HTML-ish text: an angle bracket would swallow words.
    assert [name for name, prop in schema.items() if "<" in prop.get("description", "")] == []


def test_an_adhoc_run_through_the_api_publishes_and_describes_its_artifacts(adhoc_run: dict[str, Any]) -> None:
    assert adhoc_run["run"]["state"]["type"] == "COMPLETED", adhoc_run["run"]["state"]
    assert records_under(adhoc_run["sealed"]) == PAIR
    table = next(a for a in adhoc_run["artifacts"] if a["type"] == "table")
    assert table["key"] == "evm-digest-buckets-e2e-node"
    final_digest = adhoc_run["node"].expected("flatkv")["final"]["digest"]
    rows = json.loads(table["data"]) if isinstance(table["data"], str) else table["data"]
    assert rows[-1]["bucket"] == "final" and rows[-1]["flatkv digest"] == final_digest[:12] + "…"
    for artifact in adhoc_run["artifacts"]:
        assert f"height {HEIGHT} on e2e-node" in (artifact["description"] or ""), artifact


def test_two_segment_seal_runs_are_queued_never_overlapping(
    readme_deployment: Deployment, prefect_server: PrefectServer, make_node: MakeNode
) -> None:
    root = readme_deployment.root / "queue"
    node = make_node(root, height=HEIGHT, rows=300, extra_snapshots=[HEIGHT - 1000])
    node.set_faults("both", slow=3.0)  # each scan lasts seconds: an overlap could not hide
    where = {"flatkv_dir": str(node.flatkv_dir), "memiavl_dir": str(node.memiavl_dir), "sink_url": str(root / "s")}
    segment = readme_deployment.deployments["segment-seal"]
    created = [_create_run(prefect_server, segment, **where) for _ in range(2)]
    finished = [wait_state(prefect_server, run["id"], TERMINAL, timeout=420) for run in created]
    assert [run["state"]["type"] for run in finished] == ["COMPLETED", "COMPLETED"], [r["state"] for r in finished]
    first, second = sorted(finished, key=lambda run: run["start_time"])
    assert first["end_time"] <= second["start_time"], "two segment-seal runs scanned the node at once"
    history = prefect_server.api("GET", "/flow_run_states/", params={"flow_run_id": second["id"]})
    assert "AwaitingConcurrencySlot" in {state["name"] for state in history}  # queued, not dropped
    heights = {p.name.split("-")[2] for p in (root / "s").rglob("endpoint-digest-*.json.gz")}
    assert heights == {str(HEIGHT), str(HEIGHT - 1000)}


def test_a_ui_run_with_a_hostile_label_fails_at_once_with_the_clis_message(
    readme_deployment: Deployment, prefect_server: PrefectServer, make_node: MakeNode, sim_binary: Path
) -> None:
    root = readme_deployment.root / "hostile"
    node = make_node(root, height=HEIGHT, rows=50)
    where = ["--flatkv-dir", str(node.flatkv_dir), "--memiavl-dir", str(node.memiavl_dir)]
    refused = cli(
        "run", *where, "--seidb", str(sim_binary), "--node", "../../etc", env=env_with(PREFECT_API_URL=CLOSED_API)
    )
    assert refused.returncode == 2
    cli_message = refused.stderr.strip().removeprefix("evm-digest run: --node: ")

    run = _create_run(
        prefect_server, readme_deployment.deployments["adhoc"], flatkv_dir=str(node.flatkv_dir),
        memiavl_dir=str(node.memiavl_dir), height=HEIGHT, seidb_path=str(sim_binary),
        sink_url=str(root / "s"), node="../../etc",
    )  # fmt: skip
    finished = wait_state(prefect_server, run["id"], TERMINAL)
    assert finished["state"]["type"] == "FAILED"
    assert f"node: {cli_message}" in finished["state"]["message"]
    assert not (root / "s").exists()
    tasks = prefect_server.api("POST", "/task_runs/filter", json={"flow_runs": {"id": {"any_": [run["id"]]}}})
    assert tasks == []  # refused before any scan task


def test_cancelling_a_run_kills_its_seidb_processes(
    readme_deployment: Deployment, prefect_server: PrefectServer, make_node: MakeNode, sim_binary: Path
) -> None:
    root = readme_deployment.root / "cancel"
    node = make_node(root, height=HEIGHT, rows=500)
    node.set_faults("memiavl", hang=True)
    node.set_faults("flatkv", slow=600.0)  # its temporary clone exists when the cancel comes
    before = sorted(p.name for p in node.flatkv_dir.iterdir())
    run = _create_run(
        prefect_server, readme_deployment.deployments["adhoc"], flatkv_dir=str(node.flatkv_dir),
        memiavl_dir=str(node.memiavl_dir), height=HEIGHT, seidb_path=str(sim_binary), sink_url=str(root / "c"),
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while not (pids_tagged(RUN_TAG_ENV, run["id"]) and list(node.flatkv_dir.glob(".seidb-flatkv-tool-*"))):
        assert time.monotonic() < deadline, "the hanging scan and the slow flatkv scan never started"
        time.sleep(0.5)
    # What the UI's Cancel button does: ask the API to move the run to CANCELLING.
    prefect_server.api(
        "POST", f"/flow_runs/{run['id']}/set_state", json={"state": {"type": "CANCELLING"}, "force": True}
    )
    finished = wait_state(prefect_server, run["id"], TERMINAL, timeout=120)
    assert finished["state"]["type"] == "CANCELLED", finished["state"]
    deadline = time.monotonic() + 15
    while pids_tagged(RUN_TAG_ENV, run["id"]) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert pids_tagged(RUN_TAG_ENV, run["id"]) == []
    assert sorted(p.name for p in node.flatkv_dir.iterdir()) == before  # the killed scan's clone is gone
    assert not (root / "c").exists() or [p.name for p in (root / "c").iterdir()] in ([], [PROBE_DIR])

    # The cancellation hook leaves the scans that never ended saying so, in their bars and in the table.
    deadline = time.monotonic() + 60
    while True:
        artifacts = prefect_server.api(
            "POST", "/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [run["id"]]}}}
        )
        bars = {a["key"]: a["description"] for a in artifacts if a["type"] == "progress"}
        hung = [text for key, text in bars.items() if key.endswith(("-memiavl-semantic", "-memiavl-translator"))]
        if (len(hung) == 2 and all(t.startswith("**cancelled**") for t in hung)) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert len(hung) == 2 and all(text.startswith("**cancelled** · memiavl/") for text in hung), bars
    table = next(a for a in artifacts if a["type"] == "table")
    states = {row["scan"]: row["state"] for row in json.loads(table["data"])}
    assert states["memiavl/semantic"] == states["memiavl/translator"] == "cancelled", states


def test_daily_ledger_deployment_runs_on_the_worker(
    readme_deployment: Deployment, prefect_server: PrefectServer
) -> None:
    ledger = readme_deployment.deployments["digest-ledger"]
    assert [s["schedule"]["interval"] for s in ledger["schedules"]] == [86400.0]
    assert ledger["work_pool_name"] == "evm-digest"
    sink_dir = readme_deployment.root / "ledger-sealed"
    seal(open_sink(sink_dir.as_uri()), "node-a", [100, 200])
    seal(open_sink(sink_dir.as_uri()), "node-b", [100, 200], state="b")
    run = _create_run(prefect_server, ledger, sink_url=sink_dir.as_uri())
    finished = wait_state(prefect_server, run["id"], TERMINAL)
    assert finished["state"]["type"] == "FAILED", finished["state"]  # node-b disagrees with node-a
    assert finished["state"]["message"].startswith("LEDGER: 4 disagreements")
    artifacts = prefect_server.api(
        "POST", "/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [run["id"]]}}}
    )
    assert {a["key"] for a in artifacts} >= {"evm-digest-ledger", "evm-digest-ledger-summary"}
