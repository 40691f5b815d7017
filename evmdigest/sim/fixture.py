"""`seidb-sim make-fixture`: write a deterministic fixture node (a FlatKV dir and a memIAVL root).

Like the real fixture: both stores hold the same state at H and commit one more block after it
(latest = H+1: a new account, a deleted slot); memIAVL has `snapshot-<H>` (and `current`), FlatKV a
snapshot below H (H-2, or below the oldest extra snapshot) and its changelog. `--migrate-keys N`
makes a node in the middle of its migration instead (evmdigest.sim.migrate), with an unmigrated
`reference-memiavl/` beside it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from evmdigest.digest import BucketAccumulator, EvmDigest, entry_hash
from evmdigest.models import BUCKETS, Generation
from evmdigest.segments import snapshot_dir_name
from evmdigest.sim import history
from evmdigest.sim.generate import DIVERGE_BUCKET, Row, State, mutate, plan
from evmdigest.sim.leaves import Leaf, iter_kvs, row_leaves, sorted_leaves, write_kvs, write_metadata
from evmdigest.sim.migrate import Migration, flatkv_digest, migrate, semantic_digest
from evmdigest.sim.migration import BOUNDARY_KEY, EVM_MODULE, VERSION_KEY, Boundary
from evmdigest.sim.rows import EVM_PREFIX, write_rows
from evmdigest.sim.store import CONFIG_NAME, ROWS_NAME, write_config

MARKER_ROWS = {
    "version": (VERSION_KEY, (1).to_bytes(8, "big")),
    # in progress with an empty key: no leaf counts as migrated, so memIAVL still holds everything
    "boundary": (BOUNDARY_KEY, Boundary(1, EVM_MODULE, b"").encode()),
}
_STATE_KVS = ".state.kvs"


def _results(digest: EvmDigest) -> dict[str, Any]:
    out: dict[str, Any] = {name: bucket.model_dump() for name, bucket in digest.results().items()}
    out["marker_adjustments"] = list(digest.marker_adjustments)
    return out


def _counts(rows: Iterable[Row]) -> dict[str, int]:
    counts = dict.fromkeys(BUCKETS, 0)
    for bucket, _, _ in rows:
        counts[BUCKETS[bucket]] += 1
    return {**counts, "total": sum(counts.values())}


def write_memiavl(
    root: Path,
    leaves: Iterable[Leaf],
    height: int,
    heights: Sequence[int],
    changes: list[history.Change],
    config: dict[str, Any],
) -> int:
    """Snapshots at `heights` (state at H below/at H, H + replayed blocks above), `current`, changelog."""
    root.mkdir(parents=True)
    base = root / _STATE_KVS
    count = write_kvs(base, leaves)
    for snapshot in heights:
        evm_dir = root / snapshot_dir_name(snapshot) / "evm"
        evm_dir.mkdir(parents=True)
        if snapshot <= height:
            os.link(base, evm_dir / "kvs")  # kvs is never rewritten in place: sharing an inode is safe
        else:
            later = history.pending(changes, height, snapshot)
            stream = ((key, value, history.LEAF_TAG) for key, value in iter_kvs(str(base)))
            write_kvs(evm_dir / "kvs", ((key, value) for key, value, _ in history.merge(stream, later)))
        write_metadata(evm_dir, snapshot)
        write_config(evm_dir.parent / CONFIG_NAME, {"kind": "memiavl-snapshot", "height": snapshot, **config})
    base.unlink()
    (root / "current").symlink_to(snapshot_dir_name(heights[-1]))
    history.write_changes(root, changes)
    return count


def _changes(
    block: tuple[Row, Row] | None, height: int, latest: int, *, account_to: str = "both", slot_to: str = "both"
) -> tuple[list[history.Change], list[history.Change]]:
    """(FlatKV changes, memIAVL changes): block H+1 (its new account and deleted slot go to the stores
    named), then empty blocks up to `latest`."""
    flatkv = [history.Change(h, b"", None, 0) for h in range(height + 1, latest + 1)]
    memiavl = [history.Change(h, b"", None) for h in range(height + 1, latest + 1)]
    if block is None:
        return flatkv, memiavl
    (bucket, account_key, account), (storage_bucket, slot_key, _) = block
    if account_to in ("both", "flatkv"):
        flatkv.append(history.Change(height + 1, account_key, account, bucket))
    if account_to in ("both", "memiavl"):
        memiavl += [history.Change(height + 1, key, value) for key, value in row_leaves(bucket, account_key, account)]
    if slot_to in ("both", "flatkv"):
        flatkv.append(history.Change(height + 1, slot_key, None, storage_bucket))
    if slot_to in ("both", "memiavl"):
        memiavl.append(history.Change(height + 1, slot_key[len(EVM_PREFIX) :], None))
    return flatkv, memiavl


def make_fixture(
    root: Path,
    *,
    height: int,
    rows: int,
    diverge: str | None = None,
    seed: int = 1,
    extra_snapshots: Sequence[int] = (),
    migration_marker: str = "none",
    generation: str = Generation.JSON.value,
    slow: float = 0.0,
    blocks_after: int = 1,
    flatkv_earliest: int | None = None,
    snapshot_at_height: bool = True,
    migrate_keys: int | str | None = None,
    boundary_marker: bool = True,
    duplicate_unmigrated: int = 0,
    progress_every: int | None = None,
) -> dict[str, Any]:
    """Write the node under `root` and return the summary (paths, rows per bucket, expected digests)."""
    counts = plan(rows)
    root = Path(os.path.abspath(root))  # the summary's paths must work from any cwd
    heights = sorted({height, *extra_snapshots} - (set() if snapshot_at_height else {height}))
    if not heights or heights[0] < 0 or height < 1:
        raise ValueError(f"snapshot heights must be >= 0 and the height >= 1, got {height} and {heights}")
    if diverge is not None and diverge not in DIVERGE_BUCKET:
        raise ValueError(f"--diverge must be one of {', '.join(DIVERGE_BUCKET)}, got {diverge!r}")
    if migration_marker != "none" and migration_marker not in MARKER_ROWS:
        raise ValueError(f"--migration-marker must be version, boundary or none, got {migration_marker!r}")
    if blocks_after < 0:
        raise ValueError(f"--blocks-after must be >= 0, got {blocks_after}")
    Generation(generation)
    flatkv_dir, memiavl_dir = root / "flatkv", root / "memiavl"
    if flatkv_dir.exists() or memiavl_dir.exists():
        raise ValueError(f"{root} already holds a node (flatkv/ or memiavl/ exists)")
    latest = max(height + blocks_after, heights[-1])
    faults: dict[str, Any] = {"slow": slow} if slow else {}
    common: dict[str, Any] = {"generation": generation, "seed": seed, "rows": rows, "faults": faults}
    if progress_every:
        common["progress_every"] = progress_every
    state = State.generate(rows, seed)
    block = state.next_block() if blocks_after else None
    summary: dict[str, Any] = {
        "root": str(root),
        "flatkv_dir": str(flatkv_dir),
        "memiavl_dir": str(memiavl_dir),
        "height": height,
        "latest_height": latest,
        "snapshots": heights,
        "seed": seed,
        "generation": generation,
        "diverge": diverge,
        "migration_marker": migration_marker,
        "migrate_keys": migrate_keys,
        "rows": {**counts, "total": rows},
    }
    flatkv_dir.mkdir(parents=True)
    if migrate_keys is None:
        flatkv_changes, memiavl_changes = _changes(block, height, latest)
        summary["leaves"] = write_memiavl(memiavl_dir, state.leaves(), height, heights, memiavl_changes, common)
        flat_counts, expected = _plain_flatkv(state, diverge, migration_marker, flatkv_dir / ROWS_NAME)
    else:
        keys = None if migrate_keys == "all" else int(migrate_keys)
        moved = migrate(
            state, keys, boundary_marker=boundary_marker, duplicate_unmigrated=duplicate_unmigrated, diverge=diverge
        )
        slot = block[1][1][len(EVM_PREFIX) :] if block else b""
        # new keys go to FlatKV; a write to a key goes where the key lives
        slot_to = "flatkv" if moved.last_moved is None or slot <= moved.last_moved else "memiavl"
        flatkv_changes, memiavl_changes = _changes(block, height, latest, account_to="flatkv", slot_to=slot_to)
        summary["leaves"] = write_memiavl(memiavl_dir, moved.memiavl_leaves, height, heights, memiavl_changes, common)
        reference = root / "reference-memiavl"
        write_memiavl(reference, state.leaves(), height, heights, _changes(block, height, latest)[1], common)
        summary["reference_memiavl_dir"] = str(reference)
        summary["boundary"] = moved.boundary.model(False, 0, height).boundary_text()
        write_rows(flatkv_dir / ROWS_NAME, moved.flatkv_rows)
        flat_counts, expected = _counts(moved.flatkv_rows), _migrated_expected(state, moved)
    history.write_changes(flatkv_dir, flatkv_changes)
    # FlatKV keeps a snapshot two blocks below the oldest height the node serves (H-2 in the real fixture)
    earliest = max(0, min(height, heights[0]) - 2) if flatkv_earliest is None else flatkv_earliest
    knobs = {"kind": "flatkv", "height": height, "latest_height": latest, "earliest_height": earliest}
    write_config(flatkv_dir / CONFIG_NAME, {**knobs, **common})
    summary["flatkv_rows"] = flat_counts
    summary["expected"] = expected
    return summary


def _plain_flatkv(state: State, diverge: str | None, marker: str, path: Path) -> tuple[dict[str, int], dict[str, Any]]:
    """Stream FlatKV's rows.bin: the same rows (one changed if `diverge`, plus a marker row); returns its
    row counts and both stores' expected digests."""
    memiavl = EvmDigest()
    accumulators = [memiavl.buckets[name] for name in BUCKETS]
    sizes = [len(state.accounts), len(state.contracts), sum(state.slots), len(state.misc)]
    target = BUCKETS.index(DIVERGE_BUCKET[diverge]) if diverge else -1
    index = sizes[target] // 2 if diverge else -1
    changed: list[tuple[str, bytes, bytes, bytes | None]] = []
    counts = dict.fromkeys(BUCKETS, 0)

    def rows() -> Iterator[Row]:
        seen = 0
        for bucket, key, value in state.rows():
            accumulators[bucket].add(key, value)
            if bucket == target:
                seen += 1
                if seen - 1 == index and diverge is not None:
                    new = mutate(diverge, value)
                    changed.append((BUCKETS[bucket], key, value, new))
                    if new is None:
                        continue
                    value = new
            counts[BUCKETS[bucket]] += 1
            yield bucket, key, value
        if marker != "none":
            counts["misc"] += 1
            yield 3, *MARKER_ROWS[marker]

    write_rows(path, rows())
    flatkv = EvmDigest()
    for name, acc in memiavl.buckets.items():
        flatkv.buckets[name] = BucketAccumulator(acc.acc, acc.count)
    for name, key, old, new in changed:
        flatkv.buckets[name].remove_hash(entry_hash(key, old))
        if new is not None:
            flatkv.add(name, key, new)
    if marker != "none":
        key, value = MARKER_ROWS[marker]
        flatkv.add("misc", key, value)
        flatkv.omit_marker(key.decode(), key, value)
    return {**counts, "total": sum(counts.values())}, {"flatkv": _results(flatkv), "memiavl": _results(memiavl)}


