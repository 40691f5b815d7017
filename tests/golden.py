"""Real seidb reports (sei-chain's golden test, via ../shared) and contract-shaped text renderings."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from evmdigest.models import DigestReport, Generation
from evmdigest.seidb.boundary import boundary_from_normalization
from evmdigest.seidb.render import header_lines, render_text

# A copy of ../shared/seidb-reports (see its SOURCE.md), kept in the repo so a clean clone can test.
GOLDEN = Path(__file__).resolve().parent / "data" / "seidb-reports" / "evm_logical_digest_golden.json"


@cache
def golden_reports() -> dict[str, dict[str, Any]]:
    """Every digest case of the golden file, keyed by its case name."""
    cases: dict[str, dict[str, Any]] = json.loads(GOLDEN.read_text())
    return {key: value for key, value in cases.items() if key.startswith("digest/")}


def as_printed(report: DigestReport) -> DigestReport:
    """The golden file replaced the normalization text; a composite TEXT report carries its migration
    boundary there, so put back the text seidb prints before rendering one."""
    boundary = report.migration_boundary
    if boundary is None:
        return report
    text = (
        f"flatkv rows plus memiavl rows not migrated by boundary={boundary.boundary_text()} "
        f"version_known=false migration_version=0 memiavl_version={boundary.memiavl_version}"
    )
    return report.model_copy(update={"normalization": text, "migration_boundary": boundary_from_normalization(text)})


def golden_json_line(case: str) -> str:
    return json.dumps(golden_reports()[case])


def with_narration(report: DigestReport, generation: Generation, *, banner_version: int | None = None) -> str:
    """Full stdout of a text run: banner (whose `version:` must be ignored), progress, then the report."""
    banner = header_lines(report, "EVM logical digest start")
    if banner_version is not None:
        banner = [f"version: {banner_version}" if line.startswith("version:") else line for line in banner]
    progress = [
        "Scan progress: flatkv input_physical_rows -> normalized logical bucket counts",
        f"  progress backend={report.backend.value} input_physical_rows=1000000 digested account=1 code=1",
        "FOUND-HASH bucket=storage keyhex=65766D2F03 logicalhex=21 rawhex=0021",
        f"  finalize backend={report.backend.value} account=3 code=1 storage=5 misc=1",
    ]
    return "\n".join([*banner, "", *progress, ""]) + "\n" + render_text(report, generation)
