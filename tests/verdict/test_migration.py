"""Fail closed on migration state: a node's declared kind must fit its markers (real reports where they exist)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from evmdigest.exits import print_failure
from evmdigest.models import CompositeCounts, DigestReport, MigrationBoundary, MigrationStatus, NodeKind
from evmdigest.seidb import parse_report
from evmdigest.verdict.migration import MigrationStateError, check_migration_state, needs_memiavl_check
from tests.golden import golden_json_line

REAL = Path(__file__).resolve().parents[1] / "data" / "seidb-reports" / "real-73f917b"
COMPOSITE = NodeKind.COMPOSITE


def _real(stem: str) -> DigestReport:
    return parse_report((REAL / f"{stem}.stdout").read_bytes())


def _complete(report: DigestReport) -> DigestReport:
    boundary = MigrationBoundary(status=MigrationStatus.COMPLETE, version_known=True, migration_version=7)
    return report.model_copy(update={"migration_boundary": boundary})


def test_a_mid_migration_node_passes() -> None:
    report = _real("mid-migration-clean.composite")
    assert report.composite_counts == CompositeCounts(flatkv_rows=196, memiavl_leaves=111, consumed_unmigrated=111)
    assert not needs_memiavl_check(COMPOSITE, report)
    check_migration_state(COMPOSITE, [report])


def test_not_started_while_flatkv_holds_rows_names_the_markers_and_the_count() -> None:
    """`clean.composite`: a pair node read as composite, FlatKV and memIAVL each counted (564 rows)."""
    report = _real("clean.composite")
    with pytest.raises(MigrationStateError) as err:
        check_migration_state(COMPOSITE, [report])
    message = str(err.value)
    assert "status=not_started" in message and "FlatKV holds 300 rows" in message
    assert "migration/migration-boundary" in message and "migration/migration-version" in message
    assert "declare it by what it holds: pair" in err.value.hint


def test_not_started_with_an_empty_flatkv_is_a_memiavl_only_view() -> None:
    report = _real("clean.composite").model_copy(update={"composite_counts": CompositeCounts(flatkv_rows=0)})
    check_migration_state(COMPOSITE, [report])


def test_not_started_without_the_row_count_fails_closed() -> None:
    report = _real("clean.composite").model_copy(update={"composite_counts": None})
    with pytest.raises(MigrationStateError, match="rows of unknown number"):
        check_migration_state(COMPOSITE, [report])


def test_complete_needs_an_empty_memiavl() -> None:
    report = _complete(_real("mid-migration-clean.composite"))
    assert needs_memiavl_check(COMPOSITE, report) and not needs_memiavl_check(NodeKind.PAIR, report)
    empty = _real("mid-migration-clean.memiavl-semantic").model_copy(
        update={"final": _real("mid-migration-clean.memiavl-semantic").final.model_copy(update={"count": 0})}
    )
    check_migration_state(COMPOSITE, [report], empty)
    leftover = _real("mid-migration-clean.memiavl-semantic")
    with pytest.raises(MigrationStateError) as err:
        check_migration_state(COMPOSITE, [report], leftover)
    assert "migration/migration-version marker says the migration is complete (migration_version=7)" in str(err.value)
    assert "memIAVL still holds 300 EVM rows at height 213200000" in str(err.value)
    with pytest.raises(MigrationStateError, match="memIAVL was not checked"):
        check_migration_state(COMPOSITE, [report])


@pytest.mark.parametrize("kind", [NodeKind.PAIR, NodeKind.FLATKV])
def test_flatkv_holding_a_boundary_marker_is_refused_for_pair_and_flatkv_nodes(kind: NodeKind) -> None:
    flatkv = _real("clean.flatkv")
    check_migration_state(kind, [flatkv])
    migrating = flatkv.model_copy(update={"marker_adjustments": ("migration/migration-boundary",)})
    with pytest.raises(MigrationStateError) as err:
        check_migration_state(kind, [migrating])
    assert f"node declared {kind.value}, but its FlatKV holds the migration/migration-boundary marker" in str(err.value)
    assert "declare the node composite (--kind composite" in err.value.hint
    # a completed migration's version marker is no reason to refuse: FlatKV then holds the whole state
    check_migration_state(kind, [flatkv.model_copy(update={"marker_adjustments": ("migration/migration-version",)})])


def test_the_error_is_one_line_with_a_hint_and_survives_pickling(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(MigrationStateError) as err:
        check_migration_state(COMPOSITE, [_real("clean.composite")])
    copy = pickle.loads(pickle.dumps(err.value))
    assert (copy.what, copy.hint) == (err.value.what, err.value.hint)
    assert print_failure(copy) == 2
    lines = capsys.readouterr().err.splitlines()
    assert (
        len(lines) == 2 and lines[0].startswith("evm-digest: node declared composite") and lines[1].startswith("hint:")
    )


def test_golden_json_composite_in_progress_passes_without_narration() -> None:
    report = parse_report(golden_json_line("digest/composite-snapshot-h2"))
    assert report.composite_counts is None  # a --json build narrates on stderr, not in this line
    check_migration_state(COMPOSITE, [report])
