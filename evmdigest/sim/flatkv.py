"""Open a simulated FlatKV store the way seidb's tooling does: through a temporary clone INSIDE the dir.

Real seidb (flatkv_open.go) never opens the live dir: it makes `.seidb-flatkv-tool-<n>/` in it
(os.MkdirTemp, so the dir must be writable), hard-links the snapshot, copies the changelog, opens a
read-only view in `readonly-<n>/` (pebble DBs copied from the snapshot, WAL replayed to the height) and
removes the whole clone on Close: on a normal exit and on an error after opening, never when the
process is killed (Go installs no handler for SIGTERM/SIGINT). The sim does the same with real files:
its readonly copy has real size (a quarter of rows.bin) and stays open during the scan.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from evmdigest.segments import snapshot_dir_name
from evmdigest.sim import history
from evmdigest.sim.goutil import duration, errno_text, join, path_error, random_suffix
from evmdigest.sim.rows import iter_rows
from evmdigest.sim.seilog import FLATKV_LOGGER, Logs
from evmdigest.sim.store import CONFIG_NAME, ROWS_NAME, SimError, StoreConfig

TOOL_PREFIX = ".seidb-flatkv-tool-"
DB_DIRS = ("account", "code", "storage", "misc")
WAL_NAME = "000002.log"
_COPY_FRACTION = 4


@dataclass
class FlatKVView:
    """An opened (cloned) FlatKV store at `version`; close() removes the clone like seidb's Close."""

    db_dir: str
    version: int
    config: StoreConfig
    rows_path: Path
    changes: dict[bytes, history.Change]
    logs: Logs
    tool_dir: str
    held: IO[bytes] | None = field(default=None, repr=False)

    def rows(self) -> Iterator[tuple[int, bytes, bytes]]:
        """(bucket, physical key, logical value) in pebble's (physical key) order, replayed to `version`."""
        base = ((key, value, bucket) for bucket, key, value in iter_rows(self.rows_path))
        for key, value, bucket in history.merge(base, self.changes):
            yield bucket, key, value

    def close(self) -> None:
        if self.held is not None:
            self.held.close()
            self.held = None
            shutil.rmtree(self.tool_dir, ignore_errors=True)
            self.logs.info(FLATKV_LOGGER, "FlatKV store closed")


def _mkdir_temp(parent: str, prefix: str) -> str:
    """os.MkdirTemp: `<parent>/<prefix><random uint32>`, mode 0700; the error is Go's `mkdir <path>: ...`."""
    while True:
        path = join(parent, prefix + random_suffix())
        try:
            os.mkdir(path, 0o700)
            return path
        except FileExistsError:
            continue
        except OSError as exc:
            raise SimError(path_error("mkdir", path, exc)) from None


def _copy_slice(src: Path, dst: str, start: int, size: int, disk_full: bool) -> None:
    """Byte-copy like seidb's copyFile; ENOSPC (real or the disk_full fault) gives Go's write error."""
    with src.open("rb") as source, open(dst, "wb") as out:
        if disk_full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        source.seek(start)
        remaining = size
        while remaining > 0 and (chunk := source.read(min(remaining, 1 << 20))):
            out.write(chunk)
            remaining -= len(chunk)
        out.flush()
        os.fsync(out.fileno())


def _select(db_dir: str, height: int) -> tuple[StoreConfig, int, int, int]:
    """Config, base snapshot, latest version and state height; seidb's errors when no snapshot fits."""
    root = Path(db_dir)
    if not (root / CONFIG_NAME).is_file():
        if height == 0:
            raise SimError(f"read current symlink: readlink {join(db_dir, 'current')}: no such file or directory")
        raise SimError(f"no snapshot found for target version {height}")
    config = StoreConfig.load(root)
    state_height = config.int_knob("height", config.int_knob("latest_height", 0))
    earliest = config.int_knob("earliest_height", max(0, state_height - 2))
    latest = config.int_knob("latest_height", state_height)
    if height and height < earliest:
        raise SimError(f"no snapshot found for target version {height}")
    return config, earliest, latest, state_height


