"""S3 error classification on real wire answers.

Moto does not throttle or deny, so the `s3_fault_proxy` fixture (a loopback HTTP proxy in front of
the moto server) answers chosen requests with genuine S3 error responses — status line plus the S3
XML error body — which boto3 parses exactly as it would AWS's. Everything else is forwarded to moto.
"""

from __future__ import annotations

import logging
import socket

import pytest

from evmdigest.emit import ProducerError, Sink, SinkError, SinkErrorKind, open_sink
from evmdigest.emit.s3 import MIN_PART_SIZE
from tests.emit.test_s3 import _in_progress, _keys, _noise_lines
from tests.plugins.s3 import TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY, Fault, FaultProxy, S3Target


def _via_proxy(proxy: FaultProxy, target: S3Target, attempts: int = 1) -> Sink:
    t = proxy.target(target)
    return open_sink(t.url("p"), endpoint_url=t.endpoint_url, part_size=MIN_PART_SIZE, max_attempts=attempts)


@pytest.mark.parametrize(
    ("status", "code", "kind", "retryable"),
    [
        (503, "SlowDown", SinkErrorKind.THROTTLED, True),
        (503, "ServiceUnavailable", SinkErrorKind.THROTTLED, True),
        (500, "InternalError", SinkErrorKind.THROTTLED, True),
        (403, "AccessDenied", SinkErrorKind.ACCESS_DENIED, False),
        (403, "InvalidAccessKeyId", SinkErrorKind.BAD_CREDENTIALS, False),
        (403, "SignatureDoesNotMatch", SinkErrorKind.BAD_CREDENTIALS, False),
        (400, "ExpiredToken", SinkErrorKind.BAD_CREDENTIALS, False),
        (400, "InvalidArgument", SinkErrorKind.OTHER, False),
    ],
)
def test_put_errors_are_classified(
    s3_bucket: S3Target, s3_fault_proxy: FaultProxy, status: int, code: str, kind: SinkErrorKind, retryable: bool
) -> None:
    s3_fault_proxy.inject(Fault(status, code, method="PUT", path_suffix="/p/v.json"))
    sink = _via_proxy(s3_fault_proxy, s3_bucket)
    with pytest.raises(SinkError) as info:
        sink.emit_json("v.json", {"v": 1})
    err = info.value
    assert (err.kind, err.retryable) == (kind, retryable)
    assert not isinstance(err, ProducerError)
    assert (err.bucket, err.key, err.region) == (s3_bucket.bucket, "p/v.json", "us-east-1")
    text = str(err)
    assert s3_bucket.bucket in text and "p/v.json" in text and "us-east-1" in text and code in text
    assert f"Hint: {err.hint}" in text
    assert _keys(s3_bucket) == []


def test_a_transient_slowdown_is_retried_by_boto3(s3_bucket: S3Target, s3_fault_proxy: FaultProxy) -> None:
    s3_fault_proxy.inject(Fault(503, "SlowDown", method="PUT", path_suffix="/p/v.json", times=1))
    sink = _via_proxy(s3_fault_proxy, s3_bucket, attempts=3)
    sink.emit_json("v.json", {"v": 1})
    puts = [status for method, path, status in s3_fault_proxy.log if method == "PUT" and path.endswith("/p/v.json")]
    assert puts == [503, 200]
    assert "p/v.json" in _keys(s3_bucket)


def test_throttled_part_aborts_the_multipart_upload(s3_bucket: S3Target, s3_fault_proxy: FaultProxy) -> None:
    s3_fault_proxy.inject(Fault(503, "SlowDown", method="PUT", query_contains="partNumber=2"))
    sink = _via_proxy(s3_fault_proxy, s3_bucket, attempts=2)
    with pytest.raises(SinkError) as info:
        sink.emit_stream("big.ndjson", _noise_lines(16))
    assert info.value.kind is SinkErrorKind.THROTTLED and info.value.retryable
    assert "UploadPart 2" in str(info.value)
    assert _in_progress(s3_bucket) == [] and _keys(s3_bucket) == []


