"""Localization on simulated nodes (seidb-sim as real subprocesses): each test names EXACTLY the diverging
keys (compared with the truth taken from the stores' own rows), nothing else, and says how it got there."""

from __future__ import annotations

from pathlib import Path

import pytest

from evmdigest.localize.model import Change, Limits, Status
from evmdigest.localize.passes import PassCache, StoreChanged
from evmdigest.models import Backend, InspectList, Normalization
from evmdigest.seidb import InspectRequest
from evmdigest.sim import write_node
from evmdigest.sim.generate import State
from tests.localize.helpers import (
    HEIGHT,
    account_rows,
    changed,
    found,
    localize_dirs,
    node_truth,
    rows_truth,
    runner,
    storage_rows,
    verdict,
)
from tests.plugins.sim import MakeNode


@pytest.mark.parametrize("bucket", ["storage", "account", "code", "misc"])
def test_one_diverging_key_in_each_bucket(sim_binary: Path, make_node: MakeNode, tmp_path: Path, bucket: str) -> None:
    node = make_node(tmp_path, height=HEIGHT, rows=600, diverge=bucket)
    truth = node_truth(node)
    assert len(truth) == 1 and next(iter(truth))[0] == bucket
    localization = localize_dirs(sim_binary, node.flatkv_dir, node.memiavl_dir)
    assert found(localization) == truth
    (result,) = localization.buckets
    assert (result.bucket, result.status, result.keys_found) == (bucket, Status.COMPLETE, 1)
    assert (result.method, result.passes) == ("list", 1)  # a small bucket is listed at once
    (key,) = localization.keys
    assert key.change is Change.CHANGED and key.kind == {"storage": "03", "account": "0a", "code": "07"}.get(
        bucket, "09"
    )
    assert key.address == "0x" + bytes.fromhex(key.key)[5:25].hex()
    assert (key.slot is not None) == (bucket == "storage")
    if bucket == "account":  # the fixture bumps a nonce, as the real flatkv-nonce-changed fixture
        assert key.account_diff is not None and list(key.account_diff) == ["nonce"]
        diff = key.account_diff["nonce"]
        assert isinstance(diff.flatkv, int) and diff.flatkv == int(diff.memiavl) + 1


def test_ad_hoc_localization_learns_each_bucket_from_its_first_shard_pass(
    sim_binary: Path, make_node: MakeNode, tmp_path: Path
) -> None:
    node = make_node(tmp_path, height=HEIGHT, rows=600, diverge="storage")
    buckets = ("account", "code", "storage", "misc")
    localization = localize_dirs(sim_binary, node.flatkv_dir, node.memiavl_dir, buckets=buckets)
    assert found(localization) == node_truth(node)
    results = {b.bucket: b for b in localization.buckets}
    assert all(results[b].note == "the bucket matches" and results[b].passes == 1 for b in ("account", "code", "misc"))
    storage = results["storage"]
    assert (storage.method, storage.passes, storage.differing_shards) == ("shards", 2, 1)
    assert storage.flatkv is not None and storage.flatkv.count == node.summary["rows"]["storage"]


def test_missing_key_is_named_by_find_hash(sim_binary: Path, make_node: MakeNode, tmp_path: Path) -> None:
    node = make_node(tmp_path, height=HEIGHT, rows=600, diverge="missing-key")
    localization = localize_dirs(sim_binary, node.flatkv_dir, node.memiavl_dir)
    assert found(localization) == node_truth(node)
    (result,) = localization.buckets
    assert (result.method, result.passes, result.status) == ("find_hash", 1, Status.COMPLETE)
    assert localization.keys[0].change is Change.MISSING_IN_FLATKV and localization.keys[0].flatkv is None


def test_an_extra_key_on_flatkv_is_named_by_find_hash_on_flatkv(sim_binary: Path, tmp_path: Path) -> None:
    rows = storage_rows(4, 10)
    extra = [*rows, storage_rows(1, 1, seed=99)[0]]
    flatkv_dir, memiavl_dir = write_node(tmp_path, height=HEIGHT, rows=rows, flatkv_rows=extra)
    localization = localize_dirs(sim_binary, flatkv_dir, memiavl_dir)
    assert found(localization) == rows_truth(extra, rows)
    assert localization.buckets[0].method == "find_hash"
    assert localization.keys[0].change is Change.MISSING_IN_MEMIAVL


def test_a_missing_and_an_extra_key_in_one_bucket(sim_binary: Path, tmp_path: Path) -> None:
    rows = storage_rows(5, 12)
    flatkv = [*rows[:7], *rows[8:], storage_rows(1, 1, seed=123)[0]]  # same count: no find-hash shortcut
    flatkv_dir, memiavl_dir = write_node(tmp_path, height=HEIGHT, rows=rows, flatkv_rows=flatkv)
    localization = localize_dirs(sim_binary, flatkv_dir, memiavl_dir)
    truth = rows_truth(flatkv, rows)
    assert found(localization) == truth and len(truth) == 2
    assert {k.change for k in localization.keys} == {Change.MISSING_IN_FLATKV, Change.MISSING_IN_MEMIAVL}


