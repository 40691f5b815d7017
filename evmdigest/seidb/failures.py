"""seidb failures an operator can act on: classify a failed command from its real texts (sei-chain 73f917b).

seidb prints its error on stdout (`fmt.Println`) and cobra repeats it on stderr as `Error: <text>`
followed by the command's whole usage. The usable line is that error text, never the tail. Known
texts (tests/data/seidb-reports/real-73f917b/error.*, and the simulator for the rest):

- `read metadata: open <root>/snapshot-<H>/evm/metadata: no such file or directory` → MemiavlSnapshotMissing
  (the nearest snapshot heights under the memIAVL root are named)
- `... fail to seek snapshot: target version is pruned: H` (replay) → MemiavlPruned
- `readonly version mismatch: requested X, reached Y` → FlatKVBehind (FlatKV's latest is Y)
- `no snapshot found for target version H` → FlatKVPruned
- `create temp dir under <dir>: mkdir ...: permission denied | read-only file system` → FlatKVDirNotWritable
- `no space left on device` / `disk quota exceeded` → OutOfDisk
- killed by a signal nobody here sent (exit < 0) → SeidbKilled (the OOM killer is the usual cause)
- anything else → SeidbFailed with the first error line.

A locked store has no text of its own: seidb reads FlatKV through a clone and opens memIAVL read-only,
so a node holding its LOCK files does not stop a scan (tests/sim/test_clone.py shows it).
"""

from __future__ import annotations

import re
import signal
from collections.abc import Sequence
from pathlib import Path

from evmdigest.segments import snapshot_heights
from evmdigest.seidb.errors import SeidbFailed, flag_value, strip_usage

_LOG_LINE = re.compile(r"time=\S+ level=|\d{4}/\d\d/\d\d \d\d:\d\d:\d\d ")
_NO_SNAPSHOT = re.compile(
    r"read metadata: open (?P<root>\S+?)/(?:snapshot-(?P<height>\d{20})|current)/evm/metadata: no such file"
)
_PRUNED_MEMIAVL = re.compile(r"fail to seek snapshot: target version is pruned: (?P<height>\d+)")
_BEHIND = re.compile(r"readonly version mismatch: requested (?P<requested>\d+), reached (?P<reached>\d+)")
_PRUNED_FLATKV = re.compile(r"no snapshot found for target version (?P<height>\d+)")
_NOT_WRITABLE = re.compile(
    r"create temp dir under (?P<dir>.+?): mkdir \S+: "
    r"(?P<why>permission denied|read-only file system|operation not permitted)"
)
_NO_SPACE = re.compile(r"no space left on device|disk quota exceeded")


class MemiavlSnapshotMissing(SeidbFailed):
    height: int
    nearest: list[int]


class MemiavlPruned(SeidbFailed):
    height: int
    nearest: list[int]


class FlatKVBehind(SeidbFailed):
    requested: int
    latest: int


class FlatKVPruned(SeidbFailed):
    height: int


class FlatKVDirNotWritable(SeidbFailed):
    flatkv_dir: str


class OutOfDisk(SeidbFailed):
    pass


class SeidbKilled(SeidbFailed):
    signum: int


def error_line(stdout_tail: str, stderr_tail: str, cobra_error: str | None = None) -> str:
    """seidb's error text: cobra's `Error: ` line (seen live, else in the stderr tail), else the last stdout
    line that is not a log line, else the first stderr line that is neither log nor usage."""
    if cobra_error:
        return cobra_error
    for line in stderr_tail.splitlines():
        if line.startswith("Error: "):
            return line.removeprefix("Error: ").strip()
    for line in reversed(stdout_tail.splitlines()):
        if line.strip() and not _LOG_LINE.match(line):
            return line.strip()
    for line in strip_usage(stderr_tail).splitlines():
        if line.strip() and not _LOG_LINE.match(line):
            return line.strip()
    return ""


