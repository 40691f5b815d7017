"""What a sink scheme registers: how to check and open its URLs and find its objects (registry.py holds the table).

Each scheme lives in its own module (folder.py, s3.py) defining `SINK_CLASS`, `check_url`, `open_url` and
`locate_url`. The registry names the module and imports it on first use, so checking a `file://` URL
(or refusing an unknown scheme) never loads boto3.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import SplitResult

from evmdigest.emit.sink import Sink

if TYPE_CHECKING:
    import boto3


@dataclass(frozen=True)
class SinkOptions:
    """What `open_sink` passes to a scheme's opener; each scheme reads the options it understands.

    S3: `region`/`endpoint_url` default to boto3's chain, `session` to a new boto3 Session,
    `max_attempts` to botocore's retry configuration; `part_size` is the multipart part size;
    `client_kwargs` are extra `session.client("s3", ...)` arguments that win over the ones above
    (a `config` in them is merged into ours, theirs winning key by key).
    """

    region: str | None = None
    endpoint_url: str | None = None
    session: boto3.session.Session | None = None
    part_size: int | None = None
    max_attempts: int | None = None
    client_kwargs: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class SinkScheme:
    name: str  # the URL scheme, e.g. "s3"
    module: str  # the module implementing it, imported on first use
    example: str  # a sink URL, for error messages: "s3://bucket/prefix"
    object_example: str  # an object URI, for error messages: "s3://bucket/key"

    def _module(self) -> ModuleType:
        return importlib.import_module(self.module)

    @property
    def sink_class(self) -> type[Sink]:
        return cast("type[Sink]", self._module().SINK_CLASS)

    @property
    def store(self) -> str:
        """The store label used in messages ("S3", "folder")."""
        return self.sink_class.store

    def check(self, url: str, parts: SplitResult, options: SinkOptions) -> None:
        """Refuse a malformed sink URL or option without opening anything (no client, no network)."""
        self._module().check_url(url, parts, options)

    def open(self, url: str, parts: SplitResult, options: SinkOptions) -> Sink:
        return cast("Sink", self._module().open_url(url, parts, options))

    def locate(self, uri: str, parts: SplitResult, options: SinkOptions) -> tuple[Sink, str]:
        """object URI -> (the Sink holding it, its key in that sink)."""
        return cast("tuple[Sink, str]", self._module().locate_url(uri, parts, options))