def test_three_keys_in_two_buckets(sim_binary: Path, tmp_path: Path) -> None:
    storage, accounts = storage_rows(6, 8), account_rows(30)
    bumped = list(accounts)
    bucket, key, value = bumped[11]
    bumped[11] = (bucket, key, value[:31] + bytes([value[31] + 1]) + value[32:40] + bytes([0xEE]) * 32)
    flatkv = changed(changed(storage, 3), 40) + bumped
    flatkv_dir, memiavl_dir = write_node(tmp_path, height=HEIGHT, rows=storage + accounts, flatkv_rows=flatkv)
    localization = localize_dirs(sim_binary, flatkv_dir, memiavl_dir)
    assert found(localization) == rows_truth(flatkv, storage + accounts)
    assert [k.bucket for k in localization.keys] == ["account", "storage", "storage"]
    assert [b.bucket for b in localization.buckets] == ["account", "storage"]
    account = localization.keys[0]
    assert account.account_diff is not None and sorted(account.account_diff) == ["balance", "code_hash"]
    assert account.account_diff["balance"].flatkv == str(int(account.account_diff["balance"].memiavl) + 1)


def test_memiavl_lists_accounts_in_map_order_and_the_comparison_is_a_map(sim_binary: Path, tmp_path: Path) -> None:
    accounts = account_rows(60)
    flatkv = changed(changed(changed(accounts, 5), 30), 59)
    flatkv_dir, memiavl_dir = write_node(tmp_path, height=HEIGHT, rows=accounts, flatkv_rows=flatkv)
    listing = InspectRequest(Backend.MEMIAVL, memiavl_dir, HEIGHT, "account", list_pairs=True, list_limit=0)
    memiavl = runner(sim_binary).run_inspect(listing)
    assert isinstance(memiavl, InspectList) and list(memiavl.entries) != sorted(memiavl.entries)
    localization = localize_dirs(sim_binary, flatkv_dir, memiavl_dir)
    assert found(localization) == rows_truth(flatkv, accounts) and len(localization.keys) == 3


def test_more_keys_than_the_cap_are_reported_capped(sim_binary: Path, tmp_path: Path) -> None:
    rows = storage_rows(6, 10)
    flatkv = rows
    for index in range(0, 60, 5):  # 12 keys in 6 contracts
        flatkv = changed(flatkv, index)
    flatkv_dir, memiavl_dir = write_node(tmp_path, height=HEIGHT, rows=rows, flatkv_rows=flatkv)
    localization = localize_dirs(sim_binary, flatkv_dir, memiavl_dir, limits=Limits(max_keys=5))
    (result,) = localization.buckets
    assert (result.status, result.keys_found, len(localization.keys)) == (Status.CAPPED, 5, 5)
    assert "more than 5 keys diverge" in result.note
    assert found(localization) <= rows_truth(flatkv, rows)  # named keys are real divergences, none invented
    sharded = localize_dirs(sim_binary, flatkv_dir, memiavl_dir, limits=Limits(max_keys=5, list_rows=12))
    assert sharded.buckets[0].status is Status.CAPPED and sharded.buckets[0].unresolved  # what was left, named
    assert found(sharded) <= rows_truth(flatkv, rows) and len(sharded.keys) == 5


def test_every_shard_differing_is_reported_as_a_whole_bucket_change(sim_binary: Path, tmp_path: Path) -> None:
    rows = storage_rows(20, 5)
    flatkv = [(b, k, v[:-1] + b"\x00") for b, k, v in rows]  # a bucket-wide re-encoding of every value
    flatkv_dir, memiavl_dir = write_node(tmp_path, height=HEIGHT, rows=rows, flatkv_rows=flatkv)
    localization = localize_dirs(sim_binary, flatkv_dir, memiavl_dir, limits=Limits(list_rows=20))
    (result,) = localization.buckets
    assert result.status is Status.WHOLE_BUCKET and localization.status is Status.WHOLE_BUCKET
    # one shard pass, then one shard listed as a sample: all of its rows differ
    assert (result.shards, result.differing_shards, result.passes) == (20, 20, 2)
    assert "every one of the 20 shards differs; 5 of the 5 rows of shard" in result.note
    truth = rows_truth(flatkv, rows)
    assert len(localization.keys) == 5 and found(localization) < truth
    assert len({k.address for k in localization.keys}) == 1  # the sampled shard: one contract
    # the same bucket small enough for one listing: every key named instead
    listed = localize_dirs(sim_binary, flatkv_dir, memiavl_dir)
    assert found(listed) == truth and listed.buckets[0].status is Status.COMPLETE


def test_keys_scattered_over_every_shard_are_not_a_whole_bucket_change(sim_binary: Path, tmp_path: Path) -> None:
    rows = storage_rows(20, 6)
    flatkv = rows
    for contract in range(20):  # one slot in each contract: every shard differs, one row in six
        flatkv = changed(flatkv, contract * 6 + contract % 6)
    flatkv_dir, memiavl_dir = write_node(tmp_path, height=HEIGHT, rows=rows, flatkv_rows=flatkv)
    localization = localize_dirs(sim_binary, flatkv_dir, memiavl_dir, limits=Limits(list_rows=20))
    (result,) = localization.buckets
    assert found(localization) == rows_truth(flatkv, rows) and len(localization.keys) == 20
    assert (result.status, result.differing_shards, result.passes) == (Status.COMPLETE, 20, 21)


