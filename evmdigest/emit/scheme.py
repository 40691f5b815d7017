"""What a sink scheme registers: how to open its URLs and find its objects (the registry holds the table).

Each scheme lives in its own module (folder.py, s3.py), which defines a `SCHEME`; registry.py lists them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
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


Opener = Callable[[str, SplitResult, SinkOptions], Sink]
Locator = Callable[[str, SplitResult, SinkOptions], tuple[Sink, str]]


@dataclass(frozen=True)
class SinkScheme:
    name: str  # the URL scheme, e.g. "s3"
    sink_class: type[Sink]  # carries the store label used in messages
    example: str  # a sink URL, for error messages: "s3://bucket/prefix"
    object_example: str  # an object URI, for error messages: "s3://bucket/key"
    open: Opener  # sink URL -> Sink
    locate: Locator  # object URI -> (the Sink holding it, its key in that sink)

    @property
    def store(self) -> str:
        return self.sink_class.store
