"""Before any FlatKV scan: can seidb clone FlatKV inside its dir, and what did earlier runs leave there?

seidb writes its temporary clone `.seidb-flatkv-tool-<n>/` inside the FlatKV dir, so the dir must be
writable and its filesystem must have room; both are checked here, failing fast with one line and a
hint (FlatKVDirUnusable). Leftovers are handled first, so they do not count against the free space:

- journaled scans whose owning process is dead (kill -9, a crashed worker) get their cleanup now;
- every other clone dir is reported (path, size, age) as a warning. One that is ours, held by no
  process and older than STALE_CLONE_AGE_S (an hour; no clone takes that long to be created, so it
  cannot be a clone another seidb is making right now) is removed; a held one is never touched.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from evmdigest.seidb.clones import Cleanup, StaleClone, stale_clones
from evmdigest.seidb.errors import FlatKVDirUnusable
from evmdigest.seidb.journal import recover

STALE_CLONE_AGE_S = 3600.0
DEFAULT_MIN_FREE_MB = 1024


@dataclass
class FlatKVPreflight:
    flatkv_dir: Path
    free_bytes: int
    stale: list[StaleClone] = field(default_factory=list)
    recovered: list[Cleanup] = field(default_factory=list)

    def warnings(self) -> list[str]:
        lines = [c.summary() for c in self.recovered if c.removed or c.kept]
        return lines + [clone.describe() for clone in self.stale]


def _read_only(path: Path) -> bool:
    return bool(os.statvfs(path).f_flag & os.ST_RDONLY)


def check_flatkv_dir(
    flatkv_dir: Path,
    *,
    min_free_mb: int = DEFAULT_MIN_FREE_MB,
    stale_age_s: float = STALE_CLONE_AGE_S,
    warn: Callable[[str], None] | None = None,
) -> FlatKVPreflight:
    """Raise FlatKVDirUnusable when seidb could not clone FlatKV here; return what was found and cleaned.
    `warn` gets each warning as soon as it is known (also when the check then fails)."""
    where = str(flatkv_dir)
    if _read_only(flatkv_dir):
        raise FlatKVDirUnusable(
            where,
            "it is on a read-only filesystem, and seidb writes its temporary clone inside it",
            "mount the FlatKV dir read-write for the scan (seidb clones it, the live files are not changed)",
        )
    if not os.access(flatkv_dir, os.W_OK | os.X_OK):
        raise FlatKVDirUnusable(
            where,
            f"not writable by uid {os.geteuid()}, and seidb writes its temporary clone inside it",
            "run the scan as the node's user (or one who may write the FlatKV dir)",
        )
    checked = FlatKVPreflight(flatkv_dir, 0, stale_clones(flatkv_dir, remove_older_than=stale_age_s), recover())
    for line in checked.warnings():
        if warn is not None:
            warn(line)
    stale = checked.stale
    checked.free_bytes = free = shutil.disk_usage(flatkv_dir).free
    if free < min_free_mb * 2**20:
        held = sum(c.size for c in stale if not c.removed)
        extra = f"; {held / 2**20:.0f} MiB of it in seidb clone dirs that are held or recent" if held else ""
        raise FlatKVDirUnusable(
            where,
            f"only {free / 2**20:.0f} MiB free on its filesystem, {min_free_mb} MiB required{extra}",
            "free space there (seidb's temporary clone can be as large as FlatKV's latest snapshot), "
            "or lower SeidbCli.min_free_mb for a small store",
        )
    return checked
