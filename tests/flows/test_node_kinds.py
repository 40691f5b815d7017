"""The gate flow on composite, memiavl and flatkv nodes (README "Node kinds"): seidb-sim as real subprocesses,
a real Prefect API (prefect_test_harness) and a folder sink. Each run seals node digests that carry the kind
and, for a composite node, the migration boundary; sealed digests of different kinds agree across nodes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from evmdigest.emit import open_sink
from evmdigest.models import MigrationStatus, NodeKind
from evmdigest.segments import node_digest_key
from evmdigest.verdict.cross_node import compare_nodes, logical_digests
from evmdigest.verdict.node_records import NodeDigestRecord
from evmdigest.verdict.outcome import GateOutcome
from evmdigest.verdict.verdict_set import read_checked
from flows.evm_logical_digest import evm_logical_digest
from tests.plugins.sim import MakeNode

pytestmark = pytest.mark.usefixtures("prefect_api")
EVM_DIGEST = str(Path(sys.executable).parent / "evm-digest")
H = 213200000
ROWS = 300
MID = 195  # the boundary inside the storage keys, as in the real mid-migration fixture


def _run(sim_binary: Path, sink: Path, node: str, kind: NodeKind, **dirs: Path) -> Any:
    params: dict[str, Any] = {f: str(d) for f, d in dirs.items()}
    return evm_logical_digest(
        **params, kind=kind, height=H, seidb_path=str(sim_binary), sink_url=str(sink), node=node, scan_timeout=60,
        return_state=True,
    )  # fmt: skip


def _sealed(sink: Path, node: str, endpoint: str) -> NodeDigestRecord:
    record, sealed = read_checked(open_sink(str(sink)), node_digest_key(H, endpoint, node), NodeDigestRecord)
    assert sealed
    return record


def _outcome(state: Any) -> GateOutcome:
    data = state.result(raise_on_failure=False)
    assert isinstance(data, GateOutcome), data
    return data


def test_composite_memiavl_and_flatkv_nodes_seal_digests_that_agree(
    make_node: MakeNode, tmp_path: Path, sim_binary: Path
) -> None:
    mid = make_node(tmp_path, height=H, rows=ROWS, migrate_keys=MID)
    migrated = make_node(tmp_path, height=H, rows=ROWS, migrate_keys="all")
    sink = tmp_path / "sealed"

    state = _run(sim_binary, sink, "mid", NodeKind.COMPOSITE, flatkv_dir=mid.flatkv_dir, memiavl_dir=mid.memiavl_dir)
    assert state.is_completed(), state.message
    assert state.message == f"composite node sealed at {H}: composite"
    composite = _sealed(sink, "mid", "composite")
    assert (composite.kind, composite.endpoint, composite.node) == (NodeKind.COMPOSITE, "composite", "mid")
    assert composite.boundary is not None and composite.boundary.status is MigrationStatus.IN_PROGRESS
    assert composite.boundary.boundary_text() == mid.summary["boundary"]
    assert composite.digest == mid.expected("reference")["final"]["digest"] and composite.count == ROWS
    assert _outcome(state).node_digests[0].record == composite

    state = _run(sim_binary, sink, "unmigrated", NodeKind.MEMIAVL, memiavl_dir=mid.reference_memiavl_dir)
    assert state.is_completed(), state.message
    unmigrated = [_sealed(sink, "unmigrated", f"memiavl/{n}") for n in ("semantic", "translator")]
    assert {(r.kind, r.boundary) for r in unmigrated} == {(NodeKind.MEMIAVL, None)}

    state = _run(sim_binary, sink, "migrated", NodeKind.FLATKV, flatkv_dir=migrated.flatkv_dir)
    assert state.is_completed(), state.message
    flatkv = _sealed(sink, "migrated", "flatkv")
    assert flatkv.kind is NodeKind.FLATKV and flatkv.marker_adjustments == ["migration/migration-version"]

    for other in (logical_digests(unmigrated), logical_digests([flatkv])):
        for comparison in compare_nodes(logical_digests([composite]), other):
            assert comparison.match, comparison.summary()


def test_a_completed_migration_passes_once_memiavl_is_found_empty(
    make_node: MakeNode, tmp_path: Path, sim_binary: Path
) -> None:
    done = make_node(tmp_path, height=H, rows=ROWS, migrate_keys="all")
    sink = tmp_path / "sealed"
    state = _run(sim_binary, sink, "done", NodeKind.COMPOSITE, flatkv_dir=done.flatkv_dir, memiavl_dir=done.memiavl_dir)
    assert state.is_completed(), state.message
    record = _sealed(sink, "done", "composite")
    assert record.boundary is not None and record.boundary.status is MigrationStatus.COMPLETE
    assert record.digest == done.expected("reference")["final"]["digest"]


def test_a_node_that_changes_kind_at_a_sealed_height_publishes_nothing(
    make_node: MakeNode, tmp_path: Path, sim_binary: Path
) -> None:
    mid = make_node(tmp_path, height=H, rows=ROWS, migrate_keys=MID)
    sink = tmp_path / "sealed"
    state = _run(sim_binary, sink, "mid", NodeKind.COMPOSITE, flatkv_dir=mid.flatkv_dir, memiavl_dir=mid.memiavl_dir)
    assert state.is_completed(), state.message
    before = sorted(p.name for p in (sink / "mid").iterdir())
    state = _run(sim_binary, sink, "mid", NodeKind.MEMIAVL, memiavl_dir=mid.memiavl_dir)
    assert state.is_failed()
    assert "seals a composite node, this run declares memiavl; nothing was published" in str(state.message)
    assert sorted(p.name for p in (sink / "mid").iterdir()) == before


def _published(sink: Path) -> list[Path]:
    """Records and node digests under the sink (the sink's own `.evm-digest` bookkeeping aside)."""
    return [*sink.rglob("endpoint-digest-*"), *sink.rglob("node-digest-*")]


def _cli_run(prefect_api: str, sim_binary: Path, sink: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EVM_DIGEST, "run", "--height", str(H), "--seidb", str(sim_binary), "--sink", sink.as_uri(), *args],
        capture_output=True, text=True, timeout=600, check=False, env={**os.environ, "PREFECT_API_URL": prefect_api},
    )  # fmt: skip


