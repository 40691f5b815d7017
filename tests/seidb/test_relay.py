"""relay.py: every narration line reaches the log, progress lines at most once per interval, the last one flushed."""

from __future__ import annotations

from evmdigest.seidb.relay import LineRelay


def test_progress_is_rate_limited_and_the_newest_is_flushed() -> None:
    logged: list[str] = []
    relay = LineRelay(logged.append, min_interval=3600)
    for line in ["Scan progress:", "  progress rows=1", "  progress rows=2", "  progress rows=3", "", "done"]:
        relay("stdout", line)
    relay("stderr", "  progress rows=4")
    relay.flush()
    # rows=2 and rows=3 came within the interval; "done" superseded them; rows=4 was pending at the end.
    assert logged == ["Scan progress:", "  progress rows=1", "done", "[stderr]   progress rows=4"]
    assert relay.lines_seen == 7
