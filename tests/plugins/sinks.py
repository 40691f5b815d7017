"""`any_sink`: the same test on the folder sink and on every S3 test server over HTTP, with back-door writes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from evmdigest.emit import Sink, open_sink
from evmdigest.emit.folder import FolderSink
from tests.plugins.s3 import S3_SERVERS, S3Target, new_bucket, server_named


@dataclass
class AnySink:
    sink: Sink
    put: Callable[[str, bytes], None]  # writes behind the sink's back (an attacker, a crash's leftovers)
    delete: Callable[[str], None]
    target: S3Target | None = None  # the bucket, for S3

    @property
    def endpoint_url(self) -> str | None:
        return self.target.endpoint_url if self.target else None


@pytest.fixture(params=["folder", *S3_SERVERS])
def any_sink(request: pytest.FixtureRequest, tmp_path: Path) -> AnySink:
    if request.param == "folder":
        folder = FolderSink(tmp_path / "sealed")

        def put(key: str, data: bytes) -> None:
            folder.path_for(key).parent.mkdir(parents=True, exist_ok=True)
            folder.path_for(key).write_bytes(data)

        return AnySink(folder, put, lambda key: folder.path_for(key).unlink())
    target = new_bucket(server_named(request, request.param))
    s3 = open_sink(target.url("evm"), endpoint_url=target.endpoint_url)
    client = target.client()
    return AnySink(
        s3,
        lambda key, data: client.put_object(Bucket=target.bucket, Key=s3.full_key(key), Body=data) and None,
        lambda key: client.delete_object(Bucket=target.bucket, Key=s3.full_key(key)) and None,
        target,
    )
