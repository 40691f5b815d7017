"""Process-tree design: no seidb, grandchild or temporary Prefect server outlives its run.

This docstring is the one place the choices are written down (README links here).

- **Sessions.** Every seidb starts in its own session (= process group), so one `killpg` reaches it and
  whatever it forked, and a Ctrl-C on the terminal reaches only the CLI, which then decides.
- **Tags.** Two environment variables every descendant inherits: `EVMDIGEST_RUN_TAG`, a comma list of
  run tags (the `evm-digest` invocation's own tag, which the CLI puts in `os.environ` at start so the
  ephemeral Prefect server carries it too, plus the flow run id for the cancellation hook) and
  `EVMDIGEST_SCAN_ID`, one per seidb process. Killing by tag (`/proc/<pid>/environ`) catches a
  grandchild that left the group (setsid) or was orphaned; a process's tags cannot be changed by it later.
- **One stop policy** (`stop_processes`): SIGTERM to the group and every tagged process, a grace period
  (`SeidbCli.grace_period`, default 10 s) for them to go, then SIGKILL whatever is left. seidb (Go)
  has no SIGTERM handler, so it dies at once and leaves its FlatKV clone; the clone cleanup in
  `clones.py` then removes exactly the `.seidb-flatkv-tool-*` dirs that appeared during the scan and
  no live process holds. Timeout, cancellation, Ctrl-C and SIGTERM all end in this path.
- **pdeathsig.** `setpriv --pdeathsig KILL` in front of seidb: when the Python process dies, even by
  kill -9, the kernel kills seidb. It covers only the direct child, and fires when the spawning
  *thread* ends; a scan runs synchronously on its thread, so that thread lives as long as the scan.
- **Watchdog** (`watchdog.py`), for kill -9 of the CLI, which no handler sees: a small process in its own
  session reads a pipe whose write end only the CLI holds (O_CLOEXEC, so no child keeps it open).
  EOF means the CLI is gone, however it ended; the watchdog then stops every process still carrying
  the CLI's run tag (orphaned grandchildren, the ephemeral uvicorn server) and removes the new clones
  of the scans the journal lists.
- **Signals** (`guard.py`): SIGINT/SIGTERM to `evm-digest run` wake a watcher thread through the signal
  wakeup fd (Prefect replaces the Python-level SIGTERM handler during a flow run; the wakeup fd is
  written whatever handler runs). It asks every running scan to stop (`process.request_stop`: the
  stop policy, then the clone cleanup, in the scan's own thread), lets the main thread unwind and exits
  130 / 143, or forces the exit after a deadline.
- **Journal** (`clones.py`): a FlatKV-reading scan records its FlatKV dir and the clone dirs present
  before it started under `<state dir>/scans/` until its cleanup has run, so the cancellation hook
  (which may run in another process), the watchdog and the next preflight can clean up after it.
- **No subreaper.** PR_SET_CHILD_SUBREAPER on the CLI would make it the parent of orphaned grandchildren,
  which Python's subprocess never reaps (zombies until exit), and helps nothing once the CLI itself is
  killed; the watchdog is no ancestor of the scans, so it cannot be their subreaper. The tag sweep
  covers orphans instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

SCAN_TAG_ENV = "EVMDIGEST_SCAN_ID"
RUN_TAG_ENV = "EVMDIGEST_RUN_TAG"
TAG_SEPARATOR = ","
POLL_S = 0.05
DEFAULT_GRACE_S = 10.0  # SIGTERM -> SIGKILL; SeidbCli.grace_period overrides it per scan


def pdeathsig_prefix() -> list[str]:
    # A SIGKILLed parent cannot run cleanup, so the kernel must deliver the child's death signal.
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL"] if setpriv else []


def add_tag(existing: str | None, tag: str) -> str:
    """`existing` (a comma list or None) with `tag` appended once."""
    tags = [t for t in (existing or "").split(TAG_SEPARATOR) if t]
    return TAG_SEPARATOR.join(tags if tag in tags else [*tags, tag])


def _environ(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return []  # gone, a zombie, or not ours to read


def carries(pid: int, name: str, value: str) -> bool:
    """Does `pid` carry `value` in its tag variable `name` (a comma list)?"""
    prefix = f"{name}=".encode()
    for entry in _environ(pid):
        if entry.startswith(prefix):
            return value.encode() in entry[len(prefix) :].split(TAG_SEPARATOR.encode())
    return False


def _pids() -> Iterable[int]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            yield int(entry.name)


def pids_tagged(name: str, value: str) -> list[int]:
    """Live processes (not this one) carrying the tag."""
    me = os.getpid()
    return [pid for pid in _pids() if pid != me and carries(pid, name, value)]


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, process group) of a pid, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses
    return fields[0], int(fields[2])


def alive(pid: int) -> bool:
    """Running or stopped, not a zombie waiting to be reaped."""
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def group_members(pgid: int) -> list[int]:
    return [pid for pid in _pids() if (stat := _stat(pid)) is not None and stat[1] == pgid and stat[0] != "Z"]


def _targets(pgid: int | None, tag: tuple[str, str] | None) -> set[int]:
    found = set(group_members(pgid)) if pgid is not None else set()
    if tag is not None:
        found.update(pids_tagged(*tag))
    found.discard(os.getpid())
    return found


def _signal_all(pgid: int | None, pids: Iterable[int], signum: signal.Signals) -> None:
    if pgid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signum)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


def stop_processes(
    *,
    pgid: int | None = None,
    tag: tuple[str, str] | None = None,
    grace: float,
    reap: Callable[[], object] | None = None,
) -> list[int]:
    """THE stop policy: SIGTERM to the group and every tagged process, up to `grace` seconds for them to
    go, then SIGKILL whatever is left (found afresh, so a reused pid is never hit). `reap` (the direct
    child's wait) runs at the end. Returns the pids that were signalled."""
    targets = _targets(pgid, tag)
    _signal_all(pgid, targets, signal.SIGTERM)
    deadline = time.monotonic() + max(0.0, grace)
    while any(alive(pid) for pid in targets) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    leftovers = _targets(pgid, tag)
    if leftovers or any(alive(pid) for pid in targets):
        _signal_all(pgid, leftovers, signal.SIGKILL)
    if reap is not None:
        reap()
    return sorted(targets | leftovers)


class _Stop:
    """A process-wide request to stop every running command (set by the CLI's signal watcher)."""

    event = threading.Event()
    signum: int | None = None
    idle = threading.Condition()
    active = 0


def request_stop(signum: int) -> None:
    """Stop every command running now, and refuse new ones, in this process."""
    _Stop.signum = _Stop.signum or signum
    _Stop.event.set()


def stop_requested() -> int | None:
    """The signal that asked every command to stop, if one did."""
    return _Stop.signum if _Stop.event.is_set() else None


def wait_idle(timeout: float) -> bool:
    """Wait until no command runs in this process (each stopped and cleaned up); False on timeout."""
    with _Stop.idle:
        return _Stop.idle.wait_for(lambda: _Stop.active == 0, timeout=timeout)


def reset_stop() -> None:
    """Forget a stop request (tests; a CLI process never runs commands after one)."""
    _Stop.event.clear()
    _Stop.signum = None


@contextlib.contextmanager
def active_command() -> Iterator[None]:
    """Count a running command for `wait_idle`."""
    with _Stop.idle:
        _Stop.active += 1
    try:
        yield
    finally:
        with _Stop.idle:
            _Stop.active -= 1
            _Stop.idle.notify_all()