def test_narrowing_jumps_to_the_end_of_an_address_then_splits_slots(sim_binary: Path, tmp_path: Path) -> None:
    rows = storage_rows(3, 40)
    flatkv = changed(rows, 57)
    flatkv_dir, memiavl_dir = write_node(tmp_path, height=HEIGHT, rows=rows, flatkv_rows=flatkv)
    localization = localize_dirs(sim_binary, flatkv_dir, memiavl_dir, limits=Limits(list_rows=8))
    assert found(localization) == rows_truth(flatkv, rows)
    # address byte 1 (3 shards), address byte 2 (no split), the rest of the address, a slot byte, the listing
    assert localization.buckets[0].passes == 5 and localization.buckets[0].status is Status.COMPLETE


def test_the_pass_limit_is_reported_with_what_was_not_examined(sim_binary: Path, tmp_path: Path) -> None:
    rows = storage_rows(6, 10)
    flatkv = changed(changed(rows, 2), 55)
    flatkv_dir, memiavl_dir = write_node(tmp_path, height=HEIGHT, rows=rows, flatkv_rows=flatkv)
    limits = Limits(list_rows=12, max_passes=2)
    localization = localize_dirs(sim_binary, flatkv_dir, memiavl_dir, limits=limits)
    (result,) = localization.buckets
    assert result.status is Status.INCOMPLETE and len(result.unresolved) == 1 and result.passes == 2
    assert found(localization) < rows_truth(flatkv, rows) and len(localization.keys) == 1


def test_one_side_without_the_bucket_lists_the_other(sim_binary: Path, tmp_path: Path) -> None:
    storage, accounts = storage_rows(2, 3), account_rows(4)
    flatkv_dir, memiavl_dir = write_node(tmp_path, height=HEIGHT, rows=storage + accounts, flatkv_rows=storage)
    localization = localize_dirs(sim_binary, flatkv_dir, memiavl_dir)
    assert found(localization) == rows_truth(storage, storage + accounts)
    (result,) = localization.buckets
    assert (result.method, result.status) == ("one_side_empty", Status.COMPLETE)
    assert result.note.startswith("flatkv has no account rows at all")
    capped = localize_dirs(sim_binary, flatkv_dir, memiavl_dir, limits=Limits(max_keys=3))
    assert capped.buckets[0].status is Status.CAPPED and len(capped.keys) == 3


def test_a_translator_mismatch_is_localized_under_the_translator(
    sim_binary: Path, make_node: MakeNode, tmp_path: Path
) -> None:
    node = make_node(tmp_path, height=HEIGHT, rows=600)
    node.set_faults("memiavl", translator_diverge="account")
    record = verdict(sim_binary, node.flatkv_dir, node.memiavl_dir, Normalization.TRANSLATOR)
    assert record.mismatched_buckets == ["account"]
    cache = PassCache()
    localization = localize_dirs(
        sim_binary,
        node.flatkv_dir,
        node.memiavl_dir,
        normalization=Normalization.TRANSLATOR,
        record=record,
        cache=cache,
    )
    (key,) = localization.keys
    state = State.generate(node.summary["rows"]["total"], node.summary["seed"])
    smallest = min(k.hex().upper() for bucket, k, _ in state.rows() if bucket == 0)  # the row the fault alters
    assert key.bucket == "account" and key.key == smallest and key.change is Change.CHANGED
    assert key.flatkv is not None and key.memiavl is not None and key.flatkv[:-2] == key.memiavl[:-2]
    assert cache.reports  # the FlatKV listing is kept for the other normalization


def test_a_second_normalization_with_the_same_digests_reuses_the_search(
    sim_binary: Path, make_node: MakeNode, tmp_path: Path
) -> None:
    node = make_node(tmp_path, height=HEIGHT, rows=600, diverge="storage")
    cache = PassCache()
    semantic = localize_dirs(sim_binary, node.flatkv_dir, node.memiavl_dir, cache=cache)
    translator = localize_dirs(
        sim_binary, node.flatkv_dir, node.memiavl_dir, normalization=Normalization.TRANSLATOR, cache=cache
    )
    assert translator.keys == semantic.keys and found(semantic) == node_truth(node)
    assert translator.buckets == semantic.buckets and translator.seidb_runs == 0


def test_a_store_that_changed_since_the_verdict_fails_loudly(
    sim_binary: Path, make_node: MakeNode, tmp_path: Path
) -> None:
    node = make_node(tmp_path, height=HEIGHT, rows=600, diverge="storage")
    other = make_node(tmp_path, height=HEIGHT, rows=600, diverge="code")
    record = verdict(sim_binary, node.flatkv_dir, node.memiavl_dir)
    with pytest.raises(StoreChanged, match="the store changed since"):
        localize_dirs(sim_binary, other.flatkv_dir, other.memiavl_dir, record=record)
