"""tracker.py and text.py: phases, percent against a reference (capped, never back), rate, time left, wording."""

from __future__ import annotations

import pytest

from evmdigest.progress.lines import Reference
from evmdigest.progress.text import describe, duration, log_line, table_row
from evmdigest.progress.tracker import Phase, ScanProgress

REF = Reference({"account": 100, "code": 100, "storage": 700, "misc": 100}, "sealed record at height 900", 900)


class Clock:
    """Time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _line(done: int) -> str:
    return f"  progress backend=flatkv input_physical_rows={done} digested account=0 code=0 storage={done} misc=0"


def test_with_a_reference_the_percent_climbs_below_100_then_reaches_it_when_done() -> None:
    clock = Clock()
    scan = ScanProgress("flatkv", REF, clock=clock)
    assert scan.snapshot().phase is Phase.PENDING
    scan.start()
    assert scan.snapshot().phase is Phase.OPENING and scan.snapshot().artifact_value == 0
    clock.now += 5
    scan.feed("Scan progress: flatkv input_physical_rows -> normalized logical bucket counts")
    clock.now += 10
    scan.feed(_line(250))
    snap = scan.snapshot()
    assert (snap.phase, snap.percent, snap.rows, snap.expected) == (Phase.SCANNING, 25.0, 250, 1000)
    assert snap.rate == 25.0 and snap.eta == 30.0
    clock.now += 4
    assert scan.snapshot().eta == 26.0  # time passes between progress lines
    scan.feed(_line(1200))  # state grew since the sealed segment: hold below 100
    assert scan.snapshot().percent == 99.0 and scan.snapshot().eta == 0.0
    scan.feed("EVM logical digest report")
    assert scan.snapshot().phase is Phase.FINALIZING
    scan.finish(Phase.DONE, rows=1203)
    done = scan.snapshot()
    assert (done.phase, done.percent, done.artifact_value, done.rows) == (Phase.DONE, 100.0, 100.0, 1203)
    assert done.eta is None


def test_without_a_reference_there_is_no_percent_until_done() -> None:
    clock = Clock()
    scan = ScanProgress("memiavl/semantic", clock=clock)
    scan.start()
    scan.feed("Scan progress: memiavl input_leaves -> independently decoded EVM logical bucket counts")
    clock.now += 2
    scan.feed(_line(400))
    snap = scan.snapshot()
    assert (snap.percent, snap.eta, snap.artifact_value, snap.rate) == (None, None, 0.0, 200.0)
    assert "%" not in describe(snap, "memiavl/semantic at height 1000")
    assert "no reference count" in log_line(snap)
    scan.finish(Phase.DONE, rows=1000)
    assert scan.snapshot().artifact_value == 100.0


def test_a_later_reference_never_moves_the_bar_back() -> None:
    scan = ScanProgress("flatkv", Reference({"storage": 500}, "small"), clock=Clock())
    scan.start()
    scan.feed(_line(400))
    assert scan.snapshot().percent == 80.0
    assert not scan.set_reference(REF)  # the first reference stays
    other = ScanProgress("flatkv", clock=Clock())
    other.start()
    other.feed(_line(400))
    assert other.set_reference(REF) and other.snapshot().percent == 40.0


def test_failure_keeps_the_value_and_says_why() -> None:
    clock = Clock()
    scan = ScanProgress("flatkv", REF, clock=clock)
    scan.start()
    scan.feed(_line(300))
    clock.now += 65
    scan.finish(Phase.FAILED, reason="seidb exited with code 1: seidb evm-logical-digest …\n--- stdout ---")
    scan.feed(_line(900))  # lines after the end change nothing
    snap = scan.snapshot()
    assert (snap.phase, snap.artifact_value) == (Phase.FAILED, 30.0)
    text = describe(snap, "flatkv at height 1000")
    assert text == (
        "**failed** · flatkv at height 1000 after 1 min 5 s: seidb exited with code 1: seidb evm-logical-digest …"
    )
    assert table_row(snap)["state"] == "failed"
    with pytest.raises(ValueError, match="phase"):
        scan.finish(Phase.SCANNING)


def test_wording_of_the_bar_the_log_and_the_table() -> None:
    clock = Clock()
    scan = ScanProgress("flatkv", REF, clock=clock)
    scan.start()
    opening = describe(scan.snapshot(), "flatkv at height 1000")
    assert opening == "**opening** · flatkv at height 1000: opening the store"
    scan.feed("Scan progress: …")
    clock.now += 100
    scan.feed(_line(123456))
    snap = scan.snapshot()
    assert log_line(snap) == "flatkv: scanning 99% of ~1,000 rows (123,456 so far), 1,235 rows/s, <1 s left"
    assert table_row(snap) == {"scan": "flatkv", "state": "scanning 99%", "rows": "123,456", "time left": "<1 s"}
    assert "(expected rows from the sealed record at height 900)" in describe(snap, "x")


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.2, "<1 s"), (45, "45 s"), (725, "12 min 5 s"), (600, "10 min"), (7380, "2 h 3 min")]
)
def test_durations(seconds: float, text: str) -> None:
    assert duration(seconds) == text
