"""collect_node and publish_fleet on a real folder sink: sealed records in the per-node layout are read
back and checked against their seals; the fleet verdict is write-once like every record."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from evmdigest.emit import Sink, open_sink
from evmdigest.fleet.collect import GateEnd, GateRun, collect_node
from evmdigest.fleet.compare import compare_fleet
from evmdigest.fleet.nodes import parse_node_spec
from evmdigest.fleet.publish import publish_fleet
from evmdigest.fleet.verdict import FleetVerdict, NodeState
from evmdigest.models import Backend, BucketDigest, Generation, NodeKind, Normalization
from evmdigest.segments import fleet_key, node_digest_key, record_key
from evmdigest.verdict.node_records import NodeDigestRecord
from evmdigest.verdict.publish import VerdictFlip, publish, publish_verdict
from tests.fleet.records import BOTH, HEIGHT, entry, failed, record, state_digest

DONE = GateRun(GateEnd.COMPLETED, flow_run_id="run-1")


@pytest.fixture
def sink(tmp_path: Path) -> Sink:
    return open_sink((tmp_path / "sealed").as_uri())


def _seal(sink: Sink, node: str, **kwargs: str) -> None:
    for normalization in BOTH:
        publish(sink, record_key(HEIGHT, normalization, node), record(normalization, node=node, **kwargs))


def test_a_completed_gate_with_sealed_records_is_sealed_with_its_digests(sink: Sink) -> None:
    _seal(sink, "a")
    got = collect_node(sink, HEIGHT, BOTH, parse_node_spec("a=/f,/m"), DONE)
    assert got.state is NodeState.SEALED and got.own_match is True and got.flow_run_id == "run-1"
    assert set(got.endpoints) == {"flatkv", "memiavl/semantic", "memiavl/translator"}
    assert got.records["semantic"].uri == sink.uri_for(record_key(HEIGHT, Normalization.SEMANTIC, "a"))
    assert got.work_queue == "evm-digest-a"


def test_a_failed_gate_whose_records_show_a_mismatch_is_sealed_and_not_matching(sink: Sink) -> None:
    _seal(sink, "c", flatkv_change="storage")
    got = collect_node(sink, HEIGHT, BOTH, parse_node_spec("c=/f,/m"), GateRun(GateEnd.FAILED, "digest mismatch"))
    assert got.state is NodeState.SEALED and got.own_match is False
    assert got.own_mismatches == ["flatkv vs memiavl/semantic: storage", "flatkv vs memiavl/translator: storage"]


def test_a_failed_gate_over_earlier_matching_records_is_failed(sink: Sink) -> None:
    _seal(sink, "a")
    got = collect_node(sink, HEIGHT, BOTH, parse_node_spec("a=/f,/m"), GateRun(GateEnd.FAILED, "verdict flip at …"))
    assert got.state is NodeState.FAILED and got.message == "verdict flip at …" and got.endpoints == {}


def test_missing_or_tampered_records_make_the_node_failed(sink: Sink, tmp_path: Path) -> None:
    got = collect_node(sink, HEIGHT, BOTH, parse_node_spec("a=/f,/m"), DONE)
    assert got.state is NodeState.FAILED
    assert got.message is not None and got.message.startswith("gate completed but ") and "is missing" in got.message
    _seal(sink, "b")
    stored = tmp_path / "sealed" / record_key(HEIGHT, Normalization.TRANSLATOR, "b")
    stored.chmod(0o644)
    stored.write_bytes(stored.read_bytes()[:-8] + b"\0" * 8)  # damage the gzip trailer
    got = collect_node(sink, HEIGHT, BOTH, parse_node_spec("b=/f,/m"), DONE)
    assert got.state is NodeState.FAILED and got.message is not None and "translator" in got.message


def test_a_timed_out_gate_is_named_as_such(sink: Sink) -> None:
    got = collect_node(sink, HEIGHT, BOTH, parse_node_spec("a=/f,/m"), GateRun(GateEnd.TIMED_OUT, "no worker"))
    assert (got.state, got.message) == (NodeState.TIMED_OUT, "no worker")


def _verdict(*entries: object, at: datetime | None = None) -> FleetVerdict:
    return compare_fleet(HEIGHT, BOTH, list(entries), generated_at=at)  # type: ignore[arg-type]


def test_a_complete_fleet_verdict_is_write_once_at_its_key(sink: Sink) -> None:
    first = publish_fleet(sink, _verdict(entry("a"), entry("b")))
    assert first.uri == sink.uri_for(fleet_key(HEIGHT)) and not first.already_sealed
    again = publish_fleet(sink, _verdict(entry("a"), entry("b")))
    assert again.already_sealed and again.uncompressed_sha256 == first.uncompressed_sha256
    with pytest.raises(VerdictFlip, match=f"verdict flip at fleet height {HEIGHT}"):
        publish_fleet(sink, _verdict(entry("a"), entry("b", state="t")))
    assert FleetVerdict.model_validate(sink.read_json(fleet_key(HEIGHT))).agree is True


def test_an_incomplete_fleet_verdict_is_evidence_at_its_own_key_and_never_blocks_the_verdict(sink: Sink) -> None:
    at = datetime(2026, 11, 27, 10, 0, 0, 5, tzinfo=UTC)
    incomplete = publish_fleet(sink, _verdict(entry("a"), failed("b"), at=at))
    assert incomplete.uri.endswith(f"fleet-digest-{HEIGHT}.incomplete-20261127T100000000005Z.json.gz")
    complete = publish_fleet(sink, _verdict(entry("a"), entry("b")))
    assert complete.uri == sink.uri_for(fleet_key(HEIGHT)) and not complete.already_sealed


def _node_digest(endpoint: str, kind: NodeKind, node: str) -> NodeDigestRecord:
    digest = state_digest("s")
    return NodeDigestRecord(
        height=HEIGHT, kind=kind, endpoint=endpoint, backend=Backend(endpoint.split("/")[0]),
        normalization=Normalization(endpoint.split("/")[1]) if "/" in endpoint else None, digest=digest.digest,
        count=digest.count, per_bucket={b: BucketDigest(digest=d, count=25) for b, d in digest.per_bucket.items()},
        version=HEIGHT, seidb_generation=Generation.JSON, node=node, generated_at=datetime.now(UTC),
    )  # fmt: skip


def test_a_memiavl_node_is_read_from_its_sealed_node_digests(sink: Sink) -> None:
    for endpoint in ("memiavl/semantic", "memiavl/translator"):
        publish_verdict(sink, node_digest_key(HEIGHT, endpoint, "old"), _node_digest(endpoint, NodeKind.MEMIAVL, "old"))
    got = collect_node(sink, HEIGHT, BOTH, parse_node_spec("old=memiavl:/m"), DONE)
    assert got.state is NodeState.SEALED and got.kind is NodeKind.MEMIAVL and got.own_match is None
    assert got.endpoints == {"memiavl/semantic": state_digest("s"), "memiavl/translator": state_digest("s")}
    assert got.logical_endpoint == "memiavl/semantic" and got.boundary is None
    ref = got.records["memiavl/translator"]
    assert ref.uri == sink.uri_for(node_digest_key(HEIGHT, "memiavl/translator", "old")) and ref.match is None
    failed_gate = collect_node(sink, HEIGHT, BOTH, parse_node_spec("old=memiavl:/m"), GateRun(GateEnd.FAILED, "x"))
    assert (failed_gate.state, failed_gate.message) == (NodeState.FAILED, "x")  # what is sealed is an earlier run's


def test_a_node_digest_of_another_kind_or_a_missing_one_fails_the_node(sink: Sink) -> None:
    publish_verdict(sink, node_digest_key(HEIGHT, "flatkv", "new"), _node_digest("flatkv", NodeKind.PAIR, "new"))
    got = collect_node(sink, HEIGHT, BOTH, parse_node_spec("new=flatkv:/f"), DONE)
    assert got.state is NodeState.FAILED and got.message == (
        "node declared flatkv, but flatkv is sealed as a pair node's (the node changed kind)"
    )
    got = collect_node(sink, HEIGHT, BOTH, parse_node_spec("mid=composite:/f,/m"), DONE)
    assert got.state is NodeState.FAILED and got.message is not None and "node-digest-1000-composite" in got.message
