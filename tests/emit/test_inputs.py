"""Bad input is refused up front with a message naming the field and the fix; errors survive pickling."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from evmdigest.emit import SinkConflict, SinkError, SinkErrorKind, open_sink
from evmdigest.emit.errors import redact
from evmdigest.emit.seal import StoreChecksum


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("gs://bucket/x", ["unsupported scheme 'gs'", "s3://bucket/prefix"]),
        ("bucket/x", ["unsupported scheme ''"]),
        ("", ["empty"]),
        ("s3://ab/x", ["bucket name 'ab'", "3-63"]),
        ("s3://Evm_Digest/x", ["bucket name 'Evm_Digest'", "lowercase"]),
        ("s3://evm..digest", ["adjacent"]),
        ("s3://192.168.0.1/x", ["IP address"]),
        ("s3://xn--bucket/x", ["reserved prefix"]),
        ("s3://bucket:9000/x", ["bucket name 'bucket:9000'"]),
        ("s3://evm-digest/a//b", ["prefix", "'..'"]),
        ("s3://evm-digest/x?versionId=1", ["query"]),
        ("file://relative/dir", ["absolute path", "file:///"]),
        ("file:///srv/../etc", ["normalised absolute path"]),
    ],
)
def test_bad_sink_urls(url: str, words: list[str]) -> None:
    with pytest.raises(ValueError) as info:
        open_sink(url)
    for word in words:
        assert word in str(info.value)


def test_bad_s3_options() -> None:
    with pytest.raises(ValueError, match=r"part_size 1024 .* \(5 MiB\)"):
        open_sink("s3://evm-digest", part_size=1024)
    with pytest.raises(ValueError, match="max_attempts 0"):
        open_sink("s3://evm-digest", max_attempts=0)
    with pytest.raises(ValueError, match="endpoint_url carries user:password") as info:
        open_sink("s3://evm-digest", endpoint_url="http://minio:s3cr3t@127.0.0.1:9000")
    assert "s3cr3t" not in str(info.value)
    with pytest.raises(ValueError, match="endpoint_url 'minio:9000'"):
        open_sink("s3://evm-digest", endpoint_url="minio:9000")


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/abs.json",
        "dir/",
        "a/../b.json",
        "a//b.json",
        "./a.json",
        "a\\b.json",
        "x.json.seal.json",
        "bad\nkey",
        ".x.json.evmd-tmp-1",
    ],
)
def test_bad_keys(tmp_path: Path, key: str) -> None:
    sink = open_sink(tmp_path.as_uri())
    with pytest.raises(ValueError, match=r"^key .* use a relative key"):
        sink.emit_json(key, {})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("key", ["../secret.json", "/etc/passwd", "a/./b"])
def test_reads_refuse_keys_outside_the_sink(tmp_path: Path, key: str) -> None:
    sink = open_sink((tmp_path / "sink").as_uri())
    for read in (sink.read_json, sink.read_seal, sink.digest_object):
        with pytest.raises(ValueError, match=r"^key "):
            read(key)


def test_redact_hides_credentials() -> None:
    text = redact(
        "key AKIAIOSFODNN7EXAMPLE aws_secret_access_key=wJalrXUtnFEMI/K7MDENG X-Amz-Credential=AKIA1/2 "
        "token: abc http://user:pw@host ExpiredToken: The provided token has expired"
    )
    for secret in ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI", "AKIA1", "abc", "user:pw"):
        assert secret not in text
    assert "ExpiredToken: The provided token has expired" in text  # error codes stay readable


def test_errors_survive_pickling() -> None:
    """Prefect ships task exceptions across processes; kind, retryable and the seal must survive."""
    seal_less = SinkConflict("taken", bucket="b", key="k", region="r")
    err = SinkError(
        SinkErrorKind.THROTTLED, "PutObject failed with HTTP 503 SlowDown", bucket="b", key="k", region="eu-west-1"
    )
    for original in (err, seal_less):
        copy = pickle.loads(pickle.dumps(original))
        assert type(copy) is type(original) and str(copy) == str(original)
        assert (copy.kind, copy.retryable, copy.bucket, copy.key, copy.region) == (
            original.kind,
            original.retryable,
            "b",
            "k",
            original.region,
        )
    assert pickle.loads(pickle.dumps(seal_less)).existing_seal is None


def test_store_checksum_wire_forms() -> None:
    composite = StoreChecksum.parse("abc=-3")
    assert (composite.type, composite.value, composite.parts, composite.wire()) == ("COMPOSITE", "abc=", 3, "abc=-3")
    full = StoreChecksum.parse("abc=")
    assert (full.type, full.wire()) == ("FULL_OBJECT", "abc=")
