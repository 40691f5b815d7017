"""Node digest records (composite, memiavl and flatkv nodes) from real reports, their schema, and the node's
verdict set: what is sealed at a height must agree with this run, in kind, digest and boundary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evmdigest.emit.folder import FolderSink
from evmdigest.models import MigrationStatus, NodeKind, Normalization
from evmdigest.segments import node_digest_key, parse_node_digest_key, record_key
from evmdigest.seidb import parse_report
from evmdigest.verdict.gate import VersionGateError
from evmdigest.verdict.node_records import NodeDigestRecord, node_digest, node_json_schema_text
from evmdigest.verdict.node_set import check_node_height
from evmdigest.verdict.publish import VerdictFlip, publish, publish_verdict
from evmdigest.verdict.records import compare
from evmdigest.verdict.verdict_set import VerdictSetConflict, check_height

REPO = Path(__file__).resolve().parents[2]
REAL = REPO / "tests" / "data" / "seidb-reports" / "real-73f917b"
H = 213200000


def _record(stem: str, normalization: Normalization | None = None, node: str = "node-a") -> NodeDigestRecord:
    return node_digest(H, parse_report((REAL / f"{stem}.stdout").read_bytes()), normalization, node=node)


def test_a_composite_record_carries_kind_boundary_and_both_versions() -> None:
    record = _record("mid-migration-clean.composite")
    assert (record.kind, record.endpoint, record.count) == (NodeKind.COMPOSITE, "composite", 300)
    assert record.boundary is not None and record.boundary.status is MigrationStatus.IN_PROGRESS
    assert (record.version, record.memiavl_version) == (H, H)
    assert record.marker_adjustments == ["migration/migration-boundary"]
    assert record.composite_counts is not None and record.composite_counts.flatkv_rows == 196
    # the verdict a re-run must reproduce names the boundary, never the time
    assert record.verdict()["boundary"] == {"status": "in_progress", "module": "evm", "key": record.boundary.key}
    assert "generated_at" not in record.verdict()
    # equal to the unmigrated reference node's memIAVL digest, as the real runs show
    reference = _record("mid-migration-clean.memiavl-semantic", Normalization.SEMANTIC, node="node-b")
    assert (reference.kind, reference.endpoint) == (NodeKind.MEMIAVL, "memiavl/semantic")
    assert (reference.digest, reference.per_bucket) == (record.digest, record.per_bucket)


def test_a_record_of_another_height_or_without_its_decoder_is_refused() -> None:
    report = parse_report((REAL / "clean.flatkv.stdout").read_bytes())
    with pytest.raises(VersionGateError):
        node_digest(H + 1, report)
    with pytest.raises(ValueError, match=r"^normalization:"):
        node_digest(H, parse_report((REAL / "clean.memiavl-semantic.stdout").read_bytes()))


def test_published_node_schema_is_current() -> None:
    published = (REPO / "schema" / "node-digest-record.schema.json").read_text()
    assert published == node_json_schema_text(), "regenerate with: .venv/bin/evm-digest schema --node-digest > ..."
    assert {"kind", "endpoint", "digest", "count", "per_bucket", "boundary"} <= set(json.loads(published)["properties"])


@pytest.mark.parametrize("endpoint", ["composite", "flatkv", "memiavl/semantic", "memiavl/translator"])
def test_node_digest_keys_round_trip(endpoint: str) -> None:
    key = node_digest_key(H, endpoint, "node-a")
    assert key == f"node-a/node-digest-{H}-{endpoint.replace('/', '-')}.json.gz"
    parsed = parse_node_digest_key(key)
    assert parsed is not None and (parsed.node, parsed.height, parsed.endpoint) == ("node-a", H, endpoint)
    with pytest.raises(ValueError, match=r"^endpoint:"):
        node_digest_key(H, "pair")


def test_the_node_verdict_set_refuses_another_kind_another_digest_and_a_pair_seal(tmp_path: Path) -> None:
    sink = FolderSink(tmp_path / "sealed")
    composite = _record("mid-migration-clean.composite")
    assert check_node_height(sink, H, NodeKind.COMPOSITE, {"composite": composite}, "node-a") == 0
    publish_verdict(sink, node_digest_key(H, "composite", "node-a"), composite)
    assert check_node_height(sink, H, NodeKind.COMPOSITE, {"composite": composite}, "node-a") == 1

    changed = _record("mid-migration-storage-changed.composite")
    with pytest.raises(VerdictSetConflict, match=r"\(composite\) is sealed with digest 5BA9D17A.* this run's 2DBEAE30"):
        check_node_height(sink, H, NodeKind.COMPOSITE, {"composite": changed}, "node-a")
    with pytest.raises(VerdictFlip, match="verdict flip at 213200000 \\(composite of a composite node\\)"):
        publish_verdict(sink, node_digest_key(H, "composite", "node-a"), changed)
    flatkv = _record("clean.flatkv")
    with pytest.raises(VerdictSetConflict, match="seals a composite node, this run declares flatkv"):
        check_node_height(sink, H, NodeKind.FLATKV, {"flatkv": flatkv}, "node-a")
    # a pair node's run at the height sees the node digest and refuses too
    report = parse_report((REAL / "clean.flatkv.stdout").read_bytes())
    memiavl = {Normalization.SEMANTIC: parse_report((REAL / "clean.memiavl-semantic.stdout").read_bytes())}
    with pytest.raises(VerdictSetConflict, match="seals it as a node digest"):
        check_height(sink, H, report, memiavl, "node-a")
    # and the other way round: a pair record there, a single-endpoint run refused
    publish(sink, record_key(H, Normalization.SEMANTIC, "node-b"), compare(H, Normalization.SEMANTIC, report,
            memiavl[Normalization.SEMANTIC], node="node-b"))  # fmt: skip
    with pytest.raises(VerdictSetConflict, match="seals it as a pair node, this run declares a flatkv node"):
        check_node_height(sink, H, NodeKind.FLATKV, {"flatkv": flatkv}, "node-b")
