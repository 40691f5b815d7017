"""The seidb contract layer: run `seidb evm-logical-digest` and read its report, failing closed."""

from evmdigest.seidb.errors import ReportError, SeidbError, SeidbFailed, SeidbNotFound, SeidbTimeout
from evmdigest.seidb.parse import ReportParser, parse_report
from evmdigest.seidb.runner import DigestRequest, ScanResult, SeidbRunner, build_argv

__all__ = [
    "DigestRequest",
    "ReportError",
    "ReportParser",
    "ScanResult",
    "SeidbError",
    "SeidbFailed",
    "SeidbNotFound",
    "SeidbRunner",
    "SeidbTimeout",
    "build_argv",
    "parse_report",
]
