"""Showing scans while they run: a run's board (shared references, the in-flight table) and one watch per scan.

A `ScanWatch` owns a ticker thread that, at most every `interval` seconds, hands the scan's state to a
`ScanDisplay` (a progress bar with a description) and, at most every `log_interval` seconds and only
after a new progress line, logs a line with rows/s and time left. The reader threads only feed lines.
Displays must not raise: a progress bar that cannot be drawn must never fail a scan.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from evmdigest.progress.lines import Reference, bucket_counts
from evmdigest.progress.text import describe, log_line, table_row
from evmdigest.progress.tracker import Phase, ScanProgress, Snapshot

PROGRESS_INTERVAL = 2.0  # seconds between progress-bar updates of one scan
LOG_INTERVAL = 5.0  # seconds between progress log lines of one scan
TABLE_INTERVAL = 5.0  # seconds between in-flight table updates of a run (phase changes go at once)

TableFn = Callable[[list[dict[str, str]]], None]


class ScanDisplay(Protocol):
    def progress(self, value: float, description: str) -> None: ...

    def log(self, level: int, text: str) -> None: ...


class RunBoard:
    """The scans of one run: references they share, and the table of their states."""

    def __init__(
        self,
        labels: Sequence[str],
        references: Mapping[str, Reference] | None = None,
        *,
        show_table: TableFn | None = None,
        table_interval: float = TABLE_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        references = references or {}
        self._scans = {label: ScanProgress(label, references.get(label), clock=clock) for label in labels}
        self._lock = threading.Lock()
        self._table_lock = threading.Lock()
        self._show_table = show_table
        self._table_interval = table_interval
        self._table_at = float("-inf")
        self._table_shown: list[dict[str, str]] | None = None

    def scan(self, label: str) -> ScanProgress:
        with self._lock:
            if label not in self._scans:
                self._scans[label] = ScanProgress(label, clock=self._clock)
            return self._scans[label]

    def finished(self, label: str, counts: Mapping[str, int]) -> None:
        """A scan's final bucket counts become the reference of every scan still without one."""
        reference = Reference(bucket_counts(counts), f"{label} scan's final count")
        with self._lock:
            others = [scan for name, scan in self._scans.items() if name != label]
        for scan in others:
            scan.set_reference(reference)

    def rows(self) -> list[dict[str, str]]:
        with self._lock:
            scans = list(self._scans.values())
        return [table_row(scan.snapshot()) for scan in scans]

    def refresh_table(self, *, force: bool = False) -> None:
        """Show the table if it changed, at most every `table_interval` seconds unless `force`d."""
        if self._show_table is None:
            return
        with self._table_lock:  # one writer at a time, so an older table never lands after a newer one
            rows = self.rows()
            now = self._clock()
            if rows == self._table_shown or (not force and now - self._table_at < self._table_interval):
                return
            self._table_at, self._table_shown = now, rows
            self._show_table(rows)


class ScanWatch:
    """One scan on display: `start()`, feed `on_line`, then `done(counts)` or `end(phase, reason)`."""

    def __init__(
        self,
        progress: ScanProgress,
        display: ScanDisplay,
        *,
        title: str,
        board: RunBoard | None = None,
        interval: float = PROGRESS_INTERVAL,
        log_interval: float = LOG_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.progress = progress
        self._display = display
        self._title = title
        self._board = board
        self._interval = interval
        self._log_interval = log_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._shown: tuple[float, str] | None = None
        self._phase_shown: Phase | None = None
        self._logged_at = float("-inf")
        self._logged_rows: int | None = None

    def start(self) -> None:
        self.progress.start()
        self._publish()
        # the display may depend on context variables (settings, run context): give the thread ours
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(self._loop,), name="scan-progress", daemon=True)
        self._thread.start()

    def on_line(self, stream: str, line: str) -> None:
        self.progress.feed(line)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._publish()

    def _publish(self) -> None:
        with self._lock:
            snap = self.progress.snapshot()
            shown = (snap.artifact_value, describe(snap, self._title))
            if shown != self._shown:
                self._shown = shown
                self._display.progress(*shown)
            self._maybe_log(snap)
            phase_changed = snap.phase is not self._phase_shown
            self._phase_shown = snap.phase
        if self._board is not None:
            self._board.refresh_table(force=phase_changed)

    def _maybe_log(self, snap: Snapshot) -> None:
        fresh = snap.rows is not None and snap.rows != self._logged_rows
        if snap.phase is Phase.SCANNING and fresh and self._clock() - self._logged_at >= self._log_interval:
            self._logged_at, self._logged_rows = self._clock(), snap.rows
            self._display.log(logging.INFO, log_line(snap))

    def _close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)

    def done(self, counts: Mapping[str, int], rows: int) -> None:
        """The report was parsed: 100%, and its counts become the reference of scans still without one."""
        self._close()
        self.progress.finish(Phase.DONE, rows=rows)
        if self._board is not None:
            self._board.finished(self.progress.label, counts)
        self._publish()

    def end(self, phase: Phase, reason: str) -> None:
        """The scan failed or was cancelled; the bar keeps its value and says so."""
        self._close()
        self.progress.finish(phase, reason=reason)
        self._publish()
