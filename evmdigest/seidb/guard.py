"""SIGINT, SIGTERM and kill -9 for a console command that runs scans (`evm-digest run`, `demo`, `fleet`;
later `localize`): stop the scans, leave nothing behind, exit 130 / 143 within seconds.

`guarded(fn)` runs `fn` (the command) under a RunGuard, which at start
- adds a fresh run tag to `EVMDIGEST_RUN_TAG` in `os.environ`, so everything started from here on
  (every seidb, its grandchildren, the ephemeral Prefect server) carries it;
- starts the kill -9 watchdog for that tag (watchdog.py);
- installs SIGINT/SIGTERM handlers AND a signal wakeup fd read by a watcher thread. Prefect swaps in its
  own SIGTERM handler while a flow runs (it raises in the main thread and re-sends the signal only
  after the flow has unwound, which used to wait for the scan timeout), but the wakeup fd is written
  whichever Python handler runs, so the watcher always hears the signal at once.

On a signal the watcher asks every running scan to stop (`procs.request_stop`: each applies the stop
policy and removes its new FlatKV clone in its own thread, and no new scan starts), waits for them,
then gives the main thread UNWIND_S to finish (Prefect reports the run as crashed); if it has not, it
stops everything carrying the run tag and exits with `os._exit`. Either way the exit code is 128 +
the signal (130 SIGINT, 143 SIGTERM) and one line on stderr says so. procs.py has the whole design.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import uuid
from collections.abc import Callable
from types import FrameType
from typing import Any

from evmdigest.seidb.journal import stop_run
from evmdigest.seidb.procs import DEFAULT_GRACE_S, RUN_TAG_ENV, add_tag, request_stop, wait_idle
from evmdigest.seidb.watchdog import start as start_watchdog

UNWIND_S = 10.0
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunGuard:
    """See the module docstring. `start()` in the main thread; `close()` when the command returns."""

    def __init__(self, *, grace: float = DEFAULT_GRACE_S) -> None:
        self.grace = grace
        self.tag = uuid.uuid4().hex
        self.signum: int | None = None
        self.watchdog_fd: int | None = None
        self._previous_env: str | None = None
        self._previous_handlers: dict[int, Any] = {}
        self._previous_wakeup: int | None = None
        self._wakeup: tuple[int, int] | None = None
        self._finished = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> RunGuard:
        self._previous_env = os.environ.get(RUN_TAG_ENV)
        os.environ[RUN_TAG_ENV] = add_tag(self._previous_env, self.tag)
        self.watchdog_fd = start_watchdog(self.tag, grace=self.grace)
        if threading.current_thread() is not threading.main_thread():
            return self  # signals belong to the main thread; the watchdog still covers kill -9
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        self._wakeup = (read_end, write_end)
        self._previous_wakeup = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        for signum in SIGNALS:
            self._previous_handlers[signum] = signal.signal(signum, self._on_signal)
        threading.Thread(target=self._watch, args=(read_end,), name="evmdigest-signals", daemon=True).start()
        return self

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._begin_stop(signum)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)

    def _begin_stop(self, signum: int) -> bool:
        with self._lock:
            first = self.signum is None
            self.signum = self.signum or signum
        request_stop(signum)
        return first

    def _watch(self, read_end: int) -> None:
        try:
            while True:
                data = os.read(read_end, 64)
                if not data or 0 in data:  # closed, or close()'s wake-up byte
                    return
                signals = [b for b in data if b in SIGNALS]
                if signals and self._begin_stop(signals[0]):
                    self._see_it_through()
                    return
        finally:
            os.close(read_end)

    def _see_it_through(self) -> None:
        """The scans stop in their own threads; then the main thread gets UNWIND_S, or we end it all."""
        wait_idle(self.grace + UNWIND_S)
        if self._finished.wait(UNWIND_S):
            return
        stopped = stop_run(self.tag, grace=min(self.grace, 2.0))
        code = 128 + (self.signum or signal.SIGTERM)
        print(f"evm-digest: {self._describe()}; the run did not unwind in time: {stopped.summary()}", file=sys.stderr)
        sys.stderr.flush()
        os._exit(code)

    def _describe(self) -> str:
        name = signal.Signals(self.signum).name if self.signum else "a signal"
        return f"interrupted by {name}"

    def exit_code(self, code: int | None) -> int:
        """128 + the signal when one arrived, else the command's own code."""
        if self.signum is not None:
            return 128 + self.signum
        return 2 if code is None else code

    def close(self) -> None:
        """Restore handlers and the wakeup fd; the watchdog pipe stays open until this process exits."""
        self._finished.set()
        if self._wakeup is not None:
            signal.set_wakeup_fd(self._previous_wakeup if self._previous_wakeup is not None else -1)
            for signum, handler in self._previous_handlers.items():
                signal.signal(signum, handler)
            write_end = self._wakeup[1]
            with contextlib.suppress(OSError):
                os.write(write_end, b"\0")
            os.close(write_end)
            self._wakeup = None
        if self._previous_env is None:
            os.environ.pop(RUN_TAG_ENV, None)
        else:
            os.environ[RUN_TAG_ENV] = self._previous_env

    def release_watchdog(self) -> None:
        """Close the watchdog's pipe now (tests; a command keeps it open until it exits)."""
        if self.watchdog_fd is not None:
            os.close(self.watchdog_fd)
            self.watchdog_fd = None


def guarded(command: Callable[[], int], *, grace: float = DEFAULT_GRACE_S) -> int:
    """Run `command` under a RunGuard; its exit code, or 130 / 143 when SIGINT / SIGTERM interrupted it."""
    guard = RunGuard(grace=grace).start()
    code: int | None = None
    try:
        code = command()
    except BaseException:
        if guard.signum is None:
            raise
    finally:
        guard.close()
    if guard.signum is not None:
        print(f"evm-digest: {guard._describe()}: scans stopped, their temporary clones removed", file=sys.stderr)
    return guard.exit_code(code)
