"""Render a DigestReport in seidb's output forms (the simulator prints through this).

Line formats follow the contract: seed-era text names the fourth bucket `legacy`, later text `misc`,
and `--json` prints one object on one line.
"""

from __future__ import annotations

import json
from typing import Any

from evmdigest.models import BUCKETS, DigestReport, Generation


def header_lines(report: DigestReport, title: str) -> list[str]:
    lines = [title, f"backend: {report.backend.value}"]
    if report.mode:
        lines.append(f"mode: {report.mode}")
    lines += [
        f"db_dir: {report.db_dir or ''}",
        f"source: {report.source or ''}",
        f"requested_height: {report.requested_height}",
        f"version: {report.version}",
        f"normalization: {report.normalization or ''}",
    ]
    return lines


def render_text(report: DigestReport, generation: Generation) -> str:
    """The report section as that text generation prints it (no narration)."""
    if generation is Generation.JSON:
        raise ValueError("render_text renders the text generations; use render_json for --json")
    fourth = "legacy" if generation is Generation.LEGACY else "misc"
    lines = [*header_lines(report, "EVM logical digest report"), ""]
    for marker in report.marker_adjustments:
        lines += [f"flatkv_marker_adjustment: omitted {marker} from {fourth} bucket in final result", ""]
    census = report.zero_census
    if census is not None and generation is Generation.MISC:
        lines += [
            "Zero-value memiavl census",
            f"zero_accounts={census.zero_accounts} zero_codehash_rows={census.zero_codehash_rows} "
            f"empty_code_values={census.empty_code_values} zero_storage_slots={census.zero_storage_slots}",
            f"live_accounts_with_zero_codehash_row={census.live_accounts_with_zero_codehash_row} "
            f"live_accounts_without_codehash_row={census.live_accounts_without_codehash_row}",
            "",
        ]
    lines.append("Bucket digests (final digest inputs)")
    labels = {"account": "account  ", "code": "code     ", "storage": "storage  "}
    labels["misc"] = "legacy   " if fourth == "legacy" else "misc   "
    for name in BUCKETS:
        bucket = report.bucket(name)
        lines.append(f"{labels[name]}count={bucket.count} bucket_digest={bucket.digest}")
    lines += ["", f"FINAL_DIGEST account+code+storage+{fourth} count={report.final.count} digest={report.final.digest}"]
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
        obj["migration_boundary"] = report.migration_boundary.boundary_text()
    for name in (*BUCKETS, "final"):
        bucket = report.bucket(name)
        obj[name] = {"count": bucket.count, "digest": bucket.digest}
    return obj


def render_json(report: DigestReport) -> str:
    return json.dumps(json_object(report), separators=(",", ":")) + "\n"
