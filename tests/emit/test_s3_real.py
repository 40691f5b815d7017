"""What only a real S3 server can answer, asked of both test servers.

SeaweedFS behaves like S3 here. moto 5.2.5 does not verify supplied checksums, omits the `-N`
parts suffix of composite checksums and does not check SigV4 signatures: where a test meets one of
those gaps it asserts moto's documented behaviour instead and says so, so the gap stays visible
(and the test fails, asking to be updated, the day moto closes it).
"""

from __future__ import annotations

import time
from typing import IO

import pytest
from botocore.exceptions import ClientError

from evmdigest.emit import ProducerError, SinkConflict, SinkError, SinkErrorKind, open_sink
from evmdigest.emit.s3 import MIN_PART_SIZE
from evmdigest.emit.s3errors import classify_s3_error, client_error_code
from evmdigest.emit.seal import b64_sha256
from evmdigest.emit.verify import verify_object
from tests.emit.test_s3 import _in_progress, _keys, _noise_lines, _sink
from tests.plugins.s3 import TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY, FaultProxy, S3Target

MOTO_SKIPS_CHECKSUMS = "moto 5.2.5 does not verify a supplied SHA-256: it stores whatever bytes arrive"


def test_a_wrong_supplied_sha256_is_refused_and_classified(s3_bucket: S3Target) -> None:
    client = s3_bucket.client()
    refused: ClientError | None = None
    try:
        client.put_object(
            Bucket=s3_bucket.bucket,
            Key="wrong.bin",
            Body=b"these bytes",
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=b64_sha256(b"not these bytes"),
        )
    except ClientError as exc:
        refused = exc
    if s3_bucket.server == "moto":
        assert refused is None and _keys(s3_bucket) == ["wrong.bin"], MOTO_SKIPS_CHECKSUMS
        return
    assert refused is not None, "a real S3 server must refuse bytes that do not match their SHA-256"
    code, _, status = client_error_code(refused)
    assert (status, code) in {(400, "BadDigest"), (400, "InvalidDigest")}
    err = classify_s3_error(refused, operation="PutObject", bucket=s3_bucket.bucket, key="wrong.bin", region="r")
    assert err.kind is SinkErrorKind.BAD_DIGEST and not err.retryable
    assert "do not hash to the checksum sent with them" in err.hint and "nothing was stored" in err.hint
    assert f"HTTP 400 {code}" in str(err) and f"Hint: {err.hint}" in str(err)
    assert _keys(s3_bucket) == []


@pytest.mark.parametrize("mib", [0, 12], ids=["single-put", "multipart"])
def test_bytes_altered_in_transit_never_become_an_object(
    s3_bucket: S3Target, s3_fault_proxy: FaultProxy, mib: int
) -> None:
    """A middlebox flips a byte of every upload; the SHA-256 we supply is the only thing that can notice."""
    s3_fault_proxy.corrupt(path_suffix="/p/v.ndjson", query_contains="partNumber=" if mib else None, times=1)
    via = s3_fault_proxy.target(s3_bucket)
    sink = open_sink(via.url("p"), endpoint_url=via.endpoint_url, part_size=MIN_PART_SIZE, max_attempts=1)

    def produce(f: IO[bytes]) -> None:
        _noise_lines(mib)(f)
        f.write(b'{"verdict": "match"}\n')

    if s3_bucket.server == "moto" and mib == 0:
        # MOTO_SKIPS_CHECKSUMS: the altered object lands, and only `verify` (the seal) catches it.
        result = sink.emit_stream("v.ndjson", produce)
        outcome = verify_object(result.uri, endpoint_url=s3_bucket.endpoint_url)
        assert (outcome.status, outcome.exit_code) == ("mismatch", 1)
        return
    with pytest.raises(SinkError) as info:
        sink.emit_stream("v.ndjson", produce)
    err = info.value
    assert not err.retryable and _in_progress(s3_bucket) == []
    if s3_bucket.server == "moto":
        # MOTO_SKIPS_CHECKSUMS for the part, but its composite checksum is computed from the bytes it
        # got: our comparison with the local one refuses to seal the object that landed.
        assert "the object is not trustworthy and was not sealed" in str(err)
        assert _keys(s3_bucket) == ["p/v.ndjson"]
        return
    assert err.kind is SinkErrorKind.BAD_DIGEST, err
    assert "BadDigest" in str(err) or "InvalidDigest" in str(err)
    assert _keys(s3_bucket) == []


