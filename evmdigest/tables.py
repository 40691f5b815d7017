"""pandas views of a gate run: the per-bucket table users read in artifacts and in the terminal.

`bucket_table` keeps every value (it is the run's raw outcome and the markdown verdict's table);
`display_table` is what people read at ~1400 px: match columns first, short headers, digests cut to
their first DIGEST_SHOWN hex characters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from evmdigest.models import BUCKETS, DigestReport, NodeKind, Normalization, bucket_label
from evmdigest.verdict.outcome import PublishedNodeDigest, PublishedRecord


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


def node_table(reports: Mapping[str, DigestReport]) -> pd.DataFrame:
    """A single-endpoint node's table: a row per bucket, the count and digest of each endpoint it scanned."""
    generations = [report.generation for report in reports.values()]
    rows = []
    for name in (*BUCKETS, "final"):
        row: dict[str, object] = {"bucket": bucket_label(name, generations)}
        for endpoint, report in reports.items():
            prefix = endpoint.replace("/", "_")  # memiavl_semantic_count reads as `semantic count`
            row[f"{prefix}_count"] = report.bucket(name).count
            row[f"{prefix}_digest"] = report.bucket(name).digest
        rows.append(row)
    return pd.DataFrame(rows)


DIGEST_SHOWN = 12  # hex characters: enough to tell digests apart by eye; full values are in the raw table


def short_digest(digest: object) -> object:
    return f"{digest[:DIGEST_SHOWN]}…" if isinstance(digest, str) and len(digest) > DIGEST_SHOWN else digest


def _side(column: str) -> str:
    """`flatkv_count` -> `flatkv`, `memiavl_semantic_digest` -> `semantic` (the decoder names the side)."""
    return column.removeprefix("memiavl_").rsplit("_", 1)[0]


def display_table(rows: pd.DataFrame | Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The bucket table as people read it: bucket, match per decoder, counts, then shortened digests."""
    table = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    order = ("_match", "_count", "_digest")
    columns = [c for suffix in order for c in table.columns if c.endswith(suffix)]
    shown = table[["bucket", *columns]].copy()
    for column in columns:
        if column.endswith("_match"):
            shown[column] = shown[column].map({True: "match", False: "MISMATCH"})
        elif column.endswith("_digest"):
            shown[column] = shown[column].map(short_digest)
    return shown.rename(columns={c: f"{_side(c)} {c.rsplit('_', 1)[1]}" for c in columns})


def display_rows(rows: pd.DataFrame | Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """display_table as JSON-ready rows (a table artifact's data)."""
    return [{str(k): v for k, v in row.items()} for row in display_table(rows).to_dict(orient="records")]


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


def node_markdown(
    height: int, node: str | None, kind: NodeKind, table: pd.DataFrame, published: Sequence[PublishedNodeDigest]
) -> str:
    lines = [f"# EVM logical digest at {height}" + (f" on {node}" if node else "") + f" ({kind.value} node)", ""]
    lines += ["| endpoint | FINAL digest | count | boundary | object | uncompressed sha256 |", "|---" * 6 + "|"]
    for item in published:
        record = item.record
        boundary = record.boundary.boundary_text() if record.boundary else "-"
        sealed = " (already sealed)" if item.already_sealed else ""
        lines.append(
            f"| {record.endpoint}{sealed} | `{record.digest}` | {record.count} | {boundary} | {item.uri} "
            f"| `{item.uncompressed_sha256}` |"
        )
    lines += ["", "## Per-bucket digests", "", table.to_markdown(index=False), ""]
    lines.append("A node of this kind is proved by other nodes: compare it in a fleet (`evm-digest fleet`).")
    lines.append("Verify any object with `evm-digest verify <uri>`.")
    return "\n".join(lines) + "\n"
