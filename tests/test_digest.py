"""digest.py: the logical-digest algorithm as the contract states it, computed here independently."""

from __future__ import annotations

import hashlib

from evmdigest.digest import EvmDigest, entry_hash, final_digest


def test_entry_hash_is_sha256_of_length_prefixed_key_and_value() -> None:
    expected = hashlib.sha256(b"\x00\x00\x00\x02ab" + b"\x00\x00\x00\x01c").digest()
    assert entry_hash(b"ab", b"c") == expected


def test_buckets_xor_in_any_order_and_final_hashes_the_four_accumulators() -> None:
    rows = [(b"k1", b"v1"), (b"k2", b"v2"), (b"k3", b"v3")]
    forward, backward = EvmDigest(), EvmDigest()
    for key, value in rows:
        forward.add("storage", key, value)
    for key, value in reversed(rows):
        backward.add("storage", key, value)
    results = forward.results()
    assert results == backward.results()
    acc = 0
    for key, value in rows:
        acc ^= int.from_bytes(entry_hash(key, value), "big")
    assert results["storage"].digest == acc.to_bytes(32, "big").hex().upper() and results["storage"].count == 3
    joined = b"".join(bytes.fromhex(results[name].digest) for name in ("account", "code", "storage", "misc"))
    assert results["final"].digest == hashlib.sha256(joined).hexdigest().upper()
    assert results["final"] == final_digest(results) and results["final"].count == 3


def test_a_migration_marker_is_folded_back_out_of_misc() -> None:
    plain, marked = EvmDigest(), EvmDigest()
    plain.add("misc", b"m", b"1")
    marked.add("misc", b"m", b"1")
    marked.add("misc", b"migration/migration-version", b"\x00" * 8)
    marked.omit_marker("migration/migration-version", b"migration/migration-version", b"\x00" * 8)
    assert marked.results() == plain.results()
    assert marked.marker_adjustments == ["migration/migration-version"]
