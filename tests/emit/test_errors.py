"""Sink errors: credentials redacted, every field survives pickling, the store named by its own label."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from evmdigest.emit import SinkConflict, SinkError, SinkErrorKind, open_sink
from evmdigest.emit.errors import redact


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
    seal_less = SinkConflict("taken", bucket="/srv/out", key="k", region=None, store="folder")
    err = SinkError(
        SinkErrorKind.THROTTLED,
        "PutObject failed with HTTP 503 SlowDown",
        bucket="b",
        key="k",
        region="eu-west-1",
        store="S3",
        location="S3 bucket 'b', key 'k', region eu-west-1 (s3://b/k)",
    )
    for original in (err, seal_less):
        copy = pickle.loads(pickle.dumps(original))
        assert type(copy) is type(original) and str(copy) == str(original)
        assert (copy.kind, copy.retryable, copy.bucket, copy.key, copy.region, copy.store, copy.location) == (
            original.kind,
            original.retryable,
            original.bucket,
            "k",
            original.region,
            original.store,
            original.location,
        )
    assert pickle.loads(pickle.dumps(seal_less)).existing_seal is None


def test_a_folder_sink_error_names_the_folder(tmp_path: Path) -> None:
    sink = open_sink(tmp_path.as_uri())
    sink.emit_json("v.json", {})
    with pytest.raises(SinkConflict) as err:
        sink.emit_json("v.json", {})
    assert str(err.value).startswith(f"folder sink {str(tmp_path)!r}, key 'v.json': ")
    assert err.value.store == "folder"