def _migrated_expected(state: State, moved: Migration) -> dict[str, Any]:
    reference = EvmDigest()
    for bucket, key, value in state.rows():
        reference.add(BUCKETS[bucket], key, value)
    return {
        "flatkv": _results(flatkv_digest(moved.flatkv_rows)),
        "memiavl": _results(semantic_digest(moved.memiavl_leaves)),
        "reference": _results(reference),
    }


def write_node(
    root: Path,
    *,
    height: int,
    rows: Iterable[tuple[str, bytes, bytes]],
    flatkv_rows: Iterable[tuple[str, bytes, bytes]] | None = None,
    generation: str = Generation.JSON.value,
    row_heights: dict[str, int] | None = None,
    memiavl_row_heights: dict[str, int] | None = None,
) -> tuple[Path, Path]:
    """Hand-craft a node from explicit (bucket, physical key, logical value) rows: (flatkv dir, memiavl root).

    For tests that need exact rows (seidb's golden rows, the real fixture's listed slots). FlatKV gets
    `rows` unless told otherwise; no blocks after `height`. `row_heights` (hex key -> height) set the
    `--details` block heights / leaf versions.
    """
    root = Path(os.path.abspath(root))
    flatkv_dir, memiavl_dir = root / "flatkv", root / "memiavl"
    materialized = [(BUCKETS.index(name), key, value) for name, key, value in rows]
    flat = materialized if flatkv_rows is None else [(BUCKETS.index(n), k, v) for n, k, v in flatkv_rows]
    common: dict[str, Any] = {"generation": generation, "faults": {}}
    leaves: Iterator[Leaf] = iter(sorted_leaves(materialized))
    extra = {"row_heights": memiavl_row_heights} if memiavl_row_heights else {}
    write_memiavl(memiavl_dir, leaves, height, [height], [], {**common, **extra})
    flatkv_dir.mkdir(parents=True)
    write_rows(flatkv_dir / ROWS_NAME, sorted(flat, key=lambda row: row[1]))
    config = {"kind": "flatkv", "height": height, "latest_height": height, "earliest_height": height, **common}
    write_config(flatkv_dir / CONFIG_NAME, {**config, **({"row_heights": row_heights} if row_heights else {})})
    return flatkv_dir, memiavl_dir
