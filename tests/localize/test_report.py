"""The sealed divergence report: through the one emission path beside the record, verifiable, write-once,
deterministic (a re-run finds it already sealed), its lines valid against the published JSON Schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from evmdigest.emit import open_sink
from evmdigest.localize.model import (
    DivergenceHeader,
    DivergenceSummary,
    DivergentKey,
    Limits,
    ReportLine,
    divergence_json_schema_text,
)
from evmdigest.localize.report import divergence_markdown, divergence_table, publish_divergence
from evmdigest.localize.run import record_ref
from evmdigest.segments import divergence_key_for, record_key
from evmdigest.verdict.publish import publish
from tests.localize.helpers import HEIGHT, localize_dirs, verdict
from tests.plugins.sim import MakeNode

REPO = Path(__file__).resolve().parents[2]
EVM_DIGEST = str(Path(sys.executable).parent / "evm-digest")


def test_published_divergence_schema_is_current() -> None:
    published = (REPO / "schema" / "endpoint-divergence.schema.json").read_text()
    assert published == divergence_json_schema_text(), "regenerate: evm-digest schema --divergence > schema/..."
    schema = json.loads(published)
    assert {"DivergenceHeader", "DivergentKey"} <= set(schema["$defs"]) and len(schema["anyOf"]) == 2


def test_the_report_is_sealed_beside_its_record_verifies_and_a_rerun_finds_it_sealed(
    sim_binary: Path, make_node: MakeNode, tmp_path: Path
) -> None:
    node = make_node(tmp_path, height=HEIGHT, rows=600, diverge="account")
    sink = open_sink((tmp_path / "sealed").as_uri())
    record = verdict(sim_binary, node.flatkv_dir, node.memiavl_dir)
    key = record_key(HEIGHT, record.normalization, "node-a")
    published_record = publish(sink, key, record)
    divergence = divergence_key_for(key)
    assert divergence == f"node-a/endpoint-divergence-{HEIGHT}-semantic.ndjson.gz"

    localization = localize_dirs(sim_binary, node.flatkv_dir, node.memiavl_dir, record=record)
    first = publish_divergence(sink, divergence, localization, record_ref(published_record))
    assert not first.already_sealed and first.uri.endswith(divergence)
    lines = list(sink.iter_ndjson(divergence))
    header = DivergenceHeader.model_validate(lines[0])
    assert header.record is not None and header.record.key == key
    assert header.record.uncompressed_sha256 == published_record.uncompressed_sha256
    assert (header.keys_found, header.status.value, header.buckets[0].bucket) == (1, "complete", "account")
    keys = [DivergentKey.model_validate(line) for line in lines[1:]]
    assert keys == localization.keys
    assert [type(ReportLine.validate_python(line)) for line in lines] == [DivergenceHeader, DivergentKey]

    done = subprocess.run([EVM_DIGEST, "verify", first.uri], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["actual"] == first.uncompressed_sha256

    # a re-run: the record is already sealed, localization runs again and reproduces the report exactly
    again_record = publish(sink, key, verdict(sim_binary, node.flatkv_dir, node.memiavl_dir))
    again = localize_dirs(sim_binary, node.flatkv_dir, node.memiavl_dir, record=again_record.record)
    second = publish_divergence(sink, divergence, again, record_ref(again_record))
    assert second.already_sealed and not second.existing_differs
    assert second.uncompressed_sha256 == first.uncompressed_sha256

    # other limits give another report: the sealed one is kept and the difference said
    other = localize_dirs(sim_binary, node.flatkv_dir, node.memiavl_dir, record=record, limits=Limits(max_keys=7))
    kept = publish_divergence(sink, divergence, other, record_ref(published_record))
    assert kept.already_sealed and kept.existing_differs and kept.uncompressed_sha256 == first.uncompressed_sha256


def test_a_report_left_unsealed_by_a_crash_is_sealed_by_the_rerun(
    sim_binary: Path, make_node: MakeNode, tmp_path: Path
) -> None:
    node = make_node(tmp_path, height=HEIGHT, rows=300, diverge="code")
    sink = open_sink((tmp_path / "sealed").as_uri())
    localization = localize_dirs(sim_binary, node.flatkv_dir, node.memiavl_dir)
    key = f"endpoint-divergence-{HEIGHT}-semantic.ndjson.gz"
    first = publish_divergence(sink, key, localization, None)
    (tmp_path / "sealed" / f"{key}.seal.json").unlink()
    repaired = publish_divergence(sink, key, localization, None)
    assert repaired.seal_completed and repaired.uncompressed_sha256 == first.uncompressed_sha256
    assert (tmp_path / "sealed" / f"{key}.seal.json").exists()


def test_table_markdown_and_event_show_decoded_short_keys(
    sim_binary: Path, make_node: MakeNode, tmp_path: Path
) -> None:
    node = make_node(tmp_path, height=HEIGHT, rows=300, diverge="storage")
    localization = localize_dirs(sim_binary, node.flatkv_dir, node.memiavl_dir)
    (key,) = localization.keys
    table = divergence_table([localization])
    row = table.to_dict(orient="records")[0]
    assert (row["bucket"], row["kind"], row["address"], row["change"]) == (
        "storage",
        "03 storage",
        key.address,
        "changed",
    )
    assert row["flatkv"] != row["memiavl"] and "…" in row["flatkv"]  # head and tail: the last byte shows
    summary = DivergenceSummary.of(localization, None)
    assert key.key in divergence_markdown([summary])
    payload = summary.event_payload()
    assert payload["diverging_keys"] == 1 and payload["first_keys"][0]["key"] == key.key
    failed = DivergenceSummary(normalization=localization.normalization, error="seidb exited with code 1")
    assert "localization failed: seidb exited with code 1" in divergence_markdown([failed])
