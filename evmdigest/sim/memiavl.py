"""Open a simulated memIAVL root the way seidb does: a snapshot's kvs file, or a read-only replay.

Snapshot mode reads `<root>/snapshot-<H 20 digits>/evm` (or `current/evm` for height 0) and fails with
`read metadata: open <that dir>/metadata: no such file or directory` when there is no snapshot at H.
Replay mode (memiavl.OpenDB read-only) starts at the newest snapshot <= H and replays the changelog;
asked for more than the changelog holds it stops at the latest version WITHOUT an error (the silent
clamp the version gate exists for).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from evmdigest.segments import SNAPSHOT_DIR, snapshot_dir_name
from evmdigest.sim import history
from evmdigest.sim.goutil import join, path_error
from evmdigest.sim.leaves import Leaf, iter_kvs, read_metadata_version
from evmdigest.sim.seilog import MEMIAVL_LOGGER, Logs
from evmdigest.sim.store import CONFIG_NAME, SimError, StoreConfig


@dataclass
class MemiavlView:
    db_dir: str
    evm_dir: str  # as seidb prints it in `source:` (e.g. memiavl/snapshot-00000000000213200000/evm)
    version: int
    config: StoreConfig
    changes: dict[bytes, history.Change]

    def leaves(self) -> Iterator[Leaf]:
        base = ((key, value, history.LEAF_TAG) for key, value in iter_kvs(f"{self.evm_dir}/kvs"))
        for key, value, _ in history.merge(base, self.changes):
            yield key, value


def _config(snapshot_dir: Path) -> StoreConfig:
    # a snapshot without the sim's config (e.g. hand-made) opens with defaults: seidb reads only kvs
    return StoreConfig.load(snapshot_dir) if (snapshot_dir / CONFIG_NAME).is_file() else StoreConfig.empty()


def snapshot_evm_dir(db_dir: str, height: int) -> str:
    """seidb's resolveMemIAVLEvmSnapshotDir."""
    return join(db_dir, "current" if height == 0 else snapshot_dir_name(height), "evm")


def open_snapshot(db_dir: str, height: int) -> MemiavlView:
    evm_dir = snapshot_evm_dir(db_dir, height)
    version = read_metadata_version(evm_dir)
    return MemiavlView(db_dir, evm_dir, version, _config(Path(evm_dir).parent), {})


def open_replay(db_dir: str, height: int, logs: Logs) -> MemiavlView:
    """memiavl.OpenDB(height, ReadOnly); errors carry seidb's `open memiavl read-only replay: ` prefix."""
    prefix = "open memiavl read-only replay: "
    if height > 0:
        try:
            names = os.listdir(db_dir)
        except OSError as exc:
            raise SimError(f"{prefix}fail to seek snapshot: {path_error('open', db_dir, exc)}") from None
        heights = sorted(int(m.group(1)) for name in names if (m := SNAPSHOT_DIR.match(name)))
        below = [h for h in heights if h <= height]
        if not below:
            raise SimError(f"{prefix}fail to seek snapshot: target version is pruned: {height}")
        evm_dir = snapshot_evm_dir(db_dir, below[-1])
    else:
        evm_dir = snapshot_evm_dir(db_dir, 0)
    try:
        base = read_metadata_version(evm_dir)
    except SimError as exc:
        raise SimError(f"{prefix}{exc}") from None
    changes = history.read_changes(Path(db_dir))
    latest = history.last_height(changes, base)
    version = base
    if changes and (height == 0 or height > base):
        logs.info(MEMIAVL_LOGGER, "Start catching up and replaying the MemIAVL changelog file")
        version = max(base, latest if height == 0 else min(height, latest))
        logs.info(MEMIAVL_LOGGER, "finished replay and caught up to target version", version=height)
    pending = history.pending(changes, base, version) if version > base else {}
    return MemiavlView(db_dir, evm_dir, version, _config(Path(evm_dir).parent), pending)
