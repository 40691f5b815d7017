"""The fleet-seal flow in local mode on a real Prefect API (prefect_test_harness): node gates as subflows,
seidb-sim as real subprocesses, a folder sink. Pool mode runs on real workers in tests/test_e2e_fleet.py."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from blocks import DigestFleet, DigestSink
from evmdigest.emit import open_sink
from evmdigest.fleet.nodes import FleetNode, parse_node_spec
from evmdigest.fleet.publish import FleetOutcome
from evmdigest.fleet.verdict import FleetVerdict, NodeState
from evmdigest.models import Normalization
from evmdigest.segments import fleet_key, record_key
from evmdigest.seidb.procs import RUN_TAG_ENV, pids_tagged
from flows.fleet import fleet_seal
from tests.plugins.prefect_api import read_events
from tests.plugins.sim import MakeNode, SimNode

pytestmark = pytest.mark.usefixtures("prefect_api")
HEIGHT = 1000


def _spec(name: str, node: SimNode) -> FleetNode:
    return parse_node_spec(f"{name}={node.flatkv_dir},{node.memiavl_dir}")


def _fleet_event(api: str, uri: str) -> dict[str, Any]:
    """The fleet event about the verdict at `uri` (events reach the server asynchronously)."""
    deadline = time.monotonic() + 60
    while True:
        found = [e for e in read_events(api, "evm.digest.fleet.", resource_id="evm-digest.fleet")
                 if e["payload"].get("uri") == uri]  # fmt: skip
        if found or time.monotonic() > deadline:
            assert found, f"no evm.digest.fleet.* event for {uri}"
            return found[-1]
        time.sleep(0.5)


def _outcome(state: Any) -> FleetOutcome:
    data = state.result(raise_on_failure=False)
    assert isinstance(data, FleetOutcome), data
    return data


def test_block_fleet_without_height_seals_the_newest_common_snapshot_and_agrees(
    tmp_path: Path, make_node: MakeNode, sim_binary: Path, prefect_api: str
) -> None:
    a = make_node(tmp_path, height=HEIGHT, rows=300, extra_snapshots=[900, 1100])
    b = make_node(tmp_path, height=HEIGHT, rows=300, extra_snapshots=[900])
    sink = tmp_path / "sealed"
    fleet = DigestFleet(nodes=[_spec("a", a), _spec("b", b)], sink=DigestSink(url=sink.as_uri()))
    fleet.save("two-nodes", overwrite=True)
    state: Any = fleet_seal(fleet=DigestFleet.load("two-nodes"), seidb_path=str(sim_binary), return_state=True)
    assert state.is_completed(), state.message
    verdict = _outcome(state).verdict
    assert verdict.height == HEIGHT and verdict.clean and verdict.odd_nodes == []
    stored = FleetVerdict.model_validate(open_sink(sink.as_uri()).read_json(fleet_key(HEIGHT)))
    assert stored.verdict() == verdict.verdict()
    assert (sink / record_key(HEIGHT, Normalization.SEMANTIC, "b")).is_file()
    event = _fleet_event(prefect_api, _outcome(state).uri)
    assert event["event"] == "evm.digest.fleet.agree" and event["payload"]["height"] == HEIGHT
    nodes = {r["prefect.resource.id"] for r in event["related"] if r["prefect.resource.role"] == "node"}
    assert nodes == {"evm-digest.node.a", "evm-digest.node.b"}
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]))
        )
    assert {a.key for a in artifacts} >= {"evm-digest-fleet", "evm-digest-fleet-verdict"}


def test_a_hung_node_times_out_its_scans_are_stopped_its_clone_removed_and_the_others_are_still_sealed(
    tmp_path: Path, make_node: MakeNode, sim_binary: Path, prefect_api: str
) -> None:
    nodes = {name: make_node(tmp_path, height=HEIGHT, rows=300) for name in "abc"}
    nodes["c"].set_faults("memiavl", hang=True)
    nodes["c"].set_faults("flatkv", slow=600.0)  # its temporary clone exists when the node times out
    before = sorted(p.name for p in nodes["c"].flatkv_dir.iterdir())
    sink = tmp_path / "sealed"
    started = time.monotonic()
    state: Any = fleet_seal(
        height=HEIGHT, nodes=[_spec(n, node) for n, node in nodes.items()], seidb_path=str(sim_binary),
        sink_url=sink.as_uri(), node_timeout=25, return_state=True,
    )  # fmt: skip
    assert time.monotonic() - started < 150
    assert state.is_failed() and state.message == f"fleet at {HEIGHT}: incomplete (c timed_out)"
    verdict = _outcome(state).verdict
    c = verdict.nodes["c"]
    assert c.state is NodeState.TIMED_OUT and c.message is not None and "scans were stopped" in c.message
    assert c.flow_run_id is not None and pids_tagged(RUN_TAG_ENV, c.flow_run_id) == []
    assert sorted(p.name for p in nodes["c"].flatkv_dir.iterdir()) == before  # the stopped scan's clone is gone
    assert not verdict.complete and verdict.agree and verdict.odd_nodes == []
    assert all(verdict.nodes[n].state is NodeState.SEALED for n in "ab")
    assert not (sink / fleet_key(HEIGHT)).exists()  # an incomplete verdict never takes the height's key
    assert _outcome(state).uri.startswith((sink / f"fleet-digest-{HEIGHT}.incomplete-").as_uri())
    event = _fleet_event(prefect_api, _outcome(state).uri)
    assert event["payload"]["unfinished"] == ["c"] and event["payload"]["complete"] is False
