"""One scan's progress: phase, rows, percent against a reference, rate and time left.

Fed line by line from seidb's output (on the process runner's reader threads) and read as snapshots
by whoever shows it, so every access holds a lock. Without a reference there is no percent at all
(phases only); with one, the percent stays below 100 until the report is parsed, and never goes back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from evmdigest.progress.lines import ProgressLine, Reference, parse_progress
from evmdigest.seidb.textform import REPORT_HEADER

SCAN_STARTS = "Scan progress:"  # printed once the store is open, before the first row
FINALIZE_WORD = "finalize"
RUNNING_CAP = 99.0  # a scan is not 100% done until its report has been read


class Phase(StrEnum):
    PENDING = "pending"
    OPENING = "opening"
    SCANNING = "scanning"
    FINALIZING = "finalizing"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def ended(self) -> bool:
        return self in (Phase.DONE, Phase.FAILED, Phase.CANCELLED)


@dataclass(frozen=True)
class Snapshot:
    label: str
    phase: Phase
    rows: int | None  # logical rows digested so far (None before the first progress line)
    expected: int | None  # reference total in the same unit, when there is a reference
    percent: float | None  # None: phases only
    rate: float | None  # rows per second since the scan started
    eta: float | None  # seconds left, with a reference and a rate
    elapsed: float
    reference: Reference | None
    reason: str = ""  # why it failed or was cancelled

    @property
    def artifact_value(self) -> float:
        """What a progress bar shows: the percent; 0 until done when there is none; 100 when done."""
        if self.phase is Phase.DONE:
            return 100.0
        return self.percent or 0.0


class ScanProgress:
    def __init__(self, label: str, reference: Reference | None = None, *, clock: Callable[[], float] = time.monotonic):
        self.label = label
        self._clock = clock
        self._lock = threading.Lock()
        self._phase = Phase.PENDING
        self._reference = reference
        self._line: ProgressLine | None = None
        self._final_rows: int | None = None
        self._created = clock()
        self._scan_started: float | None = None
        self._last_at: float | None = None
        self._ended_at: float | None = None
        self._shown = 0.0
        self._reason = ""

    @property
    def phase(self) -> Phase:
        with self._lock:
            return self._phase

    @property
    def reference(self) -> Reference | None:
        with self._lock:
            return self._reference

    def start(self) -> None:
        with self._lock:
            if self._phase is Phase.PENDING:
                self._phase, self._created = Phase.OPENING, self._clock()

    def set_reference(self, reference: Reference) -> bool:
        """Use `reference` if the scan has none yet; True if it was taken."""
        with self._lock:
            if self._reference is not None or self._phase.ended:
                return False
            self._reference = reference
            return True

    def feed(self, line: str) -> None:
        """One line of seidb's output (either stream)."""
        text = line.strip()
        if not text:
            return
        with self._lock:
            if self._phase.ended:
                return
            if text.startswith(SCAN_STARTS):
                self._scanning()
            elif text.startswith("progress "):
                parsed = parse_progress(text)
                if parsed is not None:
                    self._scanning()
                    self._line, self._last_at = parsed, self._clock()
            elif text.startswith(f"{FINALIZE_WORD} ") or text == REPORT_HEADER:
                self._phase = Phase.FINALIZING

    def _scanning(self) -> None:
        if self._phase in (Phase.PENDING, Phase.OPENING):
            self._phase, self._scan_started = Phase.SCANNING, self._clock()

    def finish(self, phase: Phase, *, rows: int | None = None, reason: str = "") -> None:
        """End the scan: DONE with the report's final row count, or FAILED/CANCELLED with a reason."""
        if not phase.ended:
            raise ValueError(f"phase: finish needs done, failed or cancelled, got {phase.value}")
        with self._lock:
            if self._phase.ended:
                return
            self._phase, self._reason, self._ended_at = phase, reason, self._clock()
            if rows is not None:
                self._final_rows = rows

    def snapshot(self) -> Snapshot:
        with self._lock:
            now = self._ended_at if self._ended_at is not None else self._clock()
            line, reference = self._line, self._reference
            rows = self._final_rows if self._final_rows is not None else (line.rows_done() if line else None)
            expected = reference.rows_expected(line) if reference is not None else None
            percent = None
            if expected is not None and rows is not None and self._phase is not Phase.DONE:
                measured = min(RUNNING_CAP, 100.0 * rows / expected) if expected > 0 else 0.0
                self._shown = max(self._shown, round(measured, 1))  # never goes back (new reference, say)
                percent = self._shown
            elif expected is not None and self._phase is Phase.DONE:
                percent = 100.0
            rate = self._rate(line)
            eta = None
            if rate and expected is not None and rows is not None and not self._phase.ended:
                since = now - (self._last_at or now)
                eta = max(0.0, (expected - rows) / rate - since)
            return Snapshot(
                label=self.label, phase=self._phase, rows=rows, expected=expected, percent=percent, rate=rate,
                eta=eta, elapsed=now - self._created, reference=reference, reason=self._reason,
            )  # fmt: skip

    def _rate(self, line: ProgressLine | None) -> float | None:
        if line is None or self._scan_started is None or self._last_at is None:
            return None
        seconds = self._last_at - self._scan_started
        return line.rows_done() / seconds if seconds > 0 and line.rows_done() > 0 else None
