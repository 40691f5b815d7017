"""One verdict set per (node, height): records already at a height must agree with this run, and be ours."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from evmdigest.emit import TamperedObject, seal_key
from evmdigest.emit.folder import FolderSink
from evmdigest.models import DigestReport, Normalization
from evmdigest.segments import record_key
from evmdigest.seidb import parse_report
from evmdigest.verdict.publish import publish
from evmdigest.verdict.records import compare
from evmdigest.verdict.verdict_set import VerdictSetConflict, check_height, sealed_records
from tests.golden import golden_json_line
from tests.plugins.sinks import AnySink

HEIGHT = 4
SEM, TRA = Normalization.SEMANTIC, Normalization.TRANSLATOR


def _report(case: str, **relabel: int) -> DigestReport:
    return parse_report(golden_json_line(case)).model_copy(update=relabel)


CLEAN_FLATKV = _report("digest/flatkv-h4")
DIVERGED_FLATKV = _report("digest/flatkv-h2", version=HEIGHT, requested_height=HEIGHT)  # another store state
MEMIAVL = _report("digest/memiavl-semantic-replay-h4")
BOTH = {SEM: MEMIAVL, TRA: MEMIAVL}


def _seal(any_sink: AnySink, norm: Normalization, flatkv: DigestReport, node: str | None = "node-a") -> str:
    key = record_key(HEIGHT, norm, node)
    publish(any_sink.sink, key, compare(HEIGHT, norm, flatkv, MEMIAVL, node=node))
    return key


def test_nothing_sealed_yet_passes(any_sink: AnySink) -> None:
    assert check_height(any_sink.sink, HEIGHT, CLEAN_FLATKV, BOTH, "node-a") == []


def test_agreeing_records_pass_and_are_reported(any_sink: AnySink) -> None:
    key = _seal(any_sink, SEM, CLEAN_FLATKV)
    found = check_height(any_sink.sink, HEIGHT, CLEAN_FLATKV, BOTH, "node-a")
    assert [(item.key, item.sealed, item.record.normalization) for item in found] == [(key, True, SEM)]


def test_a_record_from_another_store_state_stops_the_run_naming_both_digests(any_sink: AnySink) -> None:
    """semantic sealed from a clean store; both normalizations from a diverged one must not publish translator."""
    key = _seal(any_sink, SEM, CLEAN_FLATKV)
    with pytest.raises(VerdictSetConflict) as err:
        check_height(any_sink.sink, HEIGHT, DIVERGED_FLATKV, BOTH, "node-a")
    message = str(err.value)
    assert f"verdict set conflict at height {HEIGHT} on node node-a" in message
    assert any_sink.sink.uri_for(key) in message and "(semantic)" in message
    assert f"flatkv {CLEAN_FLATKV.final.digest}, this run's flatkv {DIVERGED_FLATKV.final.digest}" in message
    assert "\n" not in message and "Hint:" in message and err.value.exit_code == 2
    assert str(pickle.loads(pickle.dumps(err.value))) == message


def test_a_different_memiavl_digest_for_the_same_normalization_conflicts(any_sink: AnySink) -> None:
    _seal(any_sink, TRA, CLEAN_FLATKV)
    other = _report("digest/memiavl-semantic-snapshot-h2", version=HEIGHT, requested_height=HEIGHT)
    with pytest.raises(VerdictSetConflict, match=rf"memiavl {MEMIAVL.final.digest}, this run's memiavl"):
        check_height(any_sink.sink, HEIGHT, CLEAN_FLATKV, {TRA: other}, "node-a")
    # The same memIAVL report under the other normalization is no conflict: decoders differ by design.
    check_height(any_sink.sink, HEIGHT, CLEAN_FLATKV, {SEM: other}, "node-a")


def test_other_nodes_and_the_flat_layout_are_invisible(any_sink: AnySink) -> None:
    _seal(any_sink, SEM, DIVERGED_FLATKV, node="node-b")
    _seal(any_sink, TRA, DIVERGED_FLATKV, node=None)
    assert check_height(any_sink.sink, HEIGHT, CLEAN_FLATKV, BOTH, "node-a") == []
    assert [item.record.node for item in sealed_records(any_sink.sink, HEIGHT, None)] == [None]


def test_an_unsealed_record_counts_when_its_intent_vouches_for_it(any_sink: AnySink) -> None:
    key = _seal(any_sink, SEM, CLEAN_FLATKV)
    any_sink.delete(seal_key(key))
    [item] = check_height(any_sink.sink, HEIGHT, CLEAN_FLATKV, BOTH, "node-a")
    assert not item.sealed
    with pytest.raises(VerdictSetConflict):
        check_height(any_sink.sink, HEIGHT, DIVERGED_FLATKV, BOTH, "node-a")


def test_a_forged_record_with_its_seal_deleted_is_tampered(any_sink: AnySink, tmp_path: Path) -> None:
    key = _seal(any_sink, SEM, CLEAN_FLATKV)
    sealed = any_sink.sink.read_json(key)
    forged = {**sealed, "axes_proved": [*sealed["axes_proved"], "balance"], "flatkv_count": 1, "node": "other"}
    scratch = FolderSink(tmp_path / "scratch")
    scratch.emit_json(key, forged)  # serialized exactly as we would
    any_sink.put(key, scratch.path_for(key).read_bytes())
    any_sink.delete(seal_key(key))
    with pytest.raises(TamperedObject, match="no evm-digest writer recorded") as err:
        check_height(any_sink.sink, HEIGHT, CLEAN_FLATKV, BOTH, "node-a")
    assert err.value.exit_code == 2


def test_a_replaced_record_under_its_old_seal_is_tampered(any_sink: AnySink, tmp_path: Path) -> None:
    key = _seal(any_sink, SEM, CLEAN_FLATKV)
    scratch = FolderSink(tmp_path / "scratch")
    scratch.emit_json(key, {**any_sink.sink.read_json(key), "node": "other"})
    any_sink.put(key, scratch.path_for(key).read_bytes())
    with pytest.raises(TamperedObject, match="its seal says"):
        check_height(any_sink.sink, HEIGHT, CLEAN_FLATKV, BOTH, "node-a")
