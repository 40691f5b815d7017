"""A node in the middle of its memIAVL -> FlatKV migration, as sei-db's migration manager leaves it.

The first N memIAVL leaves (raw key order) have moved to FlatKV (an account's leaves merge into one
FlatKV row) and are DELETED from memIAVL; FlatKV's misc holds `migration/migration-boundary` with the
raw key of the last migrated leaf, or, once every leaf has moved, `migration/migration-version` and
an empty memIAVL. Fixture options reproduce the real runs' cases: the boundary row missing (status
not_started, same digest), a migrated row changed in FlatKV, rows present on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass

from evmdigest.digest import EvmDigest
from evmdigest.models import BUCKETS
from evmdigest.sim.generate import DIVERGE_BUCKET, Row, State, mutate
from evmdigest.sim.leaves import Decoder, Leaf
from evmdigest.sim.migration import BOUNDARY_KEY, EVM_MODULE, VERSION_KEY, Boundary

MIGRATION_VERSION = 1


@dataclass(frozen=True)
class Migration:
    flatkv_rows: list[Row]  # sorted by physical key, markers included
    memiavl_leaves: list[Leaf]  # the unmigrated tail
    boundary: Boundary  # as seidb will read it (not_started when the marker row is missing)
    last_moved: bytes | None  # raw key of the last migrated leaf; None once every leaf moved
    diverged: tuple[str, bytes, bytes, bytes | None] | None  # (bucket, key, old, new) of the changed row


def translate(leaves: list[Leaf]) -> list[Row]:
    """Leaves as FlatKV rows (what the migration writes): accounts merged, sorted by physical key."""
    decoder = Decoder()
    rows = [entry[:3] for leaf in leaves if (entry := decoder.leaf(*leaf)) is not None]
    rows += [entry[:3] for entry in decoder.finalize()]
    return sorted(rows, key=lambda row: row[1])


def migrate(
    state: State,
    keys: int | None,
    *,
    boundary_marker: bool = True,
    duplicate_unmigrated: int = 0,
    diverge: str | None = None,
) -> Migration:
    """Move the first `keys` leaves (None: all of them, a completed migration)."""
    leaves = list(state.leaves())
    count = len(leaves) if keys is None else keys
    if not 0 < count <= len(leaves):
        raise ValueError(f"--migrate-keys must be between 1 and the node's {len(leaves)} leaves, got {count}")
    moved, tail = leaves[:count], leaves[count:]
    complete = not tail
    rows = translate(moved)
    if duplicate_unmigrated:
        # rows the migration wrote to FlatKV but never deleted from memIAVL: counted twice by composite
        extra = [leaf for leaf in tail if leaf[0][0] not in (0x08, 0x0A, 0xF0)][:duplicate_unmigrated]
        if len(extra) < duplicate_unmigrated:
            raise ValueError(
                f"--duplicate-unmigrated {duplicate_unmigrated}: only {len(extra)} unmigrated non-account leaves"
            )
        rows = sorted(rows + translate(extra), key=lambda row: row[1])
    diverged = None
    if diverge is not None:
        rows, diverged = _diverge(rows, diverge)
    boundary = Boundary(2) if complete else Boundary(1, EVM_MODULE, moved[-1][0])
    if complete:
        rows.append((3, VERSION_KEY, MIGRATION_VERSION.to_bytes(8, "big")))
    elif boundary_marker:
        rows.append((3, BOUNDARY_KEY, boundary.encode()))
    else:
        boundary = Boundary(0)  # what seidb will read: no marker row at all
    last = None if complete else moved[-1][0]
    return Migration(sorted(rows, key=lambda row: row[1]), tail, boundary, last, diverged)


def _diverge(rows: list[Row], diverge: str) -> tuple[list[Row], tuple[str, bytes, bytes, bytes | None]]:
    bucket = BUCKETS.index(DIVERGE_BUCKET[diverge])
    held = [index for index, row in enumerate(rows) if row[0] == bucket]
    if not held:
        raise ValueError(f"--diverge {diverge}: FlatKV holds no migrated {BUCKETS[bucket]} row; migrate more keys")
    index = held[len(held) // 2]
    _, key, old = rows[index]
    new = mutate(diverge, old)
    changed = rows[:index] + ([] if new is None else [(bucket, key, new)]) + rows[index + 1 :]
    return changed, (BUCKETS[bucket], key, old, new)


def semantic_digest(leaves: list[Leaf]) -> EvmDigest:
    """What seidb's memIAVL semantic digest of these leaves is."""
    digest, decoder = EvmDigest(), Decoder()
    for leaf in leaves:
        entry = decoder.leaf(*leaf)
        if entry is not None:
            digest.add(BUCKETS[entry[0]], entry[1], entry[2])
    for entry in decoder.finalize():
        digest.add(BUCKETS[entry[0]], entry[1], entry[2])
    return digest


def flatkv_digest(rows: list[Row]) -> EvmDigest:
    """seidb's FlatKV digest of these rows: markers folded into misc, then XORed back out."""
    digest = EvmDigest()
    for bucket, key, logical in rows:
        digest.add(BUCKETS[bucket], key, logical)
    for key in (VERSION_KEY, BOUNDARY_KEY):
        for bucket, row_key, logical in rows:
            if row_key == key and bucket == 3:
                digest.omit_marker(key.decode(), key, logical)
    return digest
