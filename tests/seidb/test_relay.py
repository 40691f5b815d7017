"""relay.py: seidb's lines at levels worth reading, on the real 73f917b outputs and seilog's JSON form."""

from __future__ import annotations

import logging
from pathlib import Path

from evmdigest.seidb.relay import Kind, LineClassifier, LineRelay, parse_seilog, slog_level

REAL = Path(__file__).resolve().parents[1] / "data" / "seidb-reports" / "real-73f917b"
DEBUG, INFO, WARNING, ERROR = logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR


def _relay(*streams: tuple[str, str]) -> tuple[list[tuple[int, str]], LineRelay]:
    logged: list[tuple[int, str]] = []
    relay = LineRelay(lambda level, text: logged.append((level, text)))
    for stream, text in streams:
        for line in text.splitlines():
            relay(stream, line)
    return logged, relay


def _at(logged: list[tuple[int, str]], level: int) -> list[str]:
    return [text for lvl, text in logged if lvl == level]


def test_a_clean_text_report_logs_its_header_once_and_its_seilog_lines_as_messages() -> None:
    logged, relay = _relay(("stdout", (REAL / "clean.flatkv.logs-on-stdout.stdout").read_text()))
    info = _at(logged, INFO)
    assert info.count("backend: flatkv") == 1 and info.count("version: 213200000") == 1
    assert _at(logged, DEBUG).count("backend: flatkv") == 1  # the report's repeat of the banner
    assert info.count("EVM logical digest start") == 1 and info.count("EVM logical digest report") == 1
    assert any(line.startswith("storage  count=228 bucket_digest=") for line in info)
    assert any(line.startswith("FINAL_DIGEST account+code+storage+misc count=300") for line in info)
    assert (
        "FlatKV LoadVersionReadOnly complete (logger=db/state-db/sc/flatkv targetVersion=213200000 "
        "version=213200000 elapsed=77.197314ms)"
    ) in info
    assert not any("time=" in text for _, text in logged)
    assert relay.lines_seen == len((REAL / "clean.flatkv.logs-on-stdout.stdout").read_text().splitlines())


def test_an_error_run_keeps_errors_at_error_engine_chatter_and_usage_at_debug() -> None:
    stdout = (REAL / "error.flatkv-above-latest.stdout").read_text()
    stderr = (REAL / "error.flatkv-above-latest.stderr").read_text()
    logged, relay = _relay(("stdout", stdout), ("stderr", stderr))
    errors = _at(logged, ERROR)
    assert errors[0].startswith("FlatKV LoadVersionReadOnly failed (logger=db/state-db/sc/flatkv targetVersion=")
    assert 'err="readonly version mismatch: requested 213200005, reached 213200001"' in errors[0]
    assert errors[1].startswith("Error: open flatkv read-only: failed to open FlatKV at version 213200005")
    debug = _at(logged, DEBUG)
    assert "storage engine: Found 1 WALs" in debug
    assert any(text.startswith("storage engine: [JOB 1] WAL 000002:") for text in debug)
    assert "Usage:" in debug and "Flags:" in debug
    shown = _at(logged, INFO) + _at(logged, WARNING) + errors
    assert not any("WALs" in text or text.startswith(("Usage:", "Flags:", "      --")) for text in shown)
    # the raw output keeps every line as printed, stderr marked
    raw = relay.raw_output().splitlines()
    assert raw[0] == stdout.splitlines()[0]
    assert "[stderr] Usage:" in raw and any(line.endswith(" Found 1 WALs") for line in raw)
    assert not relay.raw_truncated


def test_progress_lines_go_to_debug_and_engine_trouble_to_warning() -> None:
    classifier = LineClassifier()
    progress = classifier.classify("stdout", "  progress backend=flatkv input_physical_rows=20000000 digested")
    assert (progress.kind, progress.level) == (Kind.PROGRESS, DEBUG)
    trouble = classifier.classify("stderr", "2026/11/27 15:29:30 [JOB 3] background error: pebble: corrupt sstable")
    assert (trouble.kind, trouble.level) == (Kind.ENGINE, WARNING)
    other = classifier.classify("stderr", "something seidb printed")
    assert (other.kind, other.level) == (Kind.OTHER, INFO)
    assert classifier.classify("stderr", "Usage:").kind is Kind.OTHER  # only after an error is it cobra's


def test_seilog_json_lines_and_level_names() -> None:
    line = '{"time":"2026-11-27T15:29:30.374Z","level":"WARN","msg":"slow read","logger":"db","elapsed":"2s"}'
    parsed = parse_seilog(line)
    assert parsed is not None and parsed.level == WARNING
    assert parsed.text == "slow read (logger=db elapsed=2s)"
    assert parse_seilog('{"backend":"flatkv","version":1}') is None  # a --json report is no log line
    assert (slog_level("ERROR+2"), slog_level("DEBUG"), slog_level("odd")) == (ERROR, DEBUG, INFO)


def test_the_raw_buffer_is_bounded_and_says_so() -> None:
    logged: list[tuple[int, str]] = []
    relay = LineRelay(lambda level, text: logged.append((level, text)), keep_lines=3)
    for n in range(5):
        relay("stdout", f"line {n}")
    assert relay.raw_output() == "line 2\nline 3\nline 4"
    assert relay.raw_truncated and relay.lines_kept == 3 and relay.lines_seen == 5
