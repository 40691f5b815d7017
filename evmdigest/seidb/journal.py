"""The scan journal: which FlatKV dir a running scan may leave a clone in, readable by other processes.

A FlatKV-reading scan writes `<state dir>/scans/<id>.json` before seidb starts (the FlatKV dir, the
clone names present then, the run tags its processes carry, the owning Python process) and deletes it
once the scan is over and, if it was killed, its clone is removed. Whoever cleans up after a run that
could not clean up itself reads it: the cancellation hook (`stop_run`, maybe in the worker, after
Prefect killed the flow process), the kill -9 watchdog, and the next preflight (`recover` of entries
whose owner is dead). State dir: $EVMDIGEST_STATE_DIR, else `<tmp>/evmdigest-<uid>`.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from evmdigest.seidb.clones import Cleanup, clone_names, remove_new
from evmdigest.seidb.procs import RUN_TAG_ENV, TAG_SEPARATOR, stop_processes

STATE_DIR_ENV = "EVMDIGEST_STATE_DIR"


def journal_dir() -> Path:
    base = os.environ.get(STATE_DIR_ENV) or os.path.join(tempfile.gettempdir(), f"evmdigest-{os.geteuid()}")
    return Path(base) / "scans"


def _start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (so a reused pid is not taken for the owner)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()[19]


@dataclass(frozen=True)
class ScanEntry:
    path: Path
    flatkv_dir: Path
    before: tuple[str, ...]
    run_tags: tuple[str, ...]
    owner_pid: int
    owner_start: str | None

    def owner_alive(self) -> bool:
        started = _start_time(self.owner_pid)
        return started is not None and started == self.owner_start

    @classmethod
    def read(cls, path: Path) -> ScanEntry | None:
        try:
            raw = json.loads(path.read_text())
            return cls(
                path,
                Path(raw["flatkv_dir"]),
                tuple(raw["before"]),
                tuple(raw["run_tags"]),
                int(raw["owner_pid"]),
                raw["owner_start"],
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None  # half-written by a process killed mid-write, or not ours: ignored


class ClonedScan:
    """One FlatKV-reading scan's clone bookkeeping: snapshot before it starts, cleanup after a kill."""

    def __init__(self, flatkv_dir: Path, run_tags: str | None) -> None:
        self.flatkv_dir = flatkv_dir
        self.before = clone_names(flatkv_dir)
        self.path: Path | None = journal_dir() / f"{uuid.uuid4().hex}.json"
        entry = {
            "flatkv_dir": str(flatkv_dir),
            "before": sorted(self.before),
            "run_tags": [t for t in (run_tags or "").split(TAG_SEPARATOR) if t],
            "owner_pid": os.getpid(),
            "owner_start": _start_time(os.getpid()),
            "created": time.time(),
        }
        try:
            for directory in (self.path.parent.parent, self.path.parent):  # private to us, both levels
                directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(entry))
            tmp.replace(self.path)
        except OSError:
            # The journal only serves cleanups by other processes; the scan's own cleanup needs none of it.
            self.path = None

    def cleanup(self) -> Cleanup:
        return remove_new(self.flatkv_dir, self.before)

    def close(self) -> None:
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            self.path = None


def entries() -> list[ScanEntry]:
    try:
        paths = sorted(journal_dir().glob("*.json"))
    except OSError:
        return []
    return [entry for path in paths if (entry := ScanEntry.read(path)) is not None]


def recover(*, run_tag: str | None = None) -> list[Cleanup]:
    """Clean up after journaled scans: those of `run_tag` (already stopped by the caller), or with no
    tag, those whose owning process is dead. Each entry is removed once its cleanup ran."""
    done = []
    for entry in entries():
        if run_tag is not None and run_tag not in entry.run_tags:
            continue
        if run_tag is None and entry.owner_alive():
            continue
        done.append(remove_new(entry.flatkv_dir, entry.before))
        with contextlib.suppress(FileNotFoundError):
            entry.path.unlink()
    return done


@dataclass(frozen=True)
class RunStop:
    stopped: list[int]
    cleanups: list[Cleanup]

    def summary(self) -> str:
        removed = sum(len(c.removed) for c in self.cleanups)
        kept = [f"{path} ({why})" for c in self.cleanups for path, why in c.kept]
        text = f"stopped {len(self.stopped)} process(es), removed {removed} seidb clone dir(s)"
        return text + (f"; kept {', '.join(kept)}" if kept else "")


def stop_run(run_tag: str, *, grace: float) -> RunStop:
    """Stop every process carrying `run_tag` (the stop policy), then remove the clones its scans left."""
    stopped = stop_processes(tag=(RUN_TAG_ENV, run_tag), grace=grace)
    return RunStop(stopped, recover(run_tag=run_tag))
