"""Seals only for bytes we wrote: intents, plain-JSON seals (legacy gzip seals still read), control
objects (claims) and the folder sink's stale temp sweep — on the folder sink and on S3 (moto over HTTP)."""

from __future__ import annotations

import gzip
import json
import os
import threading
import time
from pathlib import Path

import pytest

from evmdigest.emit import Seal, SinkConflict, TamperedObject, seal_key
from evmdigest.emit.folder import FolderSink
from evmdigest.emit.keys import TMP_MARK, intent_key
from evmdigest.emit.verify import verify_object
from tests.plugins.sinks import AnySink

VERDICT = {"height": 7, "flatkv": "ab" * 32, "memiavl": "ab" * 32, "match": True, "axes_proved": ["nonce"]}
FORGED = {**VERDICT, "axes_proved": ["nonce", "balance"], "node": "someone-else"}


def _forge(any_sink: AnySink, key: str) -> bytes:
    """Replace the object with other fields under the same verdict (as our serializer writes them), drop its seal."""
    forged = gzip.compress(json.dumps(FORGED, separators=(",", ":")).encode() + b"\n", 6, mtime=0)
    any_sink.put(key, forged)
    any_sink.delete(seal_key(key))
    return forged


def test_a_forged_object_without_its_seal_is_tampered_never_sealed(any_sink: AnySink) -> None:
    any_sink.sink.emit_json("n/v.json", VERDICT)
    _forge(any_sink, "n/v.json")
    with pytest.raises(TamperedObject) as err:
        any_sink.sink.complete_seal("n/v.json")
    message = str(err.value)
    assert "no evm-digest writer recorded" in message and "Hint:" in message and "\n" not in message
    assert err.value.exit_code == 2 and not err.value.retryable
    assert any_sink.sink.read_seal("n/v.json") is None
    outcome = verify_object(any_sink.sink.uri_for("n/v.json"), endpoint_url=any_sink.endpoint_url)
    assert (outcome.status, outcome.exit_code) == ("tampered", 1)


def test_a_crash_between_object_and_seal_is_repaired_from_the_intent(any_sink: AnySink) -> None:
    result = any_sink.sink.emit_json("v.json", VERDICT)
    any_sink.delete(seal_key("v.json"))
    missing = verify_object(result.uri, endpoint_url=any_sink.endpoint_url)
    assert missing.status == "missing_seal" and "intent" in missing.detail
    seal = any_sink.sink.complete_seal("v.json")
    assert seal.resealed and seal.uncompressed_sha256 == result.uncompressed_sha256
    assert verify_object(result.uri, endpoint_url=any_sink.endpoint_url).status == "ok"


def test_an_intent_is_fixed_before_the_object_and_names_its_hash(any_sink: AnySink) -> None:
    result = any_sink.sink.emit_json("v.json", VERDICT)
    intent = any_sink.sink.read_intent("v.json", result.uncompressed_sha256)
    assert intent is not None and intent.compressed_sha256 == result.compressed_sha256
    assert any_sink.sink.read_intent("v.json", "0" * 64) is None
    assert any_sink.sink.list_keys() == ["v.json"]  # intents are not records
    assert any_sink.sink.list_keys(include_control=True) == sorted(
        ["v.json", intent_key("v.json", intent.uncompressed_sha256)]
    )


def test_seals_are_plain_json_and_legacy_gzip_seals_still_read(any_sink: AnySink) -> None:
    result = any_sink.sink.emit_json("v.json", VERDICT)
    plain = any_sink.sink.read_document(seal_key("v.json"))
    seal = Seal.model_validate(plain)
    assert seal.uncompressed_sha256 == result.uncompressed_sha256 and seal.content_encoding == "gzip"  # the object's
    # A seal written before seals became plain JSON: gzip under the same name.
    any_sink.delete(seal_key("v.json"))
    any_sink.put(seal_key("v.json"), gzip.compress(json.dumps(plain).encode()))
    assert any_sink.sink.read_seal("v.json") == seal
    assert verify_object(result.uri, endpoint_url=any_sink.endpoint_url).status == "ok"


def test_identical_writers_racing_on_the_seal_all_succeed(any_sink: AnySink) -> None:
    """Seal completion that loses to another writer's seal of the same bytes is success, not SinkConflict."""
    any_sink.sink.emit_json("v.json", VERDICT)

    def complete(barrier: threading.Barrier, outcomes: list[object]) -> None:
        barrier.wait()
        try:
            outcomes.append(any_sink.sink.complete_seal("v.json").uncompressed_sha256)
        except Exception as exc:  # collected: the assertion names it
            outcomes.append(exc)

    for _ in range(3):
        any_sink.delete(seal_key("v.json"))
        barrier, outcomes = threading.Barrier(6), []
        threads = [threading.Thread(target=complete, args=(barrier, outcomes)) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(set(map(str, outcomes))) == 1 and isinstance(outcomes[0], str), outcomes


def test_claims_are_write_once_control_objects_that_only_claims_may_delete(any_sink: AnySink) -> None:
    any_sink.sink.emit_control("n/claims/claim-7.json", {"run": "a"})
    with pytest.raises(SinkConflict):
        any_sink.sink.emit_control("n/claims/claim-7.json", {"run": "b"})
    assert any_sink.sink.read_document("n/claims/claim-7.json") == {"run": "a"}
    result = any_sink.sink.emit_json("n/v.json", VERDICT)
    for key in ("n/v.json", seal_key("n/v.json"), intent_key("n/v.json", result.uncompressed_sha256)):
        with pytest.raises(ValueError, match=r"only claims|reserved for seals"):
            any_sink.sink.delete_control(key)
        assert any_sink.sink.read_document(key) is not None if key != "n/v.json" else any_sink.sink.read_json(key)
    any_sink.sink.delete_control("n/claims/claim-7.json")
    any_sink.sink.emit_control("n/claims/claim-7.json", {"run": "b"})
    assert any_sink.sink.read_document("n/claims/claim-7.json") == {"run": "b"}
    assert any_sink.sink.list_keys() == ["n/v.json"]


def test_stale_temp_files_of_killed_writers_are_removed_and_nothing_else(tmp_path: Path) -> None:
    sink = FolderSink(tmp_path / "sealed")
    result = sink.emit_json("n/v.json", VERDICT)
    sink.emit_control("n/claims/claim-7.json", {"run": "a"})
    stale = tmp_path / "sealed/n" / f".v2.json{TMP_MARK}{'d' * 32}"
    fresh = tmp_path / "sealed/n" / f".v3.json{TMP_MARK}{'e' * 32}"
    lookalike = tmp_path / "sealed/n" / f"v4.json{TMP_MARK}{'f' * 32}"  # not hidden: not a name we give temps
    for path in (stale, fresh, lookalike):
        path.write_bytes(b"left by kill -9")
    hour_ago = time.time() - 3601
    for path in (stale, lookalike, *(tmp_path / "sealed/n").iterdir()):
        if path != fresh:
            os.utime(path, (hour_ago, hour_ago))  # old records, seals, intents, claims must survive too
    assert sink.remove_stale_temps() == [f"n/.v2.json{TMP_MARK}{'d' * 32}"]
    assert not stale.exists() and fresh.exists() and lookalike.exists()
    assert sink.read_json("n/v.json") == VERDICT and sink.read_seal("n/v.json") is not None
    assert sink.read_intent("n/v.json", result.uncompressed_sha256) is not None
    assert sink.read_document("n/claims/claim-7.json") == {"run": "a"}
