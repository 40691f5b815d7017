"""Object keys are checked before any store is touched: shape, reserved names, S3's 1024-byte limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from evmdigest.emit import open_sink
from evmdigest.emit.keys import MAX_KEY_BYTES
from tests.plugins.s3 import S3Target


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
        "x.json.intent-" + "a" * 64 + ".json",  # intents and claims are control objects, never records
        "n1/claims/claim-5.json",
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


def test_the_full_key_with_its_companions_must_fit_s3s_limit(s3_bucket: S3Target) -> None:
    prefix = "p" * 100
    sink = open_sink(s3_bucket.url(prefix), endpoint_url=s3_bucket.endpoint_url)
    room = MAX_KEY_BYTES - len(prefix) - 1 - len(".intent-") - 64 - len(".json")  # the longest companion: intent
    fits = "k" * room
    assert sink.emit_json(fits, {}).key == fits
    too_long = "k" * (room + 1)
    with pytest.raises(
        ValueError, match=rf"^key '{too_long}': with its intent suffix .* is 1025 bytes, over S3's limit"
    ):
        sink.emit_json(too_long, {})
    assert sink.list_keys() == [fits]


def test_reads_refuse_a_full_key_over_the_limit(tmp_path: Path) -> None:
    sink = open_sink(tmp_path.as_uri())
    name = "é" * 513  # 1026 bytes in UTF-8 though 513 characters
    with pytest.raises(ValueError, match=r"the full key .* is 1026 bytes"):
        sink.read_json(name)
