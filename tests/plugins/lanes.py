"""Lane enforcement: a lane that CI says must run may not be skipped silently.

`EVMDIGEST_REQUIRED_LANES` (comma-separated marker names, set by .ci/run when the machine can run
them) turns any skipped test carrying one of those markers into a failed session.
"""

from __future__ import annotations

import os

import pytest

_skipped_required: list[str] = []


def _required_lanes() -> set[str]:
    raw = os.environ.get("EVMDIGEST_REQUIRED_LANES", "")
    return {lane.strip() for lane in raw.split(",") if lane.strip()}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not report.skipped:
        return
    required = _required_lanes()
    lanes = required.intersection(report.keywords)
    if lanes:
        _skipped_required.append(f"{report.nodeid} (lane {', '.join(sorted(lanes))})")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped_required and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _skipped_required:
        terminalreporter.section("required lanes were skipped", red=True)
        for line in _skipped_required:
            terminalreporter.line(f"SKIPPED BUT REQUIRED: {line}")
