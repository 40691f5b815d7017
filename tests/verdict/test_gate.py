"""The version gate: every scan must have opened exactly the requested height, or nothing is compared."""

from __future__ import annotations

import pytest

from evmdigest.models import DigestReport
from evmdigest.seidb import parse_report
from evmdigest.verdict.gate import VersionGateError, check_versions
from tests.golden import golden_json_line


def _report(case: str) -> DigestReport:
    return parse_report(golden_json_line(case))


def test_gate_names_backend_normalization_and_both_heights() -> None:
    good = _report("digest/flatkv-h4")
    stale = _report("digest/memiavl-semantic-snapshot-h2")
    with pytest.raises(VersionGateError) as err:
        check_versions(4, {"flatkv": good, "memiavl/translator": stale})
    assert err.value.failures == ["memiavl/translator opened version 2, requested 4"]


def test_current_snapshot_report_is_refused_for_an_explicit_height() -> None:
    current = _report("digest/memiavl-semantic-snapshot-current")  # requested 0, opened 2
    with pytest.raises(VersionGateError, match="requested_height 0"):
        check_versions(2, {"memiavl/semantic": current})
