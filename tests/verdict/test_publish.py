"""publish(): write-once verdicts on the folder sink and on S3 (moto and SeaweedFS over HTTP), no Prefect."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from evmdigest.emit import Sink, open_sink, seal_key
from evmdigest.emit.folder import FolderSink
from evmdigest.models import DigestReport, Normalization
from evmdigest.segments import record_key
from evmdigest.seidb import parse_report
from evmdigest.verdict.publish import VerdictFlip, publish
from evmdigest.verdict.records import EndpointDigestRecord, compare
from tests.golden import golden_json_line
from tests.plugins.s3 import S3_SERVERS, new_bucket, server_named

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


@pytest.fixture(params=["folder", *S3_SERVERS])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "folder":
        folder = FolderSink(tmp_path / "sealed")
        return Store(folder, lambda key: folder.path_for(key).unlink())
    target = new_bucket(server_named(request, request.param))
    s3 = open_sink(target.url("evm"), endpoint_url=target.endpoint_url)
    return Store(s3, lambda key: target.client().delete_object(Bucket=target.bucket, Key=s3.full_key(key)))


def _stored(sink: Sink) -> dict[str, str]:
    """Every stored key with the SHA-256 of its stored bytes: what "nothing was touched" compares."""
    return {key: sink.digest_object(key).compressed_sha256 for key in sink.list_keys(include_seals=True)}


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
