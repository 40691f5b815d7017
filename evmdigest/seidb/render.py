"""Render a DigestReport in seidb's output forms (the simulator prints through this).

Line formats follow the contract: seed-era text names the fourth bucket `legacy`, later text `misc`,
and `--json` prints one object on one line.
"""

from __future__ import annotations

import json
from typing import Any

from evmdigest.models import BUCKETS, DigestReport, Generation, fourth_bucket_name
from evmdigest.seidb.textform import (
    BUCKETS_HEADER,
    CENSUS_HEADER,
    HEADER_KEYS,
    OMITTED_WHEN_EMPTY,
    REPORT_HEADER,
    final_label,
)


def header_lines(report: DigestReport, title: str) -> list[str]:
    lines = [title]
    for key in HEADER_KEYS:
        value = getattr(report, key)
        if value is None or value == "":
            if key in OMITTED_WHEN_EMPTY:
                continue
            value = ""
        lines.append(f"{key}: {value}")
    return lines


def render_text(report: DigestReport, generation: Generation) -> str:
    """The report section as that text generation prints it (no narration)."""
    if generation is Generation.JSON:
        raise ValueError("render_text renders the text generations; use render_json for --json")
    fourth = fourth_bucket_name(generation)
    lines = [*header_lines(report, REPORT_HEADER), ""]
    for marker in report.marker_adjustments:
        lines += [f"flatkv_marker_adjustment: omitted {marker} from {fourth} bucket in final result", ""]
    census = report.zero_census
    if census is not None and generation is Generation.MISC:
        lines += [
            CENSUS_HEADER,
            f"zero_accounts={census.zero_accounts} zero_codehash_rows={census.zero_codehash_rows} "
            f"empty_code_values={census.empty_code_values} zero_storage_slots={census.zero_storage_slots}",
            f"live_accounts_with_zero_codehash_row={census.live_accounts_with_zero_codehash_row} "
            f"live_accounts_without_codehash_row={census.live_accounts_without_codehash_row}",
            "",
        ]
    lines.append(BUCKETS_HEADER)
    # seidb pads the first three names to 9 columns and prints the fourth with three spaces after it.
    labels = {"account": "account  ", "code": "code     ", "storage": "storage  ", "misc": f"{fourth}   "}
    for name in BUCKETS:
        bucket = report.bucket(name)
        lines.append(f"{labels[name]}count={bucket.count} bucket_digest={bucket.digest}")
    final = report.final
    lines += ["", f"FINAL_DIGEST {final_label(fourth)} count={final.count} digest={final.digest}"]
    return "\n".join(lines) + "\n"


def json_object(report: DigestReport) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "backend": report.backend.value,
        "db_dir": report.db_dir or "",
        "source": report.source or "",
        "normalization": report.normalization or "",
        "requested_height": report.requested_height,
        "version": report.version,
        "marker_adjustments": list(report.marker_adjustments),
    }
    if report.mode:
        obj["mode"] = report.mode
    if report.zero_census is not None:
        obj["zero_census"] = report.zero_census.model_dump()
    if report.migration_boundary is not None:
        obj["migration_boundary"] = report.migration_boundary
    for name in (*BUCKETS, "final"):
        bucket = report.bucket(name)
        obj[name] = {"count": bucket.count, "digest": bucket.digest}
    return obj


def render_json(report: DigestReport) -> str:
    return json.dumps(json_object(report), separators=(",", ":")) + "\n"
