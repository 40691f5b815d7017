"""Relay seidb's output into a log at levels worth reading: each line is classified once, here.

- seilog's structured lines (`time=… level=… msg=… k=v`, or their JSON form) keep their own level;
  the log shows the message and the key=value fields (the time is the log's own).
- Storage-engine chatter (pebble through Go's `log`: `2026/11/27 15:29:30 Found 1 WALs`, `[JOB 1] …`)
  goes to DEBUG, unless it mentions an error.
- The report header is logged once: the banner's copy at INFO, the report's repeat at DEBUG.
- Raw progress lines go to DEBUG (the progress watcher logs a summary with rows/s and ETA instead);
  cobra's usage text after an error goes to DEBUG; `Error: …`, `panic: …` go to ERROR.
Every line, whatever its class, is kept in a bounded buffer (`raw_output`) for a failed scan's record.
"""

from __future__ import annotations

import json
import logging
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from evmdigest.seidb.textform import BANNER_HEADER, HEADER_KEYS, REPORT_HEADER

PROGRESS_PREFIXES = ("  progress ", "  ...")
RAW_LINES = 2000  # enough for a failed scan's whole output; progress and chatter are a few lines each
SEILOG_TEXT = re.compile(r"^time=\S+ level=(?P<level>\S+) msg=")
SEILOG_FIELD = re.compile(r'(?P<key>[^\s=]+)=(?P<value>"(?:[^"\\]|\\.)*"|\S*)')
GO_LOG_PREFIX = re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)? ")
# Engine lines carry no level; one that names a failure must not hide at DEBUG.
ENGINE_TROUBLE = re.compile(r"(?i)\b(error|fatal|panic|corrupt\w*|failed)\b")
ERROR_PREFIXES = ("Error: ", "panic: ", "fatal error: ")
_HEADER_PREFIXES = tuple(f"{key}: " for key in HEADER_KEYS)
_SLOG_LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARN": logging.WARNING, "ERROR": logging.ERROR}

LogFn = Callable[[int, str], None]


class Kind(StrEnum):
    BLANK = "blank"
    SEILOG = "seilog"
    ENGINE = "engine"
    ERROR = "error"
    USAGE = "usage"
    PROGRESS = "progress"
    BANNER = "banner"
    REPORT = "report"
    REPEAT = "repeat"  # a report header line the banner already showed
    OTHER = "other"


@dataclass(frozen=True)
class Classified:
    kind: Kind
    level: int
    text: str


def slog_level(name: str) -> int:
    """slog's level names, including offsets such as `INFO+2` (the base name decides)."""
    base = re.split(r"[+-]", name.upper(), maxsplit=1)[0]
    return _SLOG_LEVELS.get(base, logging.INFO)


def _unquote(value: str) -> str:
    if value.startswith('"'):
        try:
            text: str = json.loads(value)  # Go's strconv.Quote agrees with JSON for printable text
            return text
        except ValueError:
            return value
    return value


def _structured(message: str, fields: list[tuple[str, str]]) -> str:
    shown = " ".join(f"{key}={value}" for key, value in fields if key not in ("time", "level", "msg"))
    return f"{message} ({shown})" if shown else message


def parse_seilog(line: str) -> Classified | None:
    """A seilog line (text or JSON handler) as (level, `msg (k=v …)`), else None."""
    if SEILOG_TEXT.match(line):
        fields = [(m.group("key"), m.group("value")) for m in SEILOG_FIELD.finditer(line)]
        values = dict(fields)
        return Classified(Kind.SEILOG, slog_level(values["level"]), _structured(_unquote(values["msg"]), fields))
    if line.startswith("{") and '"msg"' in line:
        try:
            record = json.loads(line)
        except ValueError:
            return None
        if isinstance(record, dict) and {"time", "level", "msg"} <= record.keys():
            fields = [(str(k), v if isinstance(v, str) and " " not in v else json.dumps(v)) for k, v in record.items()]
            return Classified(Kind.SEILOG, slog_level(str(record["level"])), _structured(str(record["msg"]), fields))
    return None


class LineClassifier:
    """Classifies one scan's lines in order (the report section and cobra's usage text need context)."""

    def __init__(self) -> None:
        self._section: str | None = None
        self._banner: set[str] = set()
        self._error_seen = False
        self._usage = False

    def classify(self, stream: str, line: str) -> Classified:
        if not line.strip():
            if self._section == "banner":
                self._section = None  # the banner ends at its blank line; the report runs to the end
            return Classified(Kind.BLANK, logging.DEBUG, line)
        if stream == "stderr" and (self._usage or (self._error_seen and line == "Usage:")):
            self._usage = True  # cobra prints the command's usage after its error, then exits
            return Classified(Kind.USAGE, logging.DEBUG, line)
        seilog = parse_seilog(line)
        if seilog is not None:
            return seilog
        if GO_LOG_PREFIX.match(line):
            text = GO_LOG_PREFIX.sub("", line, count=1)
            level = logging.WARNING if ENGINE_TROUBLE.search(text) else logging.DEBUG
            return Classified(Kind.ENGINE, level, f"storage engine: {text}")
        if line.startswith(ERROR_PREFIXES):
            self._error_seen = True
            return Classified(Kind.ERROR, logging.ERROR, line)
        if line.startswith(PROGRESS_PREFIXES):
            return Classified(Kind.PROGRESS, logging.DEBUG, line)
        return self._report_line(line)

    def _report_line(self, line: str) -> Classified:
        if line == BANNER_HEADER:
            self._section = "banner"
            return Classified(Kind.BANNER, logging.INFO, line)
        if line == REPORT_HEADER:
            self._section = "report"
            return Classified(Kind.REPORT, logging.INFO, line)
        if line.startswith(_HEADER_PREFIXES):
            if self._section == "banner":
                self._banner.add(line)
                return Classified(Kind.BANNER, logging.INFO, line)
            if self._section == "report" and line in self._banner:
                return Classified(Kind.REPEAT, logging.DEBUG, line)
        kind = Kind.REPORT if self._section == "report" else Kind.OTHER
        return Classified(kind, logging.INFO, line)


class LineRelay:
    """`relay(stream, line)`: classify and log each line at its level; keep the raw output for failures."""

    def __init__(self, log: LogFn, *, keep_lines: int = RAW_LINES) -> None:
        self._log = log
        self._classifier = LineClassifier()
        self._raw: deque[str] = deque(maxlen=keep_lines)
        self.lines_seen = 0

    def __call__(self, stream: str, line: str) -> None:
        self.lines_seen += 1
        self._raw.append(line if stream == "stdout" else f"[stderr] {line}")
        item = self._classifier.classify(stream, line)
        if item.kind is not Kind.BLANK:
            self._log(item.level, item.text)

    def raw_output(self) -> str:
        """The last `keep_lines` lines as seidb printed them, stderr lines marked `[stderr]`."""
        return "\n".join(self._raw)

    @property
    def lines_kept(self) -> int:
        return len(self._raw)

    @property
    def raw_truncated(self) -> bool:
        return self.lines_seen > len(self._raw)
