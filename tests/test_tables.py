"""tables.py: the per-bucket table and the verdict markdown users read in artifacts."""

from __future__ import annotations

from evmdigest.models import DigestReport, Generation, Normalization
from evmdigest.seidb import parse_report
from evmdigest.seidb.render import render_text
from evmdigest.tables import DIGEST_SHOWN, bucket_table, display_rows, display_table, verdict_markdown
from evmdigest.verdict.outcome import PublishedRecord
from evmdigest.verdict.records import compare
from tests.golden import golden_json_line


def _report(case: str, generation: Generation = Generation.JSON) -> DigestReport:
    report = parse_report(golden_json_line(case))
    return report if generation is Generation.JSON else parse_report(render_text(report, generation))


def test_a_row_per_bucket_with_each_decoder_side_by_side() -> None:
    memiavl = {
        Normalization.SEMANTIC: _report("digest/memiavl-semantic-snapshot-h2"),
        Normalization.TRANSLATOR: _report("digest/memiavl-translator-snapshot-h2"),
    }
    table = bucket_table(_report("digest/flatkv-h2"), memiavl)
    assert list(table["bucket"]) == ["account", "code", "storage", "misc", "final"]
    assert list(table.columns)[:3] == ["bucket", "flatkv_count", "flatkv_digest"]
    assert table["memiavl_translator_match"].all() and table["memiavl_semantic_match"].all()


def test_the_fourth_row_is_legacy_only_when_every_report_is_seed_era() -> None:
    flatkv = _report("digest/flatkv-h2", Generation.LEGACY)
    legacy = {Normalization.SEMANTIC: _report("digest/memiavl-semantic-snapshot-h2", Generation.LEGACY)}
    mixed = {Normalization.SEMANTIC: _report("digest/memiavl-semantic-snapshot-h2", Generation.MISC)}
    assert bucket_table(flatkv, legacy)["bucket"][3] == "legacy"
    assert bucket_table(flatkv, mixed)["bucket"][3] == "misc"


def test_verdict_markdown_lists_each_record_and_marks_already_sealed() -> None:
    flatkv, memiavl = _report("digest/flatkv-h2"), _report("digest/memiavl-semantic-snapshot-h2")
    record = compare(2, Normalization.SEMANTIC, flatkv, memiavl, node="n")
    published = PublishedRecord(
        record=record, uri="file:///x/r.json.gz", uncompressed_sha256="ab" * 32, already_sealed=True
    )
    text = verdict_markdown(2, "n", bucket_table(flatkv, {Normalization.SEMANTIC: memiavl}), [published])
    assert text.startswith("# EVM logical digest at 2 on n\n")
    assert f"| semantic | MATCH (already sealed) | - | file:///x/r.json.gz | `{'ab' * 32}` |" in text


def test_display_table_puts_match_columns_first_and_shortens_digests() -> None:
    flatkv = _report("digest/flatkv-h2")
    memiavl = {
        Normalization.SEMANTIC: _report("digest/memiavl-semantic-snapshot-h2"),
        Normalization.TRANSLATOR: _report("digest/memiavl-translator-snapshot-h2"),
    }
    full = bucket_table(flatkv, memiavl)
    shown = display_table(full.to_dict(orient="records"))  # the raw outcome's rows, as the CLI has them
    assert list(shown.columns) == [
        "bucket", "semantic match", "translator match", "flatkv count", "semantic count", "translator count",
        "flatkv digest", "semantic digest", "translator digest",
    ]  # fmt: skip
    final = shown.iloc[-1]
    assert final["semantic match"] == final["translator match"] == "match"
    assert final["flatkv digest"] == flatkv.final.digest[:DIGEST_SHOWN] + "…"
    assert final["flatkv count"] == flatkv.final.count
    assert full["flatkv_digest"].iloc[-1] == flatkv.final.digest  # the raw table keeps full values
    assert display_rows(full)[0]["bucket"] == "account"


def test_a_mismatch_is_spelled_out_in_the_display_table() -> None:
    flatkv, memiavl = _report("digest/flatkv-h2"), _report("digest/memiavl-semantic-snapshot-h2")
    full = bucket_table(flatkv, {Normalization.SEMANTIC: memiavl})
    full.loc[2, "memiavl_semantic_match"] = False
    assert list(display_table(full)["semantic match"]) == ["match", "match", "MISMATCH", "match", "match"]
