"""segments.py: record keys (the only place with their layout), snapshot heights, the next height to seal."""

from __future__ import annotations

from pathlib import Path

import pytest

from evmdigest.models import Normalization
from evmdigest.segments import newest_unsealed, record_key, sealed_pairs, snapshot_dir_name, snapshot_heights

BOTH = tuple(Normalization)


def test_record_keys_round_trip_through_sealed_pairs() -> None:
    keys = [record_key(7, n) for n in Normalization]
    assert keys == ["endpoint-digest-7-semantic.json.gz", "endpoint-digest-7-translator.json.gz"]
    listed = [f"node-a/{keys[0]}", keys[1] + ".seal.json", "endpoint-digest-7-bogus.json.gz", "other.json.gz"]
    assert sealed_pairs(listed) == {(7, Normalization.SEMANTIC)}


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