def _nearest(root: str | None, height: int) -> list[int]:
    """The snapshot heights just below and just above `height` under the memIAVL root."""
    if not root:
        return []
    try:
        heights = snapshot_heights(Path(root))
    except OSError:
        return []
    below = [h for h in heights if h < height][-1:]
    above = [h for h in heights if h > height][:1]
    return below + above


def _heights(nearest: list[int]) -> str:
    return ", ".join(str(h) for h in nearest) if nearest else "none"


def classify(
    argv: Sequence[str], exit_code: int, stdout_tail: str, stderr_tail: str, *, cobra_error: str | None = None
) -> SeidbFailed:
    """The typed failure of a command that exited with `exit_code` != 0; `cobra_error` is the text of the
    first `Error: ` line on stderr when the caller saw it live (the tail may have lost it)."""
    text = error_line(stdout_tail, stderr_tail, cobra_error)
    args = (argv, exit_code, stdout_tail, stderr_tail)
    memiavl_root = flag_value(argv, "--memiavl-dir")
    if flag_value(argv, "--backend") == "memiavl":
        memiavl_root = flag_value(argv, "--db-dir")
    if m := _NO_SNAPSHOT.search(text):
        height = int(m["height"] or 0)
        root = memiavl_root or m["root"]
        nearest = _nearest(root, height)
        where = f"at {height}" if height else "marked current"
        missing = MemiavlSnapshotMissing(
            *args,
            reason=f"no memIAVL snapshot {where} under {root} (nearest snapshot heights: {_heights(nearest)})",
            hint="pick one of those heights, or pass --memiavl-open-mode replay (replays the changelog, ~10x slower)",
        )
        missing.height, missing.nearest = height, nearest
        return missing
    if m := _PRUNED_MEMIAVL.search(text):
        height = int(m["height"])
        nearest = _nearest(memiavl_root, height)
        pruned = MemiavlPruned(
            *args,
            reason=f"memIAVL has no snapshot at or below {height} to replay from (nearest: {_heights(nearest)})",
            hint="the node pruned that height; seal a height at or above its oldest snapshot",
        )
        pruned.height, pruned.nearest = height, nearest
        return pruned
    if m := _BEHIND.search(text):
        requested, reached = int(m["requested"]), int(m["reached"])
        behind = FlatKVBehind(
            *args,
            reason=f"FlatKV cannot reach {requested}: its latest version is {reached}",
            hint=f"seal a height at or below {reached}, or wait until the node has committed {requested}",
        )
        behind.requested, behind.latest = requested, reached
        return behind
    if m := _PRUNED_FLATKV.search(text):
        height = int(m["height"])
        flatkv_pruned = FlatKVPruned(
            *args,
            reason=f"FlatKV has pruned {height}: no FlatKV snapshot at or below it",
            hint="seal a newer height: FlatKV keeps only its recent snapshots and WAL",
        )
        flatkv_pruned.height = height
        return flatkv_pruned
    if m := _NOT_WRITABLE.search(text):
        unwritable = FlatKVDirNotWritable(
            *args,
            reason=f"seidb cannot create its temporary clone in {m['dir']}: {m['why']}",
            hint="seidb clones FlatKV inside its dir: run as a user who may write there, on a writable mount",
        )
        unwritable.flatkv_dir = m["dir"]
        return unwritable
    if _NO_SPACE.search(text):
        flatkv = flag_value(argv, "--flatkv-dir") or flag_value(argv, "--db-dir") or "the store"
        return OutOfDisk(
            *args,
            reason=f"out of disk space: {text}",
            hint=f"free space on the filesystem of {flatkv}: seidb's temporary FlatKV clone is written there",
        )
    if exit_code < 0:
        name = signal.Signals(-exit_code).name if -exit_code in {s.value for s in signal.Signals} else str(-exit_code)
        killed = SeidbKilled(
            *args,
            reason=f"seidb was killed by {name} (not by this run)",
            hint="check the kernel log (dmesg) for the OOM killer: a FlatKV scan needs about 2 GB per 1M rows",
        )
        killed.signum = -exit_code
        return killed
    return SeidbFailed(*args, reason=f"seidb failed (exit {exit_code}): {text or 'no error text'}")
