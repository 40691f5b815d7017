"""The seidb contract layer: run seidb's commands and read what they print, failing closed.

Owns the generic safe process runner (process.py; procs.py holds the process-tree design, tags and the
one stop policy), FlatKV clone cleanup (clones.py, journal.py) and the FlatKV preflight (preflight.py),
signals and kill -9 for console commands (guard.py, watchdog.py), the one argv builder for every seidb
command (argv.py), `SeidbRunner` (runner.py), one parser per output form (parse.py: the digest report
in every generation), the renderer the simulator prints through (render.py), typed errors (errors.py)
with seidb's failures classified from their own texts (failures.py) and the log relay (relay.py).
"""

from evmdigest.seidb.argv import DigestRequest, FindHashRequest, InspectRequest, SeidbRequest, build_argv
from evmdigest.seidb.errors import ReportError, SeidbError, SeidbFailed, SeidbNotFound, SeidbTimeout
from evmdigest.seidb.parse import ReportParser, parse_report
from evmdigest.seidb.runner import ScanResult, SeidbRunner

__all__ = [
    "DigestRequest",
    "FindHashRequest",
    "InspectRequest",
    "ReportError",
    "ReportParser",
    "ScanResult",
    "SeidbError",
    "SeidbFailed",
    "SeidbNotFound",
    "SeidbRequest",
    "SeidbRunner",
    "SeidbTimeout",
    "build_argv",
    "parse_report",
]
