"""The sink-scheme registry: sink URLs and object URIs are dispatched in one place, bad ones refused up front."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from evmdigest.emit import locate_object, open_sink
from evmdigest.emit.folder import FolderSink
from evmdigest.emit.registry import SCHEMES, check_sink_url, sink_url_of
from evmdigest.emit.s3 import S3Sink


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("gs://bucket/x", ["unsupported scheme 'gs'", "s3://bucket/prefix", "a plain path"]),
        ("", ["empty"]),
        ("   ", ["empty"]),
        ("/srv/out\nINFO forged", ["control characters"]),
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
    for check in (open_sink, check_sink_url):
        with pytest.raises(ValueError) as info:
            check(url)
        for word in words:
            assert word in str(info.value)


def test_plain_paths_are_folder_sinks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for text, root in [("out", tmp_path / "out"), ("./a/b", tmp_path / "a" / "b"), ("a/../c", tmp_path / "c"),
                       (str(tmp_path / "abs dir"), tmp_path / "abs dir")]:  # fmt: skip
        assert sink_url_of(text) == root.as_uri() == check_sink_url(text)
        sink = open_sink(text)
        assert isinstance(sink, FolderSink) and sink.root == root
    assert sink_url_of("s3://bucket-a/x") == "s3://bucket-a/x"


def test_checking_a_url_opens_nothing_and_loads_boto3_only_for_s3() -> None:
    code = (
        "import sys\n"
        "from evmdigest.emit.registry import check_sink_url\n"
        "check_sink_url('./out'); check_sink_url('file:///srv/out')\n"
        "try:\n    check_sink_url('gs://b/x')\nexcept ValueError:\n    pass\n"
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules, 'boto3 loaded for a folder'\n"
        "check_sink_url('s3://bucket-a/x', endpoint_url='http://127.0.0.1:9')\n"
        "assert 'boto3' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


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


def test_every_scheme_names_its_own_store() -> None:
    assert {name: scheme.module for name, scheme in SCHEMES.items()} == {
        "s3": "evmdigest.emit.s3", "file": "evmdigest.emit.folder"
    }  # fmt: skip
    assert {name: scheme.store for name, scheme in SCHEMES.items()} == {"s3": "S3", "file": "folder"}
    assert {name: scheme.sink_class for name, scheme in SCHEMES.items()} == {"s3": S3Sink, "file": FolderSink}


def test_object_uris_are_located_through_the_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sink, key = locate_object((tmp_path / "seg" / "v.json.seal.json").as_uri())
    assert isinstance(sink, FolderSink) and sink.root == tmp_path / "seg" and key == "v.json.seal.json"
    for plain in (str(tmp_path / "seg" / "v.json.gz"), "seg/v.json.gz"):
        monkeypatch.chdir(tmp_path)
        sink, key = locate_object(plain)
        assert isinstance(sink, FolderSink) and sink.root == tmp_path / "seg" and key == "v.json.gz"
    with pytest.raises(
        ValueError, match=r"uri 'gs://b/k': unsupported scheme 'gs'; use s3://bucket/key or file:///path or a plain"
    ):
        locate_object("gs://b/k")