def test_a_missing_boundary_marker_is_exit_2_naming_the_markers(
    prefect_api: str, make_node: MakeNode, tmp_path: Path, sim_binary: Path
) -> None:
    """The marker-less node digests like a healthy one; only the boundary status gives it away."""
    lost = make_node(tmp_path, height=H, rows=ROWS, migrate_keys=MID, boundary_marker=False)
    sink = tmp_path / "sealed"
    dirs = ["--flatkv-dir", str(lost.flatkv_dir), "--memiavl-dir", str(lost.memiavl_dir)]
    done = _cli_run(prefect_api, sim_binary, sink, "--kind", "composite", *dirs)
    out = done.stdout + done.stderr
    assert done.returncode == 2, out[-3000:]
    assert "Traceback" not in done.stderr
    failure = [line for line in done.stderr.splitlines() if line.startswith("evm-digest: ")]
    assert len(failure) == 1, out[-3000:]
    rows = lost.summary["flatkv_rows"]["total"]
    assert "status=not_started" in failure[0] and f"FlatKV holds {rows} rows" in failure[0]
    assert "migration/migration-boundary" in failure[0] and "migration/migration-version" in failure[0]
    assert "restore its migration/migration-boundary marker" in done.stderr
    assert _published(sink) == []


def test_a_migrating_node_declared_flatkv_is_exit_2_naming_the_marker(
    prefect_api: str, make_node: MakeNode, tmp_path: Path, sim_binary: Path
) -> None:
    mid = make_node(tmp_path, height=H, rows=ROWS, migrate_keys=MID)
    sink = tmp_path / "sealed"
    done = _cli_run(prefect_api, sim_binary, sink, "--kind", "flatkv", "--flatkv-dir", str(mid.flatkv_dir))
    out = done.stdout + done.stderr
    assert done.returncode == 2, out[-3000:]
    assert "evm-digest: node declared flatkv, but its FlatKV holds the migration/migration-boundary marker" in out
    assert "hint: declare the node composite (--kind composite" in done.stderr
    assert _published(sink) == []
