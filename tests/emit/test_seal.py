"""Seal values: the store checksum's wire forms (S3's FULL_OBJECT and COMPOSITE)."""

from __future__ import annotations

from evmdigest.emit.seal import StoreChecksum


def test_store_checksum_wire_forms() -> None:
    composite = StoreChecksum.parse("abc=-3")
    assert (composite.type, composite.value, composite.parts, composite.wire()) == ("COMPOSITE", "abc=", 3, "abc=-3")
    full = StoreChecksum.parse("abc=")
    assert (full.type, full.wire()) == ("FULL_OBJECT", "abc=")