def test_the_local_composite_checksum_is_the_stores(s3_bucket: S3Target) -> None:
    sink = _sink(s3_bucket)
    result = sink.emit_stream("big.ndjson", _noise_lines(20))
    local = result.store_checksum
    assert local is not None and local.type == "COMPOSITE" and local.parts is not None and local.parts >= 3
    client, key = s3_bucket.client(), "runs/t1/big.ndjson"
    head = client.head_object(Bucket=s3_bucket.bucket, Key=key, ChecksumMode="ENABLED")
    got = client.get_object(Bucket=s3_bucket.bucket, Key=key, ChecksumMode="ENABLED")
    got["Body"].close()
    attrs = client.get_object_attributes(Bucket=s3_bucket.bucket, Key=key, ObjectAttributes=["Checksum", "ObjectParts"])
    if s3_bucket.server == "moto":
        # moto 5.2.5 reports the composite digest without its `-N` parts suffix and without
        # ChecksumType COMPOSITE, so a re-read (complete_seal) takes it for a FULL_OBJECT checksum.
        assert head["ChecksumSHA256"] == local.value and head.get("ChecksumType") != "COMPOSITE"
        assert sink.store_checksum("big.ndjson") == local.model_copy(update={"type": "FULL_OBJECT", "parts": None})
        return
    assert sink.store_checksum("big.ndjson") == local  # what complete_seal records after a crash
    assert head["ChecksumSHA256"] == got["ChecksumSHA256"] == local.wire() == f"{local.value}-{local.parts}"
    assert head["ChecksumType"] == got["ChecksumType"] == attrs["Checksum"]["ChecksumType"] == "COMPOSITE"
    assert attrs["Checksum"]["ChecksumSHA256"] in (local.wire(), local.value)
    assert attrs["ObjectParts"]["TotalPartsCount"] == local.parts


@pytest.mark.parametrize(
    ("key_id", "secret", "code"),
    [
        (TEST_ACCESS_KEY_ID, "not-the-secret", "SignatureDoesNotMatch"),
        ("AKIAIOSFODNN7UNKNOWN", TEST_SECRET_ACCESS_KEY, "InvalidAccessKeyId"),
    ],
    ids=["wrong-secret", "unknown-key-id"],
)
def test_wrong_credentials_get_the_credentials_hint(
    s3_bucket: S3Target, monkeypatch: pytest.MonkeyPatch, key_id: str, secret: str, code: str
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    sink = _sink(s3_bucket, max_attempts=1)
    if s3_bucket.server == "moto":
        sink.emit_json("v.json", {"v": 1})  # moto 5.2.5 checks neither SigV4 signatures nor key ids
        return
    with pytest.raises(SinkError) as info:
        sink.emit_json("v.json", {"v": 1})
    err = info.value
    assert err.kind is SinkErrorKind.BAD_CREDENTIALS and not err.retryable
    assert f"HTTP 403 {code}" in str(err) and "refresh or fix the AWS credentials" in str(err)
    assert secret not in str(err) and key_id not in str(err)
    assert _keys(s3_bucket) == []


def test_if_none_match_on_complete_refuses_a_second_multipart_writer(
    s3_bucket: S3Target, s3_fault_proxy: FaultProxy
) -> None:
    first = _sink(s3_bucket)
    second = _sink(s3_fault_proxy.target(s3_bucket))  # through the proxy: its log shows the 412
    landed = []

    def produce(f: IO[bytes]) -> None:
        _noise_lines(12, seed=5)(f)
        f.flush()
        assert len(_in_progress(s3_bucket)) == 1  # our multipart upload is under way...
        landed.append(first.emit_stream("both.ndjson", _noise_lines(12, seed=6)))  # ...and theirs completes
        f.write(b"our tail\n")

    with pytest.raises(SinkConflict) as info:
        second.emit_stream("both.ndjson", produce)
    assert "412" in str(info.value)
    completes = [status for method, path, status in s3_fault_proxy.log if method == "POST" and "uploadId=" in path]
    assert completes == [412]
    assert info.value.existing_seal is not None
    assert info.value.existing_seal.compressed_sha256 == landed[0].compressed_sha256
    assert first.digest_object("both.ndjson").compressed_sha256 == landed[0].compressed_sha256
    assert _in_progress(s3_bucket) == []


def test_an_aborted_multipart_upload_leaves_no_parts(s3_bucket: S3Target) -> None:
    sink = _sink(s3_bucket)
    client = s3_bucket.client()
    uploads: list[str] = []

    def produce(f: IO[bytes]) -> None:
        _noise_lines(20)(f)  # two full parts cut and handed to the uploader
        f.flush()
        uploads.extend(_in_progress(s3_bucket))
        deadline = time.monotonic() + 30
        while not client.list_parts(Bucket=s3_bucket.bucket, Key="runs/t1/gone.ndjson", UploadId=uploads[0])["Parts"]:
            assert time.monotonic() < deadline, "no part was uploaded"
            time.sleep(0.05)
        raise RuntimeError("the producer died")

    with pytest.raises(ProducerError):
        sink.emit_stream("gone.ndjson", produce)
    assert len(uploads) == 1 and _in_progress(s3_bucket) == [] and _keys(s3_bucket) == []
    with pytest.raises(ClientError) as info:
        client.list_parts(Bucket=s3_bucket.bucket, Key="runs/t1/gone.ndjson", UploadId=uploads[0])
    assert client_error_code(info.value)[::2] == ("NoSuchUpload", 404)
