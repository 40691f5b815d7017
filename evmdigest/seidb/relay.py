"""Relay seidb's narration into a log without flooding it: progress lines are rate-limited, and cobra's
usage text after an error is not relayed (the failure itself is one classified line: failures.py)."""

from __future__ import annotations

import time
from collections.abc import Callable

PROGRESS_PREFIXES = ("  progress ", "  ...")


class LineRelay:
    """Forward every line except progress lines, of which at most one per `min_interval` seconds passes."""

    def __init__(self, emit: Callable[[str], None], *, min_interval: float = 2.0) -> None:
        self._emit = emit
        self._min_interval = min_interval
        self._last_progress = float("-inf")
        self._pending: str | None = None
        self._error_seen = False
        self._usage = False
        self.lines_seen = 0

    def __call__(self, stream: str, line: str) -> None:
        self.lines_seen += 1
        if not line.strip():
            return
        if stream == "stderr":
            # cobra prints `Error: …`, then the command's whole usage, then exits
            self._usage = self._usage or (self._error_seen and line == "Usage:")
            self._error_seen = self._error_seen or line.startswith("Error: ")
            if self._usage:
                return
        text = line if stream == "stdout" else f"[stderr] {line}"
        if line.startswith(PROGRESS_PREFIXES):
            now = time.monotonic()
            if now - self._last_progress < self._min_interval:
                self._pending = text  # the newest progress wins; flush() reports it at the end
                return
            self._last_progress = now
        self._pending = None
        self._emit(text)

    def flush(self) -> None:
        if self._pending is not None:
            self._emit(self._pending)
            self._pending = None
