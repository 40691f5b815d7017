"""seidb-sim's composite backend on nodes in the middle of their migration (make-fixture --migrate-keys):
its digest equals the unmigrated reference memIAVL's and a fully migrated FlatKV's; the boundary cases
of the real runs (marker missing, migrated slot changed, row on both sides, complete)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evmdigest.models import DigestReport, MigrationStatus
from evmdigest.seidb import parse_report
from tests.golden import golden_reports
from tests.plugins.sim import MakeNode, SimNode
from tests.simtools import digests, run

LOGS_ON_STDERR = {"SEI_LOG_OUTPUT": "stderr"}
H = 5000


def _composite(sim_binary: Path, node: SimNode, **kwargs: Any) -> tuple[DigestReport, str]:
    done = run(node.digest_argv(sim_binary, "composite", **kwargs), env=LOGS_ON_STDERR)
    assert done.returncode == 0, done.stdout + done.stderr
    return parse_report(done.stdout), done.stdout


def _memiavl(sim_binary: Path, memiavl_dir: Path, height: int = H, mode: str = "snapshot") -> DigestReport:
    argv = [str(sim_binary), "evm-logical-digest", "--backend", "memiavl", "-d", str(memiavl_dir)]
    done = run([*argv, "--height", str(height), "--memiavl-open-mode", mode], env=LOGS_ON_STDERR)
    assert done.returncode == 0, done.stdout + done.stderr
    return parse_report(done.stdout)


@pytest.mark.parametrize("keys", [1, 195, 228, 237, 245])  # in storage, at its end, into code hashes, into misc
def test_mid_migration_composite_equals_unmigrated_and_migrated_nodes(
    sim_binary: Path, make_node: MakeNode, tmp_path: Path, keys: int
) -> None:
    node = make_node(tmp_path, height=H, rows=300, migrate_keys=keys)
    migrated = make_node(tmp_path, height=H, rows=300, migrate_keys="all")
    composite, text = _composite(sim_binary, node)
    reference = _memiavl(sim_binary, node.reference_memiavl_dir)
    flatkv = parse_report(run(migrated.digest_argv(sim_binary, "flatkv"), env=LOGS_ON_STDERR).stdout)
    assert digests(composite) == digests(reference) == digests(flatkv)
    assert composite.final.digest == node.expected("reference")["final"]["digest"]
    boundary = composite.migration_boundary
    assert boundary is not None and boundary.status is MigrationStatus.IN_PROGRESS and boundary.module == "evm"
    assert boundary.boundary_text() == node.summary["boundary"] and boundary.memiavl_version == H
    assert composite.marker_adjustments == ("migration/migration-boundary",)
    # FlatKV holds the migrated leaves (an account's leaves merged into one row) plus the boundary row
    assert f"  composite flatkv rows={node.summary['flatkv_rows']['total']}\n" in text
    assert f"  composite memiavl leaves={306 - keys} consumed_unmigrated={306 - keys}\n" in text
    # the node's own pair cannot be compared: each side holds only part of the state
    own = _memiavl(sim_binary, node.memiavl_dir)
    assert own.final.count < 300 and own.final.digest != composite.final.digest


def test_replay_composite_one_block_later(sim_binary: Path, make_node: MakeNode, tmp_path: Path) -> None:
    node = make_node(tmp_path, height=H, rows=300, migrate_keys=200)
    composite, text = _composite(sim_binary, node, height=H + 1, open_mode="replay")
    assert composite.version == H + 1 and f"memiavl read-only replay dir={node.memiavl_dir}" in text
    assert "flatkv rows plus replayed memiavl rows not migrated by boundary=" in text
    assert "  composite memiavl-replay leaves=" in text
    reference = _memiavl(sim_binary, node.reference_memiavl_dir, H + 1, "replay")
    assert digests(composite) == digests(reference) and reference.account.count == 37


def test_missing_boundary_marker_changes_no_digest(sim_binary: Path, make_node: MakeNode, tmp_path: Path) -> None:
    with_marker = make_node(tmp_path, height=H, rows=300, migrate_keys=195)
    without = make_node(tmp_path, height=H, rows=300, migrate_keys=195, boundary_marker=False)
    marked, _ = _composite(sim_binary, with_marker)
    unmarked, text = _composite(sim_binary, without)
    assert digests(unmarked) == digests(marked)  # the trap: only the status says it
    assert unmarked.migration_boundary is not None
    assert unmarked.migration_boundary.status is MigrationStatus.NOT_STARTED
    assert unmarked.marker_adjustments == () and "flatkv_marker_adjustment" not in text
    assert "  composite memiavl leaves=111 consumed_unmigrated=111" in text


def test_migrated_slot_changed_in_flatkv_shows_in_storage(
    sim_binary: Path, make_node: MakeNode, tmp_path: Path
) -> None:
    node = make_node(tmp_path, height=H, rows=300, migrate_keys=195, diverge="storage")
    composite, _ = _composite(sim_binary, node)
    reference = digests(_memiavl(sim_binary, node.reference_memiavl_dir))
    got = digests(composite)
    assert {name for name in got if got[name] != reference[name]} == {"storage", "final"}
    assert got["storage"][0] == reference["storage"][0] == 228


def test_row_on_both_sides_is_counted_twice(sim_binary: Path, make_node: MakeNode, tmp_path: Path) -> None:
    node = make_node(tmp_path, height=H, rows=300, migrate_keys=195, duplicate_unmigrated=1)
    composite, _ = _composite(sim_binary, node)
    assert (composite.storage.count, composite.final.count) == (229, 301)
    assert composite.storage.digest != node.expected("reference")["storage"]["digest"]


def test_complete_migration_skips_memiavl(sim_binary: Path, make_node: MakeNode, tmp_path: Path) -> None:
    node = make_node(tmp_path, height=H, rows=300, migrate_keys="all")
    composite, text = _composite(sim_binary, node)
    boundary = composite.migration_boundary
    assert boundary is not None and boundary.status is MigrationStatus.COMPLETE
    assert (boundary.version_known, boundary.migration_version) == (True, 1)
    assert composite.marker_adjustments == ("migration/migration-version",)
    assert "  composite memiavl" not in text and node.summary["leaves"] == 0
    assert composite.final.digest == node.expected("reference")["final"]["digest"]


def test_unmigrated_node_counts_both_stores(sim_binary: Path, make_node: MakeNode, tmp_path: Path) -> None:
    """As `clean.composite`: not started, so every FlatKV row and every memIAVL leaf counts."""
    node = make_node(tmp_path, height=H, rows=300)
    composite, text = _composite(sim_binary, node)
    assert [composite.bucket(n).count for n in ("account", "code", "storage", "misc", "final")] == [
        36,
        12,
        456,
        60,
        564,
    ]
    assert composite.code.digest == composite.storage.digest == "0" * 64  # each entry XORed in twice
    assert "boundary=MigrationBoundary{status=not_started} version_known=false migration_version=0" in text


def test_json_composite_report_is_shaped_like_the_golden_one(
    sim_binary: Path, make_node: MakeNode, tmp_path: Path
) -> None:
    node = make_node(tmp_path, height=H, rows=300, migrate_keys=195)
    done = run(node.digest_argv(sim_binary, "composite", json=True), env=LOGS_ON_STDERR)
    obj = json.loads(done.stdout)
    golden = golden_reports()["digest/composite-snapshot-h2"]
    # the golden file also records the memIAVL version it cut out of `normalization`; ours keeps the text
    assert set(obj) == set(golden) - {"memiavl_version_in_normalization"}
    assert obj["migration_boundary"] == node.summary["boundary"] and obj["mode"] == "migrate_evm"
    report = parse_report(done.stdout)
    assert report.migration_boundary is not None and report.migration_boundary.version_known is False
    assert report.migration_boundary.key == node.summary["boundary"].split("key=")[1].rstrip("}")
