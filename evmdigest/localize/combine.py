"""How a composite node's side of a pass is made from a pass on each of its stores (see nodes.py).

seidb's composite digest (digestCompositeMigrateEVM, 73f917b) reads every FlatKV EVM row, merging account
rows with the memIAVL account leaves the boundary does not cover, plus those memIAVL leaves, and XORs the
FlatKV-only marker rows back out. These functions redo that over inspect output.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from evmdigest.digest import BucketAccumulator, entry_hash
from evmdigest.localize.keys import KEY_OFFSET
from evmdigest.localize.passes import fold
from evmdigest.models import BucketDigest, InspectList, InspectReport, InspectShards, MigrationBoundary, MigrationStatus

EVM_MODULE = "evm"
_SINGLE_KIND = {"storage": 0x03, "code": 0x07}  # the one raw kind byte of every key in these buckets
# account fields: (slice of the logical value, raw memIAVL kind byte of the leaf holding it); 0xf0 is the
# simulator's balance leaf of later builds (73f917b has none), harmless where absent
_ACCOUNT_FIELDS = ((slice(32, 40), 0x0A), (slice(40, 72), 0x08), (slice(0, 32), 0xF0))


@dataclass(frozen=True)
class Cover:
    """What a composite node's boundary covers (seidb's MigrationBoundary.IsMigrated, evm module)."""

    status: MigrationStatus
    module: str = ""
    key: bytes = b""

    @classmethod
    def of(cls, boundary: MigrationBoundary) -> Cover:
        return cls(boundary.status, boundary.module or "", bytes.fromhex(boundary.key or ""))

    def migrated(self, raw: bytes) -> bool:
        if self.status is not MigrationStatus.IN_PROGRESS:
            return self.status is MigrationStatus.COMPLETE
        return raw <= self.key if self.module == EVM_MODULE else self.module > EVM_MODULE

    def prefix(self, raw: bytes) -> bool | None:
        """Every raw key starting with `raw` migrated (True), none (False), or it depends (None)."""
        if self.status is not MigrationStatus.IN_PROGRESS or self.module != EVM_MODULE:
            return self.migrated(raw)
        head = self.key[: len(raw)]
        return None if raw == head else raw < head


def merge_accounts(flatkv: dict[str, str], memiavl: dict[str, str], cover: Cover) -> dict[str, str]:
    """Composite account rows: each FlatKV row, its fields overwritten by memIAVL leaves right of the boundary.

    memIAVL's inspect merges an address's leaves with zero for a missing one, so a zero field is read as
    no leaf (the FlatKV field stands); a leaf really holding zero over a non-zero FlatKV field would make
    the rows not hash to the composite digest, and the pass is refused (CombineError), never guessed."""
    rows: dict[str, str] = {}
    for key in flatkv.keys() | memiavl.keys():
        value = bytearray(bytes.fromhex(flatkv[key]).ljust(72, b"\0")) if key in flatkv else bytearray(72)
        address = bytes.fromhex(key)[KEY_OFFSET:]
        if key in memiavl and cover.status is not MigrationStatus.COMPLETE:  # complete: memIAVL not read
            leaves = bytes.fromhex(memiavl[key]).ljust(72, b"\0")
            for part, kind in _ACCOUNT_FIELDS:
                if any(leaves[part]) and not cover.migrated(bytes((kind,)) + address):
                    value[part] = leaves[part]
        if any(value):  # composite skips an all-zero account
            rows[key] = value.hex().upper()
    return rows


def fold_rows(rows: Iterable[tuple[str, str]]) -> BucketDigest:
    acc = BucketAccumulator()
    for key, logical in rows:
        acc.add_hash(entry_hash(bytes.fromhex(key), bytes.fromhex(logical)))
    return acc.result()


def shard_of(key: str, prefix: str, width: int) -> str | None:
    rel = bytes.fromhex(key)[KEY_OFFSET:]
    start = bytes.fromhex(prefix)
    return rel[: len(start) + width].hex() if rel.startswith(start) else None


def without_markers(report: InspectReport, markers: dict[str, str], prefix: str, width: int) -> InspectReport:
    """FlatKV's report as the digest counts it: marker rows out (listings drop them, shards XOR them out)."""
    if not markers:
        return report
    if isinstance(report, InspectList):
        entries = {k: e for k, e in report.entries.items() if k not in markers}
        return report.model_copy(update={"entries": entries, "listed": len(entries)})
    shards = dict(report.shards)
    for key, logical in markers.items():
        name = shard_of(key, prefix, width)
        if name is None or name not in shards:
            continue
        acc = BucketAccumulator(acc=int(shards[name].digest, 16), count=shards[name].count)
        acc.remove_hash(entry_hash(bytes.fromhex(key), bytes.fromhex(logical)))
        shards[name] = acc.result()
        if shards[name].count == 0:
            del shards[name]
    return report.model_copy(update={"shards": shards})


def combine_shards(
    bucket: str,
    prefix: str,
    width: int,
    flat: InspectShards,
    mem: InspectShards,
    markers: dict[str, str],
    cover: Cover,
) -> tuple[InspectReport, BucketDigest]:
    flat_rows = without_markers(flat, markers, prefix, width)
    assert isinstance(flat_rows, InspectShards)
    kind = _SINGLE_KIND.get(bucket)
    shards = dict(flat_rows.shards)
    for name, digest in mem.shards.items():
        raw = b"" if kind is None else bytes((kind,)) + bytes.fromhex(name)  # misc: kinds vary, so it depends
        if cover.prefix(raw) is True:
            continue  # wholly left of the boundary (or a complete migration): composite does not read them
        have = shards.get(name)
        acc = BucketAccumulator(acc=int(digest.digest, 16), count=digest.count)
        if have is not None:
            acc.acc ^= int(have.digest, 16)
            acc.count += have.count
        shards[name] = acc.result()
    combined = flat_rows.model_copy(update={"shards": dict(sorted(shards.items()))})
    return combined, fold(combined)


def shard_rows(rows: dict[str, str], prefix: str, width: int, like: InspectList) -> InspectShards:
    accs: dict[str, BucketAccumulator] = {}
    for key, logical in rows.items():
        name = shard_of(key, prefix, width)
        if name is not None:
            accs.setdefault(name, BucketAccumulator()).add_hash(entry_hash(bytes.fromhex(key), bytes.fromhex(logical)))
    return InspectShards(
        form=like.form, version=like.version, bucket=like.bucket, key_offset=like.key_offset,
        key_prefix=like.key_prefix, matched=sum(a.count for a in accs.values()), shard_next_bytes=width,
        shards={name: acc.result() for name, acc in sorted(accs.items())},
    )  # fmt: skip
