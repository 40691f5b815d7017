"""board.py: a scan watched while seidb-sim really runs (paced by `slow`), shared references, the table.

The display here is an in-memory one (the protocol's whole surface: a bar and a log), not a mock:
it records what a person would have seen, in order.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from evmdigest.models import BUCKETS, Backend, Normalization
from evmdigest.progress import Phase, Reference, RunBoard, ScanWatch
from evmdigest.progress.lines import bucket_counts
from evmdigest.seidb import DigestRequest, SeidbRunner
from tests.plugins.sim import MakeNode


class Screen:
    def __init__(self) -> None:
        self.bars: list[tuple[float, str]] = []
        self.logs: list[tuple[float, int, str]] = []

    def progress(self, value: float, description: str) -> None:
        self.bars.append((value, description))

    def log(self, level: int, text: str) -> None:
        self.logs.append((time.monotonic(), level, text))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_paced_scan_climbs_to_100_and_logs_rate_and_time_left(
    sim_binary: Path, make_node: MakeNode, tmp_path: Path
) -> None:
    node = make_node(tmp_path, rows=2000, progress_every=50)
    node.set_faults("flatkv", slow=4.0)
    reference = Reference(bucket_counts(node.summary["rows"]), "previous segment")
    board = RunBoard(["flatkv"], {"flatkv": reference})
    screen = Screen()
    watch = ScanWatch(board.scan("flatkv"), screen, title="flatkv at 1000", board=board, interval=0.3, log_interval=1)
    watch.start()
    result = SeidbRunner(sim_binary, timeout=60).run_digest(
        DigestRequest(Backend.FLATKV, node.flatkv_dir, node.height), on_line=watch.on_line
    )
    watch.done({name: result.report.bucket(name).count for name in BUCKETS}, result.report.final.count)
    values = [value for value, _ in screen.bars]
    assert values == sorted(values) and values[0] == 0 and values[-1] == 100
    assert len({value for value in values if 0 < value < 100}) >= 3, screen.bars
    assert screen.bars[0][1].startswith("**opening**") and screen.bars[-1][1].startswith("**done**")
    assert len(screen.logs) >= 2 and all(level == logging.INFO for _, level, _ in screen.logs)
    assert all("rows/s" in text and " left" in text for _, _, text in screen.logs)
    gaps = [b[0] - a[0] for a, b in zip(screen.logs, screen.logs[1:], strict=False)]
    assert min(gaps) >= 0.9, gaps  # at most one progress line per log interval
    assert board.rows() == [{"scan": "flatkv", "state": "done", "rows": "2,000", "time left": ""}]


def test_a_finished_scan_is_the_reference_of_the_others_and_the_table_follows() -> None:
    clock = Clock()
    tables: list[list[dict[str, str]]] = []
    labels = ["flatkv", "memiavl/semantic"]
    board = RunBoard(labels, show_table=tables.append, table_interval=5, clock=clock)
    flatkv, memiavl = (ScanWatch(board.scan(name), Screen(), title=name, board=board, clock=clock) for name in labels)
    board.refresh_table(force=True)
    assert [row["state"] for row in tables[-1]] == ["pending", "pending"]
    flatkv.progress.start()
    flatkv.progress.feed("progress backend=flatkv input_physical_rows=300 digested account=0 code=0 storage=300 misc=0")
    board.refresh_table()  # changed, but within the interval: not shown
    assert len(tables) == 1
    memiavl.done({"account": 100, "code": 100, "storage": 700, "misc": 100}, 1000)  # a phase change: shown at once
    assert [row["state"] for row in tables[-1]] == ["scanning 30%", "done"]
    assert flatkv.progress.reference == Reference(
        {"account": 100, "code": 100, "storage": 700, "misc": 100}, "memiavl/semantic scan's final count"
    )
    clock.now += 5
    board.refresh_table()
    assert len(tables) == 2  # nothing changed since: nothing shown


def test_a_failed_scan_ends_its_bar_as_failed_and_keeps_its_value() -> None:
    board = RunBoard([f"memiavl/{Normalization.SEMANTIC.value}"])
    screen = Screen()
    watch = ScanWatch(board.scan("memiavl/semantic"), screen, title="memiavl/semantic at 7", board=board, interval=60)
    watch.start()
    watch.on_line("stderr", "Scan progress: memiavl input_leaves -> …")
    watch.end(Phase.FAILED, "seidb timed out after 3s and its process group was killed: seidb …")
    assert screen.bars[-1][0] == 0
    assert screen.bars[-1][1].startswith("**failed** · memiavl/semantic at 7 after ")
    assert screen.bars[-1][1].endswith(": seidb timed out after 3s and its process group was killed: seidb …")
    assert board.rows()[0]["state"] == "failed"