def test_access_denied_on_head_does_not_block_the_write(s3_bucket: S3Target, s3_fault_proxy: FaultProxy) -> None:
    """Without s3:ListBucket, S3 answers HEAD of a missing key with 403; the conditional PUT decides."""
    s3_fault_proxy.inject(Fault(403, "AccessDenied", method="HEAD"))
    sink = _via_proxy(s3_fault_proxy, s3_bucket)
    sink.emit_json("v.json", {"v": 1})
    assert "p/v.json" in _keys(s3_bucket)


def test_no_such_bucket(moto_server: object, s3_bucket: S3Target) -> None:
    missing = S3Target(s3_bucket.endpoint_url, "evmd-no-such-bucket")
    sink = open_sink(missing.url(), endpoint_url=missing.endpoint_url, max_attempts=1)
    with pytest.raises(SinkError) as info:
        sink.emit_json("v.json", {})
    assert info.value.kind is SinkErrorKind.NO_SUCH_BUCKET and not info.value.retryable
    assert "evmd-no-such-bucket" in str(info.value) and "create the bucket" in str(info.value)


def test_nothing_listening_is_a_retryable_connection_error(aws_test_env: None) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again on exit: connections are refused
    sink = open_sink("s3://evmd-unreachable", endpoint_url=f"http://127.0.0.1:{port}", max_attempts=1)
    with pytest.raises(SinkError) as info:
        sink.emit_json("v.json", {})
    assert info.value.kind is SinkErrorKind.CONNECTION and info.value.retryable
    assert f"127.0.0.1:{port}" in str(info.value)


def test_no_credentials_in_the_chain(s3_bucket: S3Target, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    sink = open_sink(s3_bucket.url(), endpoint_url=s3_bucket.endpoint_url, max_attempts=1)
    with pytest.raises(SinkError) as info:
        sink.emit_json("v.json", {})
    assert info.value.kind is SinkErrorKind.BAD_CREDENTIALS and not info.value.retryable
    assert "NoCredentialsError" in str(info.value)


def test_credentials_never_reach_messages_or_logs(
    s3_bucket: S3Target, s3_fault_proxy: FaultProxy, caplog: pytest.LogCaptureFixture
) -> None:
    # S3 echoes the access key id in InvalidAccessKeyId errors; the message must not carry it on.
    s3_fault_proxy.inject(
        Fault(
            403,
            "InvalidAccessKeyId",
            message=f"The AWS Access Key Id {TEST_ACCESS_KEY_ID} you provided does not exist in our records.",
            extra_xml=f"<AWSAccessKeyId>{TEST_ACCESS_KEY_ID}</AWSAccessKeyId>",
            method="PUT",
        )
    )
    caplog.set_level(logging.DEBUG, logger="evmdigest")
    sink = _via_proxy(s3_fault_proxy, s3_bucket)
    with pytest.raises(SinkError) as info:
        sink.emit_json("v.json", {})
    s3_fault_proxy.clear()
    sink.emit_json("ok.json", {})  # a success logs too
    err = info.value
    assert err.kind is SinkErrorKind.BAD_CREDENTIALS
    assert "evmdigest.emit" in {r.name for r in caplog.records}
    for text in (str(err), repr(err), err.what, err.hint, caplog.text, sink.describe()):
        assert TEST_ACCESS_KEY_ID not in text
        assert TEST_SECRET_ACCESS_KEY not in text


def test_a_failed_seal_write_says_the_object_landed(s3_bucket: S3Target, s3_fault_proxy: FaultProxy) -> None:
    s3_fault_proxy.inject(Fault(503, "SlowDown", method="PUT", path_suffix=".seal.json"))
    sink = _via_proxy(s3_fault_proxy, s3_bucket)
    with pytest.raises(SinkError) as info:
        sink.emit_json("v.json", {"v": 1})
    err = info.value
    assert err.kind is SinkErrorKind.THROTTLED and err.key == "p/v.json.seal.json"
    assert "landed but its seal did not" in str(err) and "complete_seal" in str(err)
    assert _keys(s3_bucket) == ["p/v.json"]  # object present, seal missing: what verify calls missing_seal
