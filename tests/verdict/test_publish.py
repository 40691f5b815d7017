"""publish(): write-once verdicts on the folder sink and on S3 (moto over HTTP), no Prefect involved."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from evmdigest.emit import Sink, TamperedObject, open_sink, seal_key
from evmdigest.emit.folder import FolderSink
from evmdigest.models import DigestReport, Normalization
from evmdigest.segments import record_key
from evmdigest.seidb import parse_report
from evmdigest.verdict.publish import VerdictFlip, publish
from evmdigest.verdict.records import EndpointDigestRecord, compare
from tests.golden import golden_json_line
from tests.plugins.s3 import S3Target

HEIGHT = 4
KEY = record_key(HEIGHT, Normalization.SEMANTIC)


def _report(case: str, **relabel: int) -> DigestReport:
    return parse_report(golden_json_line(case)).model_copy(update=relabel)


def _match(node: str = "a") -> EndpointDigestRecord:
    flatkv, memiavl = _report("digest/flatkv-h4"), _report("digest/memiavl-semantic-replay-h4")
    return compare(HEIGHT, Normalization.SEMANTIC, flatkv, memiavl, node=node)


def _mismatch() -> EndpointDigestRecord:
    stale = _report("digest/memiavl-semantic-snapshot-h2", version=HEIGHT, requested_height=HEIGHT)
    return compare(HEIGHT, Normalization.SEMANTIC, _report("digest/flatkv-h4"), stale)


@dataclass
class Store:
    sink: Sink
    delete: Callable[[str], None]  # removes an object behind the sink's back (a crash, an operator)
    put: Callable[[str, bytes], None]  # replaces one behind its back (an attacker)


@pytest.fixture(params=["folder", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "folder":
        folder = FolderSink(tmp_path / "sealed")
        return Store(folder, lambda key: folder.path_for(key).unlink(), lambda key, data: _replace(folder, key, data))
    target: S3Target = request.getfixturevalue("s3_bucket")
    s3 = open_sink(target.url("evm"), endpoint_url=target.endpoint_url)
    client = target.client()
    return Store(
        s3,
        lambda key: client.delete_object(Bucket=target.bucket, Key=s3.full_key(key)) and None,
        lambda key, data: client.put_object(Bucket=target.bucket, Key=s3.full_key(key), Body=data) and None,
    )


def _replace(folder: FolderSink, key: str, data: bytes) -> None:
    folder.path_for(key).write_bytes(data)


def _stored(sink: Sink) -> dict[str, object]:
    """Every stored key with its content (records: SHA-256 of the stored bytes): what "nothing touched" compares."""
    return {
        key: sink.digest_object(key).compressed_sha256 if key in records else sink.read_document(key)
        for records in [set(sink.list_keys())]
        for key in sink.list_keys(include_seals=True, include_control=True)
    }


def test_first_publication_emits_the_record_and_its_seal(store: Store) -> None:
    record = _match()
    published = publish(store.sink, KEY, record)
    assert (published.already_sealed, published.seal_completed) == (False, False)
    assert published.record == record
    assert published.uri == store.sink.uri_for(KEY)
    assert published.seal_uri == store.sink.uri_for(seal_key(KEY))
    assert EndpointDigestRecord.model_validate(store.sink.read_json(KEY)) == record
    seal = store.sink.read_seal(KEY)
    assert seal is not None and seal.uncompressed_sha256 == published.uncompressed_sha256


def test_the_same_verdict_again_is_already_sealed_and_writes_nothing(store: Store) -> None:
    first = publish(store.sink, KEY, _match(node="a"))
    before = _stored(store.sink)
    again = publish(store.sink, KEY, _match(node="b").model_copy(update={"generated_at": datetime.now(UTC)}))
    assert (again.already_sealed, again.seal_completed) == (True, False)
    assert again.record == first.record  # the sealed record is reported, not this run's copy
    assert again.uncompressed_sha256 == first.uncompressed_sha256
    assert again.seal_uri == first.seal_uri
    assert _stored(store.sink) == before


def test_a_seal_lost_in_a_crash_is_completed_by_the_same_verdict(store: Store) -> None:
    first = publish(store.sink, KEY, _match())
    store.delete(seal_key(KEY))
    assert store.sink.read_seal(KEY) is None
    again = publish(store.sink, KEY, _match(node="other"))
    assert (again.already_sealed, again.seal_completed) == (True, True)
    seal = store.sink.read_seal(KEY)
    assert seal is not None and seal.resealed
    assert seal.uncompressed_sha256 == again.uncompressed_sha256 == first.uncompressed_sha256


def test_a_different_verdict_is_a_flip_citing_both_and_nothing_is_touched(store: Store) -> None:
    sealed = publish(store.sink, KEY, _match()).record
    before = _stored(store.sink)
    flipped = _mismatch()
    with pytest.raises(VerdictFlip) as err:
        publish(store.sink, KEY, flipped)
    message = str(err.value)
    assert f"verdict flip at {HEIGHT} (semantic)" in message and store.sink.uri_for(KEY) in message
    assert f"match=True flatkv={sealed.flatkv_digest} memiavl={sealed.memiavl_digest}" in message
    assert f"match=False flatkv={flipped.flatkv_digest} memiavl={flipped.memiavl_digest}" in message
    assert _stored(store.sink) == before


def test_a_flip_over_an_unsealed_record_does_not_seal_it(store: Store) -> None:
    publish(store.sink, KEY, _match())
    store.delete(seal_key(KEY))
    before = _stored(store.sink)
    with pytest.raises(VerdictFlip):
        publish(store.sink, KEY, _mismatch())
    assert store.sink.read_seal(KEY) is None
    assert _stored(store.sink) == before


def test_a_forged_record_under_the_same_verdict_is_tampered_and_not_sealed(store: Store, tmp_path: Path) -> None:
    """Verdict fields equal, other fields forged, seal deleted: the repair must not seal it."""
    sealed = publish(store.sink, KEY, _match()).record
    forged = sealed.model_copy(update={"axes_proved": [*sealed.axes_proved, "balance"], "node": "forger"})
    scratch = FolderSink(tmp_path / "scratch")  # our own serializer, as an attacker would use it
    scratch.emit_json(KEY, forged.model_dump(mode="json"))
    store.put(KEY, scratch.path_for(KEY).read_bytes())
    store.delete(seal_key(KEY))
    with pytest.raises(TamperedObject) as err:
        publish(store.sink, KEY, _match(node="rerun"))
    assert "no evm-digest writer recorded" in str(err.value) and err.value.exit_code == 2
    assert store.sink.read_seal(KEY) is None


def test_identical_concurrent_publishers_all_succeed(store: Store) -> None:
    """The same record from six writers at once: one emits, the rest report "already sealed" (never SinkConflict)."""
    record = _match()
    barrier = threading.Barrier(6)
    outcomes: list[object] = []

    def run() -> None:
        barrier.wait()
        try:
            outcomes.append(publish(store.sink, KEY, record).uncompressed_sha256)
        except Exception as exc:  # collected: the assertion names it
            outcomes.append(exc)

    threads = [threading.Thread(target=run) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(map(str, outcomes))) == 1 and isinstance(outcomes[0], str), outcomes
    seal = store.sink.read_seal(KEY)
    assert seal is not None and seal.uncompressed_sha256 == outcomes[0]
