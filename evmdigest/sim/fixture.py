"""`seidb-sim make-fixture`: write a deterministic fixture node (a FlatKV dir and a memIAVL root).

Rows are streamed from one seeded generator straight into buffered writers, so a million-row node
costs seconds and bounded memory; the expected digests are accumulated on the way.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from evmdigest.digest import BucketAccumulator, EvmDigest, entry_hash
from evmdigest.models import BUCKETS, Generation
from evmdigest.segments import snapshot_dir_name
from evmdigest.sim.rows import BUCKET_CODE, ZERO32, account_value, evm_key, pack_row
from evmdigest.sim.store import CONFIG_NAME, ROWS_NAME, write_config

DIVERGE_BUCKET = {"storage": "storage", "account": "account", "code": "code", "misc": "misc", "missing-key": "storage"}
MARKER_ROWS = {
    "version": (b"migration/migration-version", (1).to_bytes(8, "big")),
    "boundary": (b"migration/migration-boundary", b"MigrationBoundary{status=done, module=evm}"),
}
_WRITE_BUFFER = 1 << 20
_ACCOUNT, _CODE, _STORAGE, _MISC = (BUCKET_CODE[name] for name in BUCKETS)


def plan(rows: int) -> dict[str, int]:
    """~10% accounts, ~1% contracts (code), ~1% misc, the rest storage slots of the contracts."""
    if rows < 4:
        raise ValueError(f"--rows must be >= 4 (one row per bucket), got {rows}")
    accounts, code, misc = max(1, rows // 10), max(1, rows // 100), max(1, rows // 100)
    return {"account": accounts, "code": code, "storage": rows - accounts - code - misc, "misc": misc}


def generate_rows(rows: int, seed: int) -> Iterator[tuple[int, bytes, bytes]]:
    """Yield (bucket code, key, logical value); the same (rows, seed) always yields the same bytes."""
    counts = plan(rows)
    rng = random.Random(seed)
    randbytes, randrange = rng.randbytes, rng.randrange
    contracts: list[bytes] = []
    code_hashes: list[bytes] = []
    for _ in range(counts["code"]):
        address, code = randbytes(20), randbytes(randrange(64, 1024))
        contracts.append(address)
        code_hashes.append(hashlib.sha256(code).digest())  # any deterministic 32 bytes stands in for keccak
        yield _CODE, evm_key("code", address), code
    for address, code_hash in zip(contracts, code_hashes, strict=True):
        yield _ACCOUNT, evm_key("account", address), account_value(1, code_hash)
    for _ in range(counts["account"] - counts["code"]):
        # nonce 0 now and then, so the zero-value census has something to count
        yield _ACCOUNT, evm_key("account", randbytes(20)), account_value(randrange(64), ZERO32)
    storage_prefix = evm_key("storage", b"")
    n_contracts = len(contracts)
    for i in range(counts["storage"]):
        yield _STORAGE, storage_prefix + contracts[i % n_contracts] + randbytes(32), randbytes(32)
    for _ in range(counts["misc"]):
        yield _MISC, evm_key("misc", randbytes(20)), randbytes(randrange(1, 9))


def mutate(diverge: str, value: bytes) -> bytes | None:
    """The FlatKV-side value of the one diverged row; None drops the row (missing-key)."""
    if diverge == "missing-key":
        return None
    if diverge == "account":
        nonce = int.from_bytes(value[32:40], "big") + 1
        return value[:32] + nonce.to_bytes(8, "big") + value[40:]
    return value[:-1] + bytes((value[-1] ^ 0x01,))


def _link_or_copy(src: Path, dst: Path) -> None:
    # rows.bin is never rewritten in place, so sharing one inode between stores is safe and saves disk
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _results(digest: EvmDigest) -> dict[str, Any]:
    out: dict[str, Any] = {name: bucket.model_dump() for name, bucket in digest.results().items()}
    out["marker_adjustments"] = list(digest.marker_adjustments)
    return out


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
) -> dict[str, Any]:
    """Write the node under `root` and return the summary (paths, rows per bucket, expected digests)."""
    counts = plan(rows)
    root = Path(os.path.abspath(root))  # the summary's paths must work from any cwd
    heights = sorted({height, *extra_snapshots})
    if heights[0] < 1:
        raise ValueError(f"snapshot heights must be >= 1 (0 means 'current'), got {heights[0]}")
    if diverge is not None and diverge not in DIVERGE_BUCKET:
        raise ValueError(f"--diverge must be one of {', '.join(DIVERGE_BUCKET)}, got {diverge!r}")
    if migration_marker != "none" and migration_marker not in MARKER_ROWS:
        raise ValueError(f"--migration-marker must be version, boundary or none, got {migration_marker!r}")
    Generation(generation)
    flatkv_dir, memiavl_dir = root / "flatkv", root / "memiavl"
    if flatkv_dir.exists() or memiavl_dir.exists():
        raise ValueError(f"{root} already holds a node (flatkv/ or memiavl/ exists)")
    snapshot_dir = memiavl_dir / snapshot_dir_name(height)
    snapshot_dir.mkdir(parents=True)
    flatkv_dir.mkdir(parents=True)
    faults: dict[str, Any] = {"slow": slow} if slow else {}
    common = {"generation": generation, "seed": seed, "rows": rows, "faults": faults}

    memiavl = EvmDigest()
    accumulators = [memiavl.buckets[name] for name in BUCKETS]
    flatkv_differs = diverge is not None or migration_marker != "none"
    target_code = BUCKET_CODE[DIVERGE_BUCKET[diverge]] if diverge else -1
    target_index = counts[DIVERGE_BUCKET[diverge]] // 2 if diverge else -1
    changed: tuple[str, bytes, bytes, bytes | None] | None = None
    seen = 0
    with (snapshot_dir / ROWS_NAME).open("wb", buffering=_WRITE_BUFFER) as mem_out:
        flat_out = (flatkv_dir / ROWS_NAME).open("wb", buffering=_WRITE_BUFFER) if flatkv_differs else None
        try:
            for code, key, value in generate_rows(rows, seed):
                record = pack_row(code, key, value)
                mem_out.write(record)
                accumulators[code].add(key, value)
                if flat_out is None:
                    continue
                if code == target_code:
                    if seen == target_index:
                        assert diverge is not None
                        new_value = mutate(diverge, value)
                        changed = (BUCKETS[code], key, value, new_value)
                        record = b"" if new_value is None else pack_row(code, key, new_value)
                    seen += 1
                flat_out.write(record)
            if flat_out is not None and migration_marker != "none":
                flat_out.write(pack_row(_MISC, *MARKER_ROWS[migration_marker]))
        finally:
            if flat_out is not None:
                flat_out.close()
    if not flatkv_differs:
        _link_or_copy(snapshot_dir / ROWS_NAME, flatkv_dir / ROWS_NAME)

    # The FlatKV side differs from memiavl by at most one row and one marker: adjust a copy.
    flatkv = EvmDigest()
    for name, acc in memiavl.buckets.items():
        flatkv.buckets[name] = BucketAccumulator(acc.acc, acc.count)
    flat_counts = dict(counts)
    if changed is not None:
        name, key, old, new = changed
        flatkv.buckets[name].remove_hash(entry_hash(key, old))
        if new is None:
            flat_counts[name] -= 1
        else:
            flatkv.add(name, key, new)
    if migration_marker != "none":
        marker_key, marker_value = MARKER_ROWS[migration_marker]
        flatkv.add("misc", marker_key, marker_value)
        flatkv.omit_marker(marker_key.decode(), marker_key, marker_value)
        flat_counts["misc"] += 1

    write_config(snapshot_dir / CONFIG_NAME, {"kind": "memiavl-snapshot", "height": height, **common})
    for extra in heights:
        if extra != height:
            extra_dir = memiavl_dir / snapshot_dir_name(extra)
            extra_dir.mkdir()
            _link_or_copy(snapshot_dir / ROWS_NAME, extra_dir / ROWS_NAME)
            write_config(extra_dir / CONFIG_NAME, {"kind": "memiavl-snapshot", "height": extra, **common})
    (memiavl_dir / "current").symlink_to(snapshot_dir_name(heights[-1]))
    # the tip of the node is at least its newest snapshot
    write_config(flatkv_dir / CONFIG_NAME, {"kind": "flatkv", "latest_height": heights[-1], **common})
    return {
        "root": str(root),
        "flatkv_dir": str(flatkv_dir),
        "memiavl_dir": str(memiavl_dir),
        "height": height,
        "snapshots": heights,
        "seed": seed,
        "generation": generation,
        "diverge": diverge,
        "migration_marker": migration_marker,
        "rows": {**counts, "total": rows},
        "flatkv_rows": {**flat_counts, "total": sum(flat_counts.values())},
        "expected": {"flatkv": _results(flatkv), "memiavl": _results(memiavl)},
    }


def write_node(
    root: Path,
    *,
    height: int,
    rows: Iterable[tuple[str, bytes, bytes]],
    flatkv_rows: Iterable[tuple[str, bytes, bytes]] | None = None,
    generation: str = Generation.JSON.value,
) -> tuple[Path, Path]:
    """Hand-craft a node from explicit (bucket, key, logical value) rows; returns (flatkv dir, memiavl root).

    For tests that need exact rows (e.g. seidb's own golden rows); FlatKV gets `rows` unless told otherwise.
    """
    root = Path(os.path.abspath(root))
    flatkv_dir, memiavl_dir = root / "flatkv", root / "memiavl"
    snapshot_dir = memiavl_dir / snapshot_dir_name(height)
    materialized = list(rows)
    for store_dir, store_rows in ((snapshot_dir, materialized), (flatkv_dir, flatkv_rows)):
        store_dir.mkdir(parents=True)
        with (store_dir / ROWS_NAME).open("wb") as out:
            for bucket, key, value in materialized if store_rows is None else store_rows:
                out.write(pack_row(BUCKET_CODE[bucket], key, value))
    common = {"generation": generation, "faults": {}}
    write_config(snapshot_dir / CONFIG_NAME, {"kind": "memiavl-snapshot", "height": height, **common})
    write_config(flatkv_dir / CONFIG_NAME, {"kind": "flatkv", "latest_height": height, **common})
    (memiavl_dir / "current").symlink_to(snapshot_dir_name(height))
    return flatkv_dir, memiavl_dir
