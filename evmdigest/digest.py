"""The seidb logical-digest algorithm, restated from the contract (not copied from seidb).

entry = sha256(be32 len(key) || key || be32 len(value) || value); a bucket is the XOR of its entries
plus a row count; final = sha256 of the four accumulators in bucket order, count = their sum.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from evmdigest.models import BUCKETS, BucketDigest

MIGRATION_MARKER_KEYS: tuple[str, str] = ("migration/migration-version", "migration/migration-boundary")


def entry_hash(key: bytes, value: bytes) -> bytes:
    h = hashlib.sha256()
    h.update(len(key).to_bytes(4, "big"))
    h.update(key)
    h.update(len(value).to_bytes(4, "big"))
    h.update(value)
    return h.digest()


@dataclass
class BucketAccumulator:
    # XOR on a Python int is far faster than a per-byte loop; the width is fixed at 32 bytes.
    acc: int = 0
    count: int = 0

    def add(self, key: bytes, value: bytes) -> bytes:
        digest = entry_hash(key, value)
        self.add_hash(digest)
        return digest

    def add_hash(self, digest: bytes) -> None:
        self.acc ^= int.from_bytes(digest, "big")
        self.count += 1

    def remove_hash(self, digest: bytes) -> None:
        self.acc ^= int.from_bytes(digest, "big")
        self.count -= 1

    @property
    def digest_bytes(self) -> bytes:
        return self.acc.to_bytes(32, "big")

    def result(self) -> BucketDigest:
        return BucketDigest(count=self.count, digest=self.digest_bytes.hex().upper())


def final_digest(buckets: Mapping[str, BucketDigest]) -> BucketDigest:
    """sha256 over the four accumulators in contract order; the parser's consistency check uses it."""
    h = hashlib.sha256()
    for name in BUCKETS:
        h.update(bytes.fromhex(buckets[name].digest))
    return BucketDigest(count=sum(buckets[name].count for name in BUCKETS), digest=h.hexdigest().upper())


@dataclass
class EvmDigest:
    """Accumulates logical rows per bucket, XORing FlatKV-only migration markers back out of misc."""

    buckets: dict[str, BucketAccumulator] = field(
        default_factory=lambda: {name: BucketAccumulator() for name in BUCKETS}
    )
    marker_adjustments: list[str] = field(default_factory=list)

    def add(self, bucket: str, key: bytes, value: bytes) -> None:
        self.buckets[bucket].add(key, value)

    def omit_marker(self, marker: str, key: bytes, value: bytes) -> None:
        """Record a migration marker row that was folded into misc, and fold it back out."""
        self.buckets["misc"].remove_hash(entry_hash(key, value))
        self.marker_adjustments.append(marker)

    def results(self) -> dict[str, BucketDigest]:
        out = {name: acc.result() for name, acc in self.buckets.items()}
        out["final"] = final_digest(out)
        return out
