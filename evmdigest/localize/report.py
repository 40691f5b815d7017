"""Publish a localization as a sealed divergence report, and show it (pandas table, markdown, summary).

Write-once like the verdict: no object at the key -> emit report + seal; the same payload already
there -> "already sealed" (a seal missing after a crash is completed, only for exactly our bytes);
a different payload there (other limits, or a store that changed) -> kept, never overwritten, and
said so (`existing_differs`). The record is the verdict; the report only explains it, so a differing
report is a warning, not a failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from evmdigest.emit import Sink, SinkConflict, digest_ndjson
from evmdigest.emit.seal import seal_key
from evmdigest.localize.model import DivergenceSummary, Localization, PublishedDivergence, RecordRef

TABLE_ROWS = 500


def publish_divergence(
    sink: Sink, key: str, localization: Localization, record: RecordRef | None
) -> PublishedDivergence:
    """Emit the report at `key` write-once (see the module docstring for an existing object)."""
    return publish_lines(sink, key, localization.lines(record))


def publish_lines(sink: Sink, key: str, lines: list[dict[str, Any]]) -> PublishedDivergence:
    """Any divergence report's lines (one node's or two nodes'), write-once at `key`."""
    try:
        result = sink.emit_ndjson(key, lines)
    except SinkConflict as conflict:
        return _existing(sink, key, lines, conflict)
    assert result.seal_uri is not None  # emit_ndjson always seals
    return PublishedDivergence(
        uri=result.uri, key=key, uncompressed_sha256=result.uncompressed_sha256, seal_uri=result.seal_uri
    )


def _existing(sink: Sink, key: str, lines: list[dict[str, Any]], conflict: SinkConflict) -> PublishedDivergence:
    ours = digest_ndjson(lines).uncompressed_sha256
    seal, completed = conflict.existing_seal, False
    if seal is None:
        try:
            seal, completed = sink.complete_seal(key, uncompressed_sha256=ours), True
        except SinkConflict:
            seal = None  # someone else's unsealed bytes: left alone
    sha = seal.uncompressed_sha256 if seal else sink.digest_object(key).uncompressed_sha256
    return PublishedDivergence(
        uri=sink.uri_for(key),
        key=key,
        uncompressed_sha256=sha,
        seal_uri=sink.uri_for(seal_key(key)),
        already_sealed=True,
        seal_completed=completed,
        existing_differs=sha != ours,
    )


def short(value: str | None, width: int = 12) -> str:
    """Head and tail of a long hex string: two values differing in their last byte still look different."""
    if value is None:
        return "-"
    half = width // 2
    return value if len(value) <= width + 2 else f"{value[:half]}…{value[-half:]}"


def divergence_table(localizations: Sequence[Localization], limit: int = TABLE_ROWS) -> pd.DataFrame:
    """A row per diverging key (first `limit`): decoded columns, short hex."""
    rows: list[dict[str, str]] = []
    for localization in localizations:
        for key in localization.keys:
            if len(rows) >= limit:
                break
            rows.append(
                {
                    "normalization": localization.normalization.value,
                    "bucket": key.bucket,
                    "change": key.change.value,
                    "kind": f"{key.kind} {key.kind_name or ''}".strip() if key.kind else "-",
                    "address": key.address or "-",
                    "slot": short(key.slot, 18),
                    "flatkv": short(key.flatkv),
                    "memiavl": short(key.memiavl),
                    "account_fields": ", ".join(key.account_diff or {}) or "-",
                    "key": short(key.key, 24),
                }
            )
    columns = ["normalization", "bucket", "change", "kind", "address", "slot", "flatkv", "memiavl"]
    return pd.DataFrame(rows, columns=[*columns, "account_fields", "key"])


def bucket_lines(localization: Localization) -> list[str]:
    """One line per mismatched bucket: status, keys, passes, and what was not done."""
    lines = []
    for bucket in localization.buckets:
        text = f"{bucket.bucket}: {bucket.status.value}, {bucket.keys_found} key(s), {bucket.passes} pass(es)"
        lines.append(f"{text} - {bucket.note}" if bucket.note else text)
    return lines


def divergence_markdown(summaries: Sequence[DivergenceSummary]) -> str:
    """The verdict markdown's localization section: status per normalization and its first keys."""
    if not summaries:
        return ""
    out = ["## Diverging keys", ""]
    for summary in summaries:
        name = summary.normalization.value
        if summary.error is not None:
            out += [f"**{name}**: localization failed: {summary.error}", ""]
            continue
        where = f" - {summary.published.uri}" if summary.published else ""
        status = summary.status.value if summary.status else "-"
        out += [f"**{name}**: {summary.keys_found} key(s), {status}{where}", ""]
        if summary.first_keys:
            out += ["| bucket | change | address | slot | key |", "|---|---|---|---|---|"]
            out += [
                f"| {k.bucket} | {k.change.value} | {k.address or '-'} | {short(k.slot, 18)} | `{k.key}` |"
                for k in summary.first_keys
            ]
            out.append("")
    return "\n".join(out) + "\n"


def divergence_lines(summaries: Sequence[DivergenceSummary]) -> list[str]:
    """What `evm-digest run` / `demo` print under the verdicts: per normalization, status and first keys."""
    lines = []
    for summary in summaries:
        name = summary.normalization.value
        if summary.error is not None:
            lines += ["", f"{name:<10} localization FAILED: {summary.error}"]
            continue
        status = summary.status.value if summary.status else "-"
        shown = f", first {len(summary.first_keys)}" if len(summary.first_keys) < summary.keys_found else ""
        lines += ["", f"{name:<10} diverging keys: {summary.keys_found} ({status}{shown}), {summary.passes} pass(es)"]
        for key in summary.first_keys:
            where = f"{key.address or key.key}" + (f" slot {short(key.slot, 16)}" if key.slot else "")
            fields = f" [{', '.join(key.account_diff)}]" if key.account_diff else ""
            values = f"flatkv {short(key.flatkv)} memiavl {short(key.memiavl)}"
            lines.append(f"  {key.bucket:<8} {key.change.value:<19} {where}  {values}{fields}")
        if summary.published is not None:
            sealed = " already sealed" if summary.published.already_sealed else ""
            lines.append(f"  report  {summary.published.uri}{sealed}")
    return lines
