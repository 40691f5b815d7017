"""segments.py: record keys (the only place with their layout), snapshot heights, the next height to seal."""

from __future__ import annotations

from pathlib import Path

import pytest

from evmdigest.models import Normalization
from evmdigest.segments import (
    RecordKey,
    claim_key,
    divergence_key,
    fleet_key,
    newest_unsealed,
    parse_fleet_key,
    parse_record_key,
    record_key,
    record_prefix,
    sealed_pairs,
    snapshot_dir_name,
    snapshot_heights,
)

BOTH = tuple(Normalization)


def test_record_keys_round_trip_through_sealed_pairs() -> None:
    keys = [record_key(7, n) for n in Normalization]
    assert keys == ["endpoint-digest-7-semantic.json.gz", "endpoint-digest-7-translator.json.gz"]
    listed = [f"node-a/{keys[0]}", keys[1] + ".seal.json", "endpoint-digest-7-bogus.json.gz", "other.json.gz"]
    assert sealed_pairs(listed) == set()  # node-a's record is not the flat layout's
    assert sealed_pairs([keys[0], *listed]) == {(7, Normalization.SEMANTIC)}
    assert sealed_pairs(listed, node="node-a") == {(7, Normalization.SEMANTIC)}


def test_named_nodes_get_their_own_directory_and_parse_back() -> None:
    key = record_key(9, Normalization.TRANSLATOR, node="sei-rpc-1")
    assert key == "sei-rpc-1/endpoint-digest-9-translator.json.gz"
    assert parse_record_key(key) == RecordKey("sei-rpc-1", 9, Normalization.TRANSLATOR)
    assert parse_record_key("endpoint-digest-9-semantic.json.gz") == RecordKey(None, 9, Normalization.SEMANTIC)
    assert parse_record_key("a/b/endpoint-digest-9-semantic.json.gz") is None  # not a layout we write
    assert parse_record_key("sei-rpc-1/endpoint-digest-9-semantic.json.gz.seal.json") is None
    assert divergence_key(9, Normalization.SEMANTIC, "n1") == "n1/endpoint-divergence-9-semantic.ndjson.gz"
    assert parse_fleet_key(fleet_key(9)) == 9
    assert parse_fleet_key("n1/" + fleet_key(9)) is None


@pytest.mark.parametrize("label", ["", "../etc", "a/b", "-x", "x" * 64, "evil\nINFO", "sp ace"])
def test_node_labels_that_are_not_one_safe_path_segment_are_refused(label: str) -> None:
    with pytest.raises(ValueError, match="node"):
        record_key(1, Normalization.SEMANTIC, node=label)


def test_snapshot_heights_skip_zero_and_other_entries(tmp_path: Path) -> None:
    for height in (3000, 0, 1000):
        (tmp_path / snapshot_dir_name(height)).mkdir()
    (tmp_path / "current").symlink_to(tmp_path / snapshot_dir_name(3000))
    (tmp_path / "snapshot-12").mkdir()
    assert snapshot_heights(tmp_path) == [1000, 3000]
    with pytest.raises(FileNotFoundError, match="memiavl_dir"):
        snapshot_heights(tmp_path / "missing")


def test_newest_unsealed_needs_every_requested_normalization() -> None:
    sealed = {(3000, Normalization.SEMANTIC), (3000, Normalization.TRANSLATOR), (2000, Normalization.SEMANTIC)}
    assert newest_unsealed([1000, 2000, 3000], sealed, BOTH) == 2000
    assert newest_unsealed([1000, 2000, 3000], sealed, (Normalization.SEMANTIC,)) == 1000
    assert newest_unsealed([2000, 3000], sealed, (Normalization.SEMANTIC,)) is None


def test_a_nodes_record_prefix_and_claim_key_stay_in_its_own_layout() -> None:
    assert record_prefix("node-a", 9) == "node-a/endpoint-digest-9-"
    assert record_prefix(None) == "endpoint-digest-"
    assert record_key(9, Normalization.SEMANTIC, "node-a").startswith(record_prefix("node-a", 9))
    assert not record_key(90, Normalization.SEMANTIC, "node-a").startswith(record_prefix("node-a", 9))
    assert claim_key(9, "node-a") == "node-a/claims/claim-9.json" and claim_key(9) == "claims/claim-9.json"
    assert parse_record_key(claim_key(9, "node-a")) is None  # a claim is never read as a record
