"""Progress a person can watch: seidb's progress lines, expected rows, percent, rate and time left.

lines.py (the progress-line parser and the comparable row count), reference.py (expected rows from
the newest sealed record), tracker.py (one scan's phase and numbers), text.py (what people read),
board.py (a run's shared references and table; a ticker per scan feeding a display). No Prefect here:
flows/progress.py draws the display as Prefect artifacts.
"""

from evmdigest.progress.board import RunBoard, ScanDisplay, ScanWatch
from evmdigest.progress.lines import ProgressLine, Reference, parse_progress
from evmdigest.progress.reference import References, sealed_references
from evmdigest.progress.tracker import Phase, ScanProgress, Snapshot

__all__ = [
    "Phase",
    "ProgressLine",
    "Reference",
    "References",
    "RunBoard",
    "ScanDisplay",
    "ScanProgress",
    "ScanWatch",
    "Snapshot",
    "parse_progress",
    "sealed_references",
]
