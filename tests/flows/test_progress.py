"""Progress a person can watch, end to end: the gate flow on a real Prefect API (prefect_test_harness),
seidb-sim scans paced by the `slow` fault and printing progress lines every 100 rows, a folder sink.

A progress artifact is updated in place, so its history is read from the `prefect.artifact.updated`
events the Prefect client emits on every update (the API's event feed, as the UI sees it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, LogFilter, LogFilterFlowRunId

from blocks import DigestSink
from evmdigest.emit import open_sink
from evmdigest.models import Backend, Normalization
from evmdigest.segments import record_key
from evmdigest.seidb import DigestRequest, SeidbRunner
from evmdigest.verdict.publish import publish
from evmdigest.verdict.records import compare
from flows.evm_logical_digest import evm_logical_digest
from tests.plugins.prefect_api import read_events
from tests.plugins.sim import MakeNode, SimNode

pytestmark = pytest.mark.usefixtures("prefect_api")
HEIGHT = 213200000
PREVIOUS = HEIGHT - 100
NODE = "node-p"
BOTH = (Normalization.SEMANTIC, Normalization.TRANSLATOR)


@pytest.fixture
def node(tmp_path: Path, make_node: MakeNode) -> SimNode:
    return make_node(tmp_path, height=HEIGHT, rows=3000, extra_snapshots=[PREVIOUS], progress_every=100)


def _run(node: SimNode, sim_binary: Path, sink_dir: Path, **overrides: Any) -> Any:
    params: dict[str, Any] = {
        "flatkv_dir": str(node.flatkv_dir),
        "memiavl_dir": str(node.memiavl_dir),
        "height": HEIGHT,
        "seidb_path": str(sim_binary),
        "sink": DigestSink(url=sink_dir.as_uri()),
        "node": NODE,
        "scan_timeout": 120,
        **overrides,
    }
    return evm_logical_digest(**params, return_state=True)


def _seal_previous_segment(node: SimNode, sim_binary: Path, sink_dir: Path) -> None:
    """The records of the segment before: real scans at PREVIOUS, published through the core."""
    runner = SeidbRunner(sim_binary, timeout=60)
    flatkv = runner.run_digest(DigestRequest(Backend.FLATKV, node.flatkv_dir, PREVIOUS)).report
    sink = open_sink(sink_dir.as_uri())
    for normalization in BOTH:
        request = DigestRequest(Backend.MEMIAVL, node.memiavl_dir, PREVIOUS, normalization)
        memiavl = runner.run_digest(request).report
        record = compare(PREVIOUS, normalization, flatkv, memiavl, node=NODE)
        publish(sink, record_key(PREVIOUS, normalization, NODE), record)


def _artifacts(flow_run_id: UUID) -> dict[str, Any]:
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    keyed = [artifact.key for artifact in artifacts if artifact.key]
    assert len(keyed) == len(set(keyed)), f"a key got more than one version in one run: {sorted(keyed)}"
    return {artifact.key or str(artifact.id): artifact for artifact in artifacts}


def _history(api: str, artifact: Any, *, until: Any) -> list[dict[str, Any]]:
    """Every update of `artifact` (payload: data, description), oldest first, once `until(history)` holds."""
    deadline = time.monotonic() + 60
    while True:
        events = read_events(api, "prefect.artifact.updated", resource_id=f"prefect.artifact.{artifact.id}")
        history = [event["payload"] for event in events]
        if until(history) or time.monotonic() > deadline:
            return history


def _ends_at(value: float) -> Any:
    return lambda history: bool(history) and history[-1].get("data") == value


def _logs(flow_run_id: UUID) -> list[Any]:
    """The run's logs, once the flow's last line has arrived (logs reach the API in batches)."""
    deadline = time.monotonic() + 60
    while True:
        with get_client(sync_client=True) as client:
            logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
        done = any(log.task_run_id is None and log.message.startswith("Finished in state") for log in logs)
        if done or time.monotonic() > deadline:
            return logs
        time.sleep(0.5)


def test_progress_rises_to_100_against_the_previous_sealed_segment(
    node: SimNode, sim_binary: Path, tmp_path: Path, prefect_api: str
) -> None:
    sink_dir = tmp_path / "sealed"
    _seal_previous_segment(node, sim_binary, sink_dir)
    node.set_faults("both", slow=8.0)
    state = _run(node, sim_binary, sink_dir)
    assert state.is_completed(), state.message
    flow_run_id = state.state_details.flow_run_id
    artifacts = _artifacts(flow_run_id)
    for scan in ("flatkv", "memiavl-semantic", "memiavl-translator"):
        artifact = artifacts[f"evm-digest-progress-{NODE}-{scan}"]
        assert artifact.type == "progress" and artifact.data == 100
        assert artifact.description.startswith("**done**"), artifact.description
        values = [update["data"] for update in _history(prefect_api, artifact, until=_ends_at(100))]
        running = [value for value in values if 0 < value < 100]
        assert values[-1] == 100 and values == sorted(values), values
        assert len(set(running)) >= 2, f"{scan}: no climb to watch: {values}"
    flatkv = _history(prefect_api, artifacts[f"evm-digest-progress-{NODE}-flatkv"], until=_ends_at(100))
    scanning = [u["description"] for u in flatkv if u["description"].startswith("**scanning**")]
    assert any(f"from the sealed record at height {PREVIOUS}" in text and "left" in text for text in scanning)

    messages = [log.message for log in _logs(flow_run_id)]
    eta = [m for m in messages if m.startswith("flatkv: scanning") and "rows/s" in m and "left" in m]
    assert eta, "no progress line with rows/s and time left in the run log"
    assert len(eta) <= 8 / 3 + 2, eta  # at most one every few seconds over an 8 s scan

    table = artifacts[f"evm-digest-buckets-{NODE}"]
    rows = json.loads(table.data)
    assert [row["bucket"] for row in rows] == ["account", "code", "storage", "misc", "final"]
    in_flight = read_events(prefect_api, "prefect.artifact.updated", resource_id=f"prefect.artifact.{table.id}")
    states = {row["state"] for event in in_flight[:-1] for row in json.loads(event["payload"]["data"])}
    assert "done" in states and any(state.startswith("scanning ") and state.endswith("%") for state in states)


def test_without_a_previous_record_a_scan_shows_phases_only(
    node: SimNode, sim_binary: Path, tmp_path: Path, prefect_api: str
) -> None:
    # memIAVL ends first: it has nothing to compare with; FlatKV then takes memIAVL's final count.
    node.set_faults("memiavl", slow=2.0)
    node.set_faults("flatkv", slow=10.0)
    state = _run(node, sim_binary, tmp_path / "sealed", normalizations=(Normalization.SEMANTIC,))
    assert state.is_completed(), state.message
    artifacts = _artifacts(state.state_details.flow_run_id)
    memiavl = _history(prefect_api, artifacts[f"evm-digest-progress-{NODE}-memiavl-semantic"], until=_ends_at(100))
    assert {update["data"] for update in memiavl} <= {0, 100}, memiavl
    phases = [update["description"].split("**")[1] for update in memiavl]
    assert phases[-1] == "done" and "scanning" in phases, phases
    assert all("%" not in update["description"] for update in memiavl)

    flatkv = _history(prefect_api, artifacts[f"evm-digest-progress-{NODE}-flatkv"], until=_ends_at(100))
    climbing = [u for u in flatkv if 0 < u["data"] < 100]
    assert climbing, flatkv
    assert all("memiavl/semantic scan's final count" in u["description"] for u in climbing)


def test_a_failed_scan_ends_its_progress_as_failed_with_its_raw_output(
    node: SimNode, sim_binary: Path, tmp_path: Path, prefect_api: str
) -> None:
    node.set_faults("flatkv", exit_error="open flatkv: pebble: corrupt manifest")
    state = _run(node, sim_binary, tmp_path / "sealed")
    assert state.is_failed()
    flow_run_id = state.state_details.flow_run_id
    artifacts = _artifacts(flow_run_id)
    progress = artifacts[f"evm-digest-progress-{NODE}-flatkv"]
    assert progress.description.startswith("**failed**"), progress.description
    assert "seidb failed (exit 1)" in progress.description
    output = artifacts[f"evm-digest-output-{NODE}-flatkv"]
    assert "[stderr] Error: open flatkv: pebble: corrupt manifest" in output.data
    assert "[stderr] Usage:" in output.data and "EVM logical digest start" in output.data
    table = json.loads(artifacts[f"evm-digest-buckets-{NODE}"].data)
    assert {row["scan"]: row["state"] for row in table}["flatkv"] == "failed"

    logs = [(log.level, log.message) for log in _logs(flow_run_id)]
    assert (40, "Error: open flatkv: pebble: corrupt manifest") in logs
    assert not any(message.startswith(("Usage:", "Flags:")) for _, message in logs)


def test_logs_keep_seidb_levels_and_show_the_header_once(
    node: SimNode, sim_binary_for: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a text build (the header is printed twice: banner and report) with seilog on stdout (its default)
    monkeypatch.setenv("SEI_LOG_OUTPUT", "stdout")
    binary = sim_binary_for("misc")
    state = _run(node, binary, tmp_path / "sealed", normalizations=(Normalization.SEMANTIC,))
    assert state.is_completed(), state.message
    logs = [(log.level, log.message) for log in _logs(state.state_details.flow_run_id)]
    info = [message for level, message in logs if level == 20]
    assert info.count("backend: flatkv") == 1 and info.count("backend: memiavl") == 1
    assert info.count("EVM logical digest report") == 2
    assert any(m.startswith("FlatKV LoadVersionReadOnly complete (") and "targetVersion=" in m for m in info)
    assert not any("Found 1 WALs" in message or "time=" in message for _, message in logs)
    assert not any(message.lstrip().startswith("progress backend=") for message in info)
