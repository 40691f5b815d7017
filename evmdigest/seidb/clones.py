"""seidb's temporary FlatKV clones (`.seidb-flatkv-tool-<n>/` INSIDE the FlatKV dir): find, weigh, remove.

seidb removes its clone on a normal exit and never when it is killed, so after every kill we remove
what the killed scan left, and nothing else. A clone dir is removed only when ALL of these hold:

1. its name is `.seidb-flatkv-tool-<digits>` and it is a real directory (not a symlink) owned by our
   effective uid (seidb ran as us; a clone of another user's seidb is never ours);
2. it was not there when the scan started (the caller's snapshot of the clone names), or, for stale
   clones at preflight, it is older than the stale-age threshold;
3. no live process holds a path under it: every readable `/proc/<pid>/` is checked for its `cwd`,
   `root`, open fds (`fd/*`) and mapped files (`maps`). Processes of other users cannot be read
   unless we are root; by (1) their clones are never candidates anyway.

What remains possible: another seidb of our uid that created its clone after our snapshot and has not
opened a single file in it yet (the instant between its mkdir and its first copy) looks unheld. For
stale clones the age threshold rules that out; for a killed scan the window is microseconds.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

TOOL_PREFIX = ".seidb-flatkv-tool-"
CLONE_NAME = re.compile(r"\.seidb-flatkv-tool-\d+")


def clone_names(flatkv_dir: Path) -> set[str]:
    """Names of the clone-like entries in the dir now (the snapshot a scan takes before it starts)."""
    try:
        return {name for name in os.listdir(flatkv_dir) if CLONE_NAME.fullmatch(name)}
    except OSError:
        return set()


def _proc_paths(pid: str) -> Iterable[str]:
    base = f"/proc/{pid}"
    for link in ("cwd", "root"):
        with contextlib.suppress(OSError):
            yield os.readlink(f"{base}/{link}")
    try:
        fds = os.listdir(f"{base}/fd")
    except OSError:
        fds = []
    for fd in fds:
        with contextlib.suppress(OSError):
            yield os.readlink(f"{base}/fd/{fd}")
    try:
        with open(f"{base}/maps") as maps:
            for line in maps:
                parts = line.split(maxsplit=5)
                if len(parts) == 6 and parts[5].startswith("/"):
                    yield parts[5].rstrip("\n").removesuffix(" (deleted)")
    except OSError:
        pass


def holders(paths: Iterable[Path]) -> dict[Path, set[int]]:
    """For each path, the live processes whose cwd, root, open fds or mapped files lie under it."""
    wanted = {Path(os.path.realpath(p)): p for p in paths}
    held: dict[Path, set[int]] = {p: set() for p in wanted.values()}
    if not wanted:
        return held
    prefixes = [(str(real), str(real) + "/", original) for real, original in wanted.items()]
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        for path in _proc_paths(entry):
            for exact, under, original in prefixes:
                if path == exact or path.startswith(under):
                    held[original].add(int(entry))
    return held


def tree_size(path: Path) -> int:
    """Bytes of the files under `path`, each inode once (the clone hard-links the snapshot's files)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def _rmtree(path: Path) -> None:
    def gone_already(function: object, name: str, exc_info: object) -> None:
        if os.path.lexists(name):  # another cleanup may have removed it a moment before: that is fine
            raise OSError(f"cannot remove {name}")

    shutil.rmtree(path, onerror=gone_already)


@dataclass
class Cleanup:
    """What one cleanup removed, and what it kept with the reason."""

    flatkv_dir: Path
    removed: list[Path] = field(default_factory=list)
    kept: list[tuple[Path, str]] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"removed {len(self.removed)} seidb clone dir(s) from {self.flatkv_dir}"]
        parts += [f"kept {path.name} ({why})" for path, why in self.kept]
        return "; ".join(parts)


def _ours(path: Path) -> str | None:
    """Why `path` is not a clone we may remove, or None when it is (rule 1)."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return "gone"
    if not path.is_dir() or path.is_symlink():
        return "not a directory"
    if st.st_uid != os.geteuid():
        return f"owned by uid {st.st_uid}, not us"
    return None


def remove_clones(flatkv_dir: Path, candidates: Iterable[str]) -> Cleanup:
    """Remove the named clone dirs that are ours and unheld (rules 1 and 3); report the rest."""
    report = Cleanup(flatkv_dir)
    paths = []
    for name in sorted(candidates):
        path = flatkv_dir / name
        why = _ours(path)
        if why == "gone":
            continue
        if why is not None:
            report.kept.append((path, why))
        else:
            paths.append(path)
    for path, pids in holders(paths).items():
        if pids:
            report.kept.append((path, f"held by pid {', '.join(map(str, sorted(pids)))}"))
            continue
        try:
            _rmtree(path)
            report.removed.append(path)
        except OSError as exc:
            report.kept.append((path, f"could not remove: {exc}"))
    return report


def remove_new(flatkv_dir: Path, before: Iterable[str]) -> Cleanup:
    """After a killed scan: remove the clone dirs that appeared since `before` (rule 2) and that are ours and unheld."""
    return remove_clones(flatkv_dir, clone_names(flatkv_dir) - set(before))


@dataclass(frozen=True)
class StaleClone:
    path: Path
    size: int
    age_s: float
    held_by: tuple[int, ...]
    removed: bool
    why_kept: str | None

    def describe(self) -> str:
        age = f"{self.age_s / 3600:.1f} h" if self.age_s >= 3600 else f"{self.age_s / 60:.0f} min"
        state = "removed" if self.removed else f"kept: {self.why_kept}"
        return f"stale seidb clone {self.path} ({self.size / 2**20:.1f} MiB, {age} old) {state}"


def stale_clones(flatkv_dir: Path, *, remove_older_than: float | None) -> list[StaleClone]:
    """Every clone dir in the FlatKV dir with size and age; those older than `remove_older_than` seconds,
    ours and unheld are removed (None: report only). A held clone is never touched."""
    now = time.time()
    found = []
    names = sorted(clone_names(flatkv_dir))
    held = holders([flatkv_dir / name for name in names])
    for name in names:
        path = flatkv_dir / name
        try:
            age = max(0.0, now - path.lstat().st_mtime)
        except FileNotFoundError:
            continue
        size = tree_size(path)
        pids = tuple(sorted(held[path]))
        why = _ours(path) or (f"held by pid {', '.join(map(str, pids))}" if pids else None)
        if why is None and (remove_older_than is None or age < remove_older_than):
            why = "younger than the stale age" if remove_older_than is not None else "report only"
        removed = False
        if why is None:
            report = remove_clones(flatkv_dir, [name])
            removed = path in report.removed
            why = None if removed else report.kept[0][1] if report.kept else "could not remove"
        found.append(StaleClone(path, size, age, pids, removed, why))
    return found
