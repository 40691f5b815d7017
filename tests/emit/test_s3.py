"""S3 sink against moto's server over real HTTP on loopback, with the real boto3 client."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import random
from collections.abc import Callable
from typing import IO

import pytest

from evmdigest.emit import (
    ProducerError,
    Seal,
    SinkConflict,
    SinkError,
    SinkErrorKind,
    digest_json,
    open_sink,
)
from evmdigest.emit.keys import is_control_key
from evmdigest.emit.s3 import MIN_PART_SIZE, S3Sink
from tests.plugins.s3 import MotoServer, S3Target

PART = MIN_PART_SIZE  # the smallest part S3 accepts keeps multipart tests quick


def _sink(target: S3Target, prefix: str = "runs/t1", max_attempts: int | None = None) -> S3Sink:
    sink = open_sink(target.url(prefix), endpoint_url=target.endpoint_url, part_size=PART, max_attempts=max_attempts)
    assert isinstance(sink, S3Sink)
    return sink


def _noise_lines(mib: int, seed: int = 1) -> Callable[[IO[bytes]], None]:
    """A producer of base64 lines from seeded random bytes: gzip cannot shrink it much (~0.76)."""

    def write(f: IO[bytes]) -> None:
        rng = random.Random(seed)
        for _ in range(mib):
            block = base64.b64encode(rng.randbytes(3 << 18))  # 1 MiB of text
            f.write(b"\n".join(block[i : i + 128] for i in range(0, len(block), 128)) + b"\n")

    return write


def _in_progress(target: S3Target) -> list[str]:
    return [u["UploadId"] for u in target.client().list_multipart_uploads(Bucket=target.bucket).get("Uploads", [])]


def _keys(target: S3Target) -> list[str]:
    """Every stored key but intents (an intent announces a write and may outlive a failed one; never a record)."""
    listed = [o["Key"] for o in target.client().list_objects_v2(Bucket=target.bucket).get("Contents", [])]
    return [key for key in listed if not is_control_key(key)]


def test_round_trip_and_seal_is_sha256_of_gunzipped_bytes(s3_bucket: S3Target) -> None:
    sink = _sink(s3_bucket)
    verdict = {"height": 42, "flatkv": "0f" * 32, "memiavl": "0f" * 32, "agree": True}
    result = sink.emit_json("seg/42/verdict.json", verdict)

    client = s3_bucket.client()
    stored = client.get_object(Bucket=s3_bucket.bucket, Key="runs/t1/seg/42/verdict.json")["Body"].read()
    payload = gzip.decompress(stored)
    assert json.loads(payload) == verdict
    assert result.uri == f"s3://{s3_bucket.bucket}/runs/t1/seg/42/verdict.json"
    assert result.uncompressed_sha256 == hashlib.sha256(payload).hexdigest()
    assert result.compressed_sha256 == hashlib.sha256(stored).hexdigest()

    raw_seal = client.get_object(Bucket=s3_bucket.bucket, Key="runs/t1/seg/42/verdict.json.seal.json")
    assert raw_seal["ContentType"] == "application/json"
    seal = Seal.model_validate_json(raw_seal["Body"].read())  # plain JSON, as its name says
    assert seal.uncompressed_sha256 == hashlib.sha256(payload).hexdigest()
    assert seal == sink.read_seal("seg/42/verdict.json")
    assert sink.read_json("seg/42/verdict.json") == verdict
    assert sink.list_keys() == ["seg/42/verdict.json"]


def test_store_keeps_the_sha256_of_the_bytes_it_received(s3_bucket: S3Target) -> None:
    sink = _sink(s3_bucket)
    result = sink.emit_ndjson("rows.ndjson", ({"i": i} for i in range(1000)))
    client = s3_bucket.client()
    head = client.head_object(Bucket=s3_bucket.bucket, Key="runs/t1/rows.ndjson", ChecksumMode="ENABLED")
    stored = client.get_object(Bucket=s3_bucket.bucket, Key="runs/t1/rows.ndjson")["Body"].read()
    wire = base64.b64encode(hashlib.sha256(stored).digest()).decode()
    assert head["ChecksumSHA256"] == wire
    assert result.store_checksum is not None
    assert (result.store_checksum.type, result.store_checksum.value) == ("FULL_OBJECT", wire)
    assert sink.read_seal("rows.ndjson") is not None


def test_multipart_over_the_threshold_has_a_composite_checksum(s3_bucket: S3Target) -> None:
    sink = _sink(s3_bucket)
    result = sink.emit_stream("big.ndjson", _noise_lines(20))
    assert result.compressed_bytes > 2 * PART  # really three or more parts

    client = s3_bucket.client()
    stored = client.get_object(Bucket=s3_bucket.bucket, Key="runs/t1/big.ndjson")["Body"].read()
    assert hashlib.sha256(gzip.decompress(stored)).hexdigest() == result.uncompressed_sha256
    parts = [stored[i : i + PART] for i in range(0, len(stored), PART)]
    composite = hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in parts)).digest()
    head = client.head_object(Bucket=s3_bucket.bucket, Key="runs/t1/big.ndjson", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"].split("-")[0] == base64.b64encode(composite).decode()
    assert result.store_checksum is not None
    assert result.store_checksum.type == "COMPOSITE" and result.store_checksum.parts == len(parts)
    assert _in_progress(s3_bucket) == []


def test_producer_failure_aborts_the_multipart_upload(s3_bucket: S3Target) -> None:
    sink = _sink(s3_bucket)
    boom = RuntimeError("state iterator died")
    seen_in_progress: list[str] = []

    def produce(f: IO[bytes]) -> None:
        _noise_lines(12)(f)  # two parts' worth: the multipart upload is under way
        f.flush()
        seen_in_progress.extend(_in_progress(s3_bucket))
        raise boom

    with pytest.raises(ProducerError) as info:
        sink.emit_stream("half.ndjson", produce)
    err = info.value
    assert len(seen_in_progress) == 1
    assert err.kind is SinkErrorKind.PRODUCER and not err.retryable and err.__cause__ is boom
    assert "producer" in str(err) and "RuntimeError: state iterator died" in str(err)
    assert s3_bucket.bucket in str(err) and "runs/t1/half.ndjson" in str(err)
    assert _in_progress(s3_bucket) == []
    assert _keys(s3_bucket) == []


def test_server_stopped_mid_upload_is_a_retryable_connection_error(
    s3_bucket: S3Target, make_moto_server: Callable[[], MotoServer]
) -> None:
    doomed = make_moto_server()  # serves the same buckets as s3_bucket's server
    sink = _sink(s3_bucket.via(doomed.endpoint_url), max_attempts=2)

    def produce(f: IO[bytes]) -> None:
        _noise_lines(12, seed=2)(f)
        f.flush()
        assert len(_in_progress(s3_bucket)) == 1
        doomed.stop()
        _noise_lines(12, seed=3)(f)

    with pytest.raises(SinkError) as info:
        sink.emit_stream("cut.ndjson", produce)
    err = info.value
    assert not isinstance(err, ProducerError)
    assert err.kind is SinkErrorKind.CONNECTION and err.retryable
    assert s3_bucket.bucket in str(err) and "runs/t1/cut.ndjson" in str(err) and "us-east-1" in str(err)
    # The abort could not reach the dead server either: the message says so and names the upload.
    leftover = _in_progress(s3_bucket)
    assert len(leftover) == 1 and leftover[0] in str(err)
    assert _keys(s3_bucket) == []
    s3_bucket.client().abort_multipart_upload(Bucket=s3_bucket.bucket, Key="runs/t1/cut.ndjson", UploadId=leftover[0])


def test_existing_key_is_never_overwritten(s3_bucket: S3Target) -> None:
    sink = _sink(s3_bucket)
    first = sink.emit_json("v.json", {"v": 1})
    with pytest.raises(SinkConflict) as info:
        sink.emit_json("v.json", {"v": 2})
    assert info.value.existing_seal is not None
    assert info.value.existing_seal.uncompressed_sha256 == first.uncompressed_sha256
    assert sink.read_json("v.json") == {"v": 1}


@pytest.mark.parametrize("mib", [0, 12], ids=["single-put", "multipart"])
def test_conditional_write_stops_a_writer_that_lost_the_race(s3_bucket: S3Target, mib: int) -> None:
    """Another writer lands the key while we stream (after our pre-check): If-None-Match must refuse."""
    sink = _sink(s3_bucket)
    client = s3_bucket.client()

    def produce(f: IO[bytes]) -> None:
        _noise_lines(mib)(f)
        client.put_object(Bucket=s3_bucket.bucket, Key="runs/t1/race.ndjson", Body=b"the other writer")
        f.write(b"our tail\n")

    with pytest.raises(SinkConflict) as info:
        sink.emit_stream("race.ndjson", produce)
    assert "If-None-Match" in str(info.value) or "412" in str(info.value)
    body = client.get_object(Bucket=s3_bucket.bucket, Key="runs/t1/race.ndjson")["Body"].read()
    assert body == b"the other writer"
    assert _in_progress(s3_bucket) == []
    assert sink.read_seal("race.ndjson") is None


def test_complete_seal_after_a_crash_between_object_and_seal(s3_bucket: S3Target) -> None:
    sink = _sink(s3_bucket)
    verdict = {"height": 9, "agree": False}
    sink.emit_json("v.json", verdict)
    s3_bucket.client().delete_object(Bucket=s3_bucket.bucket, Key="runs/t1/v.json.seal.json")

    with pytest.raises(SinkConflict) as info:
        sink.emit_json("v.json", verdict)
    assert info.value.existing_seal is None
    seal = sink.complete_seal("v.json", uncompressed_sha256=digest_json(verdict).uncompressed_sha256)
    assert seal.resealed and seal.store_checksum is not None
    assert sink.read_seal("v.json") == seal
