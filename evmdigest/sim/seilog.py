"""The two log streams the real seidb writes besides its report.

- seilog (sei-db's structured logger): `time=<RFC3339 ms, UTC> level=INFO msg="..." logger=<name> k=v`,
  to stdout unless `SEI_LOG_OUTPUT=stderr` (or an absolute file path); `SEI_LOG_LEVEL` filters,
  `SEI_LOG_FORMAT=json` switches to JSON lines. The real build prints text (as recorded).
- pebble's chatter (Go's standard `log`): `2026/11/27 15:29:30 Found 1 WALs`, always on stderr.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime
from typing import TextIO

FLATKV_LOGGER = "db/state-db/sc/flatkv"
MEMIAVL_LOGGER = "db/state-db/sc/memiavl"
_LEVELS = {"DEBUG": -4, "INFO": 0, "WARN": 4, "ERROR": 8}

Value = str | int | float


def _text_value(value: Value) -> str:
    text = str(value)
    # slog's TextHandler quotes empty values and those with spaces, '=', '"' or unprintable runes
    if text and text.isprintable() and not any(char in ' ="' for char in text):
        return text
    return json.dumps(text, ensure_ascii=False)  # Go's strconv.Quote for printable text


class Logs:
    """Writes both streams; one instance per process (env is read once, like seilog's init)."""

    def __init__(self) -> None:
        output = os.environ.get("SEI_LOG_OUTPUT", "stdout")
        self._file: TextIO | None = None
        if output == "stderr":
            self._stream: TextIO = sys.stderr
        elif output.startswith("/") and ".." not in output.split("/"):
            self._file = open(output, "a", encoding="utf-8")  # noqa: SIM115 - held for the process
            os.chmod(output, 0o600)
            self._stream = self._file
        else:
            self._stream = sys.stdout
        self._min_level = _LEVELS.get(os.environ.get("SEI_LOG_LEVEL", "info").upper(), 0)
        self._json = os.environ.get("SEI_LOG_FORMAT", "text").lower() == "json"

    def log(self, level: str, logger: str, msg: str, **attrs: Value) -> None:
        if _LEVELS[level] < self._min_level:
            return
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if self._json:
            line = json.dumps({"time": now, "level": level, "msg": msg, "logger": logger, **attrs})
        else:
            parts = [f"time={now}", f"level={level}", f"msg={_text_value(msg)}", f"logger={logger}"]
            line = " ".join(parts + [f"{key}={_text_value(value)}" for key, value in attrs.items()])
        self._stream.write(line + "\n")
        self._stream.flush()

    def info(self, logger: str, msg: str, **attrs: Value) -> None:
        self.log("INFO", logger, msg, **attrs)

    def pebble(self, text: str) -> None:
        """A line of pebble's chatter: Go's `log` prefix (local time), stderr."""
        sys.stderr.write(time.strftime("%Y/%m/%d %H:%M:%S ") + text + "\n")
        sys.stderr.flush()