def open_flatkv(db_dir: str, height: int, logs: Logs) -> FlatKVView:
    """seidb's openFlatKVReadOnly; errors come back WITHOUT the caller's `open flatkv read-only: ` prefix."""
    config, base, latest, state_height = _select(db_dir, height)
    root = Path(db_dir)
    try:
        tool_dir = _mkdir_temp(db_dir, TOOL_PREFIX)
    except SimError as exc:
        raise SimError(f"create temp dir under {db_dir}: {exc}") from None
    try:
        snapshot = join(tool_dir, snapshot_dir_name(base))
        os.mkdir(snapshot)
        os.link(root / ROWS_NAME, join(snapshot, ROWS_NAME))  # snapshot files are hard-linked
        os.symlink(snapshot_dir_name(base), join(tool_dir, "current"))
        changelog = history.changelog_path(root)
        if changelog.is_file():
            os.mkdir(join(tool_dir, history.CHANGELOG_DIR))
            target = join(tool_dir, history.CHANGELOG_DIR, history.CHANGELOG_FILE)
            try:
                _copy_slice(changelog, target, 0, changelog.stat().st_size, False)
            except OSError as exc:
                raise SimError(f"clone changelog: {path_error('write', target, exc)}") from None
        view = _open_view(db_dir, tool_dir, height, config, base, latest, logs)
    except BaseException:
        shutil.rmtree(tool_dir, ignore_errors=True)  # seidb cleans up a clone it could not open
        raise
    reached = view.version
    changes = history.read_changes(root)
    view.changes = history.pending(changes, state_height, reached) if reached > state_height else {}
    return view


def _open_view(
    db_dir: str, tool_dir: str, height: int, config: StoreConfig, base: int, latest: int, logs: Logs
) -> FlatKVView:
    started = time.monotonic()
    logs.info(FLATKV_LOGGER, "FlatKV LoadVersionReadOnly", targetVersion=height)
    rows_path = Path(db_dir) / ROWS_NAME

    def fail(reason: str) -> SimError:
        logs.info(FLATKV_LOGGER, "FlatKV store closed")
        elapsed = duration(time.monotonic() - started)
        logs.log(
            "ERROR",
            FLATKV_LOGGER,
            "FlatKV LoadVersionReadOnly failed",
            targetVersion=height,
            elapsed=elapsed,
            err=reason,
        )
        logs.info(FLATKV_LOGGER, "FlatKV store closed")
        return SimError(f"failed to open FlatKV at version {height}: {reason}")

    readonly = _mkdir_temp(tool_dir, "readonly-")
    part = rows_path.stat().st_size // (_COPY_FRACTION * len(DB_DIRS))
    for index, name in enumerate(DB_DIRS):
        db = join(readonly, name)
        os.mkdir(db)
        wal = join(db, WAL_NAME)
        try:
            _copy_slice(rows_path, wal, index * part, part, config.faults.disk_full)
        except OSError as exc:
            error = f"create readonly working dir: clone {name}: copy {WAL_NAME}: write {wal}: {errno_text(exc)}"
            raise fail(f"readonly open: {error}") from None
        logs.pebble("Found 1 WALs")
        logs.pebble(f"  - 000002: {{({db},000)}}")
        replayed = f"replayed {max(1, part // 400)} keys in 2 batches"
        logs.pebble(f"[JOB 1] WAL 000002: {{({db},000)}} stopped reading at offset: ({wal}: {part}); {replayed}")
    logs.info(FLATKV_LOGGER, "FlatKV readonly base opened", version=base, dir=readonly)
    reached = latest if height == 0 else min(height, latest)
    if height and reached != height:
        raise fail(f"readonly version mismatch: requested {height}, reached {reached}")
    logs.info(FLATKV_LOGGER, "FlatKV readonly store opened", version=reached, dir=readonly)
    elapsed = duration(time.monotonic() - started)
    logs.info(
        FLATKV_LOGGER, "FlatKV LoadVersionReadOnly complete", targetVersion=height, version=reached, elapsed=elapsed
    )
    logs.info(FLATKV_LOGGER, "FlatKV store closed")  # the clone's writer, closed once the view is built
    held = open(join(readonly, "storage", WAL_NAME), "rb")  # noqa: SIM115 - pebble holds its files open
    return FlatKVView(db_dir, reached, config, rows_path, {}, logs, tool_dir, held)
