"""`any_sink`: the same test on the folder sink and on S3 (moto over HTTP), with back-door writes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from evmdigest.emit import Sink, open_sink
from evmdigest.emit.folder import FolderSink
from tests.plugins.s3 import S3Target


@dataclass
class AnySink:
    sink: Sink
    put: Callable[[str, bytes], None]  # writes behind the sink's back (an attacker, a crash's leftovers)
    delete: Callable[[str], None]
    target: S3Target | None = None  # the bucket, for S3


@pytest.fixture(params=["folder", "s3"])
def any_sink(request: pytest.FixtureRequest, tmp_path: Path) -> AnySink:
    if request.param == "folder":
        folder = FolderSink(tmp_path / "sealed")

        def put(key: str, data: bytes) -> None:
            folder.path_for(key).parent.mkdir(parents=True, exist_ok=True)
            folder.path_for(key).write_bytes(data)

        return AnySink(folder, put, lambda key: folder.path_for(key).unlink())
    target: S3Target = request.getfixturevalue("s3_bucket")
    s3 = open_sink(target.url("evm"), endpoint_url=target.endpoint_url)
    client = target.client()
    return AnySink(
        s3,
        lambda key, data: client.put_object(Bucket=target.bucket, Key=s3.full_key(key), Body=data) and None,
        lambda key: client.delete_object(Bucket=target.bucket, Key=s3.full_key(key)) and None,
        target,
    )
