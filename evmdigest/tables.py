"""pandas views of a gate run: the per-bucket table users read in artifacts and in the terminal."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from evmdigest.models import BUCKETS, DigestReport, Normalization, bucket_label
from evmdigest.verdict.outcome import PublishedRecord


def bucket_table(flatkv: DigestReport, memiavl: Mapping[Normalization, DigestReport]) -> pd.DataFrame:
    """A row per bucket (account, code, storage, misc|legacy, final); FlatKV and each memiavl side."""
    generations = [flatkv.generation, *(report.generation for report in memiavl.values())]
    rows = []
    for name in (*BUCKETS, "final"):
        left = flatkv.bucket(name)
        row: dict[str, object] = {
            "bucket": bucket_label(name, generations),
            "flatkv_count": left.count,
            "flatkv_digest": left.digest,
        }
        for normalization, report in memiavl.items():
            right = report.bucket(name)
            prefix = f"memiavl_{normalization.value}"
            row[f"{prefix}_count"] = right.count
            row[f"{prefix}_digest"] = right.digest
            row[f"{prefix}_match"] = right == left
        rows.append(row)
    return pd.DataFrame(rows)


def verdict_markdown(height: int, node: str | None, table: pd.DataFrame, published: Sequence[PublishedRecord]) -> str:
    lines = [f"# EVM logical digest at {height}" + (f" on {node}" if node else ""), ""]
    lines += ["| normalization | verdict | mismatched | object | uncompressed sha256 |", "|---|---|---|---|---|"]
    for item in published:
        record = item.record
        verdict = "MATCH" if record.match else "MISMATCH"
        if item.already_sealed:
            verdict += " (already sealed)"
        mismatched = ", ".join(record.mismatched_buckets) or "-"
        lines.append(
            f"| {record.normalization.value} | {verdict} | {mismatched} | {item.uri} | `{item.uncompressed_sha256}` |"
        )
    lines += ["", "## Per-bucket digests", "", table.to_markdown(index=False), ""]
    lines.append("Verify any object with `evm-digest verify <uri>`.")
    lines.append("`balance` is never proved: the semantic decoder zeroes it.")
    return "\n".join(lines) + "\n"
