"""The fleet-seal flow (local mode, real Prefect API) over nodes of every kind: seidb-sim subprocesses for a
mid-migration (composite) node, an unmigrated (memiavl) node, a migrated (flatkv) node and a pair node, all
holding one logical state; a folder sink. The console script's runs are in tests/test_cli_fleet.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evmdigest.fleet.nodes import FleetNode, parse_node_spec
from evmdigest.fleet.publish import FleetOutcome
from evmdigest.fleet.verdict import NodeState
from evmdigest.models import MigrationStatus, NodeKind
from evmdigest.segments import node_digest_key
from flows.fleet import fleet_seal
from tests.plugins.sim import MakeNode

pytestmark = pytest.mark.usefixtures("prefect_api")
HEIGHT = 1000
ROWS = 300
MID = 195  # the boundary inside the storage keys, as in the real mid-migration fixture


def _outcome(state: Any) -> FleetOutcome:
    data = state.result(raise_on_failure=False)
    assert isinstance(data, FleetOutcome), data
    return data


def _seal(nodes: list[FleetNode], sim_binary: Path, sink: Path) -> Any:
    return fleet_seal(
        height=HEIGHT, nodes=nodes, seidb_path=str(sim_binary), sink_url=sink.as_uri(), node_timeout=300,
        return_state=True,
    )  # fmt: skip


def test_changed_and_doubled_composite_nodes_are_odd_against_every_other_kind(
    tmp_path: Path, make_node: MakeNode, sim_binary: Path
) -> None:
    """Five nodes, one logical state: a composite node with a migrated slot changed in FlatKV differs in
    storage, one with a row on both sides by count (its gate seals it: the boundary is in progress, so the
    markers are consistent and only the count gives it away); the other three clear each other."""
    changed = make_node(tmp_path, height=HEIGHT, rows=ROWS, migrate_keys=MID, diverge="storage")
    doubled = make_node(tmp_path, height=HEIGHT, rows=ROWS, migrate_keys=MID, duplicate_unmigrated=1)
    migrated = make_node(tmp_path, height=HEIGHT, rows=ROWS, migrate_keys="all")
    pair = make_node(tmp_path, height=HEIGHT, rows=ROWS)
    sink = tmp_path / "sealed"
    nodes = [
        parse_node_spec(f"changed=composite:{changed.flatkv_dir},{changed.memiavl_dir}"),
        parse_node_spec(f"doubled=composite:{doubled.flatkv_dir},{doubled.memiavl_dir}"),
        parse_node_spec(f"old=memiavl:{changed.reference_memiavl_dir}"),
        parse_node_spec(f"new=flatkv:{migrated.flatkv_dir}"),
        parse_node_spec(f"pair={pair.flatkv_dir},{pair.memiavl_dir}"),
    ]
    state = _seal(nodes, sim_binary, sink)
    assert state.is_failed() and state.message == f"fleet at {HEIGHT}: odd nodes: changed, doubled"
    verdict = _outcome(state).verdict
    assert verdict.complete and not verdict.agree and verdict.all_match
    assert all(entry.state is NodeState.SEALED for entry in verdict.nodes.values())
    assert verdict.odd_reasons == {
        "changed": ["composite differs from the majority (storage)"],
        "doubled": ["composite differs from the majority (storage count 229 vs 228)"],
    }
    logical = verdict.logical_majority
    assert logical is not None and logical.digest == pair.expected("flatkv")["final"]["digest"]
    assert logical.count == ROWS
    assert verdict.majority["composite"] is None  # detail: the two composite nodes differ from each other
    boundary = verdict.nodes["changed"].boundary
    assert boundary is not None and boundary.status is MigrationStatus.IN_PROGRESS
    assert boundary.boundary_text() == changed.summary["boundary"]
    assert {name: entry.kind for name, entry in verdict.nodes.items()} == {
        "changed": NodeKind.COMPOSITE, "doubled": NodeKind.COMPOSITE, "old": NodeKind.MEMIAVL,
        "new": NodeKind.FLATKV, "pair": NodeKind.PAIR,
    }  # fmt: skip
    assert (
        verdict.nodes["old"].records["memiavl/translator"].uri
        == (sink / node_digest_key(HEIGHT, "memiavl/translator", "old")).as_uri()
    )


def test_a_composite_node_whose_gate_fails_closed_leaves_the_fleet_incomplete(
    tmp_path: Path, make_node: MakeNode, sim_binary: Path
) -> None:
    """A migrating node that lost its boundary marker digests like a healthy one; its gate refuses it."""
    lost = make_node(tmp_path, height=HEIGHT, rows=ROWS, migrate_keys=MID, boundary_marker=False)
    migrated = make_node(tmp_path, height=HEIGHT, rows=ROWS, migrate_keys="all")
    sink = tmp_path / "sealed"
    nodes = [
        parse_node_spec(f"lost=composite:{lost.flatkv_dir},{lost.memiavl_dir}"),
        parse_node_spec(f"old=memiavl:{lost.reference_memiavl_dir}"),
        parse_node_spec(f"new=flatkv:{migrated.flatkv_dir}"),
    ]
    state = _seal(nodes, sim_binary, sink)
    assert state.is_failed() and state.message == f"fleet at {HEIGHT}: incomplete (lost failed)"
    verdict = _outcome(state).verdict
    entry = verdict.nodes["lost"]
    assert entry.state is NodeState.FAILED and entry.message is not None
    assert "status=not_started" in entry.message and "migration/migration-boundary" in entry.message
    assert not (sink / "lost").exists() or not list((sink / "lost").rglob("node-digest-*"))
    assert verdict.agree and verdict.odd_nodes == []  # the two others still sealed and agree
