"""Cross-node comparison of logical digests on simulated nodes (seidb-sim as real subprocesses): a node in the
middle of its migration against an unmigrated, a migrated and a pair node holding the same state."""

from __future__ import annotations

from pathlib import Path

import pytest

from evmdigest.models import Backend, MigrationStatus, NodeKind, Normalization
from evmdigest.seidb import DigestRequest, SeidbRunner
from evmdigest.verdict.cross_node import (
    LogicalDigest,
    compare_logical,
    compare_nodes,
    logical_digests,
    pair_logical_digests,
    primary_endpoint,
)
from evmdigest.verdict.node_records import node_digest
from evmdigest.verdict.records import compare
from tests.plugins.sim import MakeNode, SimNode

H = 5000
ROWS = 300
MID = 195  # the boundary inside the storage keys, as in the real mid-migration fixture


def _composite(runner: SeidbRunner, node: SimNode, name: str) -> list[LogicalDigest]:
    scan = runner.run_digest(DigestRequest.composite(node.flatkv_dir, node.memiavl_dir, H))
    return logical_digests([node_digest(H, scan.report, node=name)])


def _memiavl(runner: SeidbRunner, memiavl_dir: Path, name: str) -> list[LogicalDigest]:
    records = []
    for normalization in Normalization:
        scan = runner.run_digest(DigestRequest(Backend.MEMIAVL, memiavl_dir, H, normalization))
        records.append(node_digest(H, scan.report, normalization, node=name))
    return logical_digests(records)


def _flatkv(runner: SeidbRunner, node: SimNode, name: str) -> list[LogicalDigest]:
    scan = runner.run_digest(DigestRequest(Backend.FLATKV, node.flatkv_dir, H))
    return logical_digests([node_digest(H, scan.report, node=name)])


def _pair(runner: SeidbRunner, node: SimNode, name: str) -> list[LogicalDigest]:
    flatkv = runner.run_digest(DigestRequest(Backend.FLATKV, node.flatkv_dir, H)).report
    records = {}
    for normalization in Normalization:
        memiavl = runner.run_digest(DigestRequest(Backend.MEMIAVL, node.memiavl_dir, H, normalization)).report
        records[normalization] = compare(H, normalization, flatkv, memiavl, node=name)
    return pair_logical_digests(records)


@pytest.fixture
def runner(sim_binary: Path) -> SeidbRunner:
    return SeidbRunner(sim_binary)


def test_a_mid_migration_node_agrees_with_unmigrated_migrated_and_pair_nodes(
    runner: SeidbRunner, make_node: MakeNode, tmp_path: Path
) -> None:
    mid = make_node(tmp_path, height=H, rows=ROWS, migrate_keys=MID)
    migrated = make_node(tmp_path, height=H, rows=ROWS, migrate_keys="all")
    pair = make_node(tmp_path, height=H, rows=ROWS)
    composite = _composite(runner, mid, "mid")
    (boundary,) = [d.boundary for d in composite]
    assert boundary is not None and boundary.status is MigrationStatus.IN_PROGRESS and boundary.module == "evm"
    assert [d.kind for d in composite] == [NodeKind.COMPOSITE]
    others = {
        "unmigrated": _memiavl(runner, mid.reference_memiavl_dir, "unmigrated"),
        "migrated": _flatkv(runner, migrated, "migrated"),
        "pair": _pair(runner, pair, "pair"),
    }
    assert [d.endpoint for d in others["unmigrated"]] == ["memiavl/semantic", "memiavl/translator"]
    assert [d.endpoint for d in others["pair"]] == ["flatkv", "memiavl/semantic", "memiavl/translator"]
    for name, digests in others.items():
        for comparison in [*compare_nodes(composite, digests), *compare_nodes(digests, composite)]:
            assert comparison.match, comparison.summary()
        assert primary_endpoint(digests).final == composite[0].final, name
    # the comparison is not vacuous: the node's own stores each hold only part of the state
    own_flatkv = _flatkv(runner, mid, "mid")[0]
    own = compare_logical(own_flatkv, composite[0])
    assert not own.match and own.differing_buckets and own_flatkv.final.count < ROWS


def test_a_migrated_slot_changed_in_flatkv_differs_in_storage_only(
    runner: SeidbRunner, make_node: MakeNode, tmp_path: Path
) -> None:
    changed = make_node(tmp_path, height=H, rows=ROWS, migrate_keys=MID, diverge="storage")
    mine = _composite(runner, changed, "changed")
    reference = _memiavl(runner, changed.reference_memiavl_dir, "reference")
    comparisons = compare_nodes(mine, reference)
    assert [c.other.endpoint for c in comparisons] == ["memiavl/semantic"]  # composite decodes semantically
    (comparison,) = comparisons
    assert not comparison.match
    assert comparison.differing_buckets == ["storage"]
    assert [d.bucket for d in comparison.differences] == ["storage", "final"]
    expected = "changed composite vs reference memiavl/semantic at 5000: storage (digest), final (digest)"
    assert comparison.summary() == expected


def test_a_row_on_both_sides_differs_by_count(runner: SeidbRunner, make_node: MakeNode, tmp_path: Path) -> None:
    doubled = make_node(tmp_path, height=H, rows=ROWS, migrate_keys=MID, duplicate_unmigrated=1)
    migrated = make_node(tmp_path, height=H, rows=ROWS, migrate_keys="all")
    (comparison,) = compare_nodes(_composite(runner, doubled, "doubled"), _flatkv(runner, migrated, "migrated"))
    storage, final = comparison.differences
    assert (storage.bucket, storage.mine.count, storage.other.count) == ("storage", 229, 228)
    assert (final.bucket, final.mine.count, final.other.count) == ("final", ROWS + 1, ROWS)
    assert "storage (digest, count 229 vs 228)" in comparison.summary()
    assert "final (digest, count 301 vs 300)" in comparison.summary()


def test_digests_of_different_heights_are_refused(runner: SeidbRunner, make_node: MakeNode, tmp_path: Path) -> None:
    (digest,) = _flatkv(runner, make_node(tmp_path, height=H, rows=ROWS, migrate_keys="all"), "migrated")
    with pytest.raises(ValueError, match=r"^height: migrated flatkv is at 5000, other flatkv at 5001"):
        compare_logical(digest, digest.model_copy(update={"height": H + 1, "node": "other"}))
