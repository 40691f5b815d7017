"""reference.py: expected rows from the newest sealed record of this node, on a real folder sink.

Records are built from the real 73f917b reports of `flatkv-storage-missing` (FlatKV storage=227,
memIAVL storage=228, so each side's counts are told apart) and published through the core.
"""

from __future__ import annotations

from pathlib import Path

from evmdigest.emit import open_sink
from evmdigest.emit.sink import Sink
from evmdigest.models import DigestReport, Normalization
from evmdigest.progress.reference import sealed_references
from evmdigest.segments import record_key
from evmdigest.seidb import parse_report
from evmdigest.verdict.publish import publish
from evmdigest.verdict.records import compare

REAL = Path(__file__).resolve().parents[1] / "data" / "seidb-reports" / "real-73f917b"
LABELS = ["flatkv", "memiavl/semantic", "memiavl/translator"]


def _report(name: str, height: int) -> DigestReport:
    report = parse_report((REAL / f"flatkv-storage-missing.{name}.stdout").read_text())
    return report.model_copy(update={"version": height, "requested_height": height})


def _seal(sink: Sink, height: int, node: str | None, *, layout_node: str | None = None, extra_storage: int = 0) -> None:
    flatkv = _report("flatkv", height)
    storage = flatkv.storage.model_copy(update={"count": flatkv.storage.count + extra_storage})
    flatkv = flatkv.model_copy(update={"storage": storage})
    for normalization in (Normalization.SEMANTIC, Normalization.TRANSLATOR):
        memiavl = _report(f"memiavl-{normalization.value}", height)
        record = compare(height, normalization, flatkv, memiavl, node=node)
        publish(sink, record_key(height, normalization, layout_node), record)


def test_each_scan_gets_its_own_sides_counts_from_the_newest_record_at_or_below_the_height(tmp_path: Path) -> None:
    sink = open_sink(tmp_path.as_uri())
    _seal(sink, 1000, "node-a", layout_node="node-a")
    _seal(sink, 2000, "node-a", extra_storage=5)  # flat layout, naming this node
    _seal(sink, 2500, "node-b", extra_storage=50)  # another node's record in the flat layout
    _seal(sink, 9000, "node-a", layout_node="node-a", extra_storage=90)  # above the height being sealed
    found = sealed_references(sink, "node-a", LABELS, height=3000)
    assert found.notes == []
    flatkv = found.by_label["flatkv"]
    assert (flatkv.height, flatkv.source) == (2000, "sealed record at height 2000")
    assert dict(flatkv.counts) == {"account": 36, "code": 6, "storage": 227 + 5, "misc": 30}
    assert dict(found.by_label["memiavl/semantic"].counts)["storage"] == 228
    assert found.by_label["memiavl/translator"].height == 2000


def test_a_normalization_never_sealed_borrows_another_ones_memiavl_counts(tmp_path: Path) -> None:
    sink = open_sink(tmp_path.as_uri())
    flatkv, memiavl = _report("flatkv", 1000), _report("memiavl-semantic", 1000)
    record = compare(1000, Normalization.SEMANTIC, flatkv, memiavl)
    publish(sink, record_key(1000, Normalization.SEMANTIC, "n1"), record)
    found = sealed_references(sink, "n1", LABELS, height=1000)
    assert dict(found.by_label["memiavl/translator"].counts) == {"account": 36, "code": 6, "storage": 228, "misc": 30}


def test_an_unreadable_record_is_noted_and_an_older_one_used(tmp_path: Path) -> None:
    sink = open_sink(tmp_path.as_uri())
    _seal(sink, 1000, "n1", layout_node="n1")
    for normalization in (Normalization.SEMANTIC, Normalization.TRANSLATOR):
        sink.emit_json(record_key(2000, normalization, "n1"), {"not": "a record"})
    found = sealed_references(sink, "n1", LABELS, height=2000)
    assert {ref.height for ref in found.by_label.values()} == {1000}
    assert len(found.notes) == 2 and "n1/endpoint-digest-2000-" in found.notes[0]
    assert "not usable as a progress reference" in found.notes[0]


def test_no_record_no_reference(tmp_path: Path) -> None:
    sink = open_sink(tmp_path.as_uri())
    _seal(sink, 1000, "node-b", layout_node="node-b")
    found = sealed_references(sink, "node-a", LABELS, height=1000)
    assert found.by_label == {} and found.notes == []
