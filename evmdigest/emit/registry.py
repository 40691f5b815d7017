"""The one sink-scheme registry: URL scheme -> how to open a sink and find an object, plus message labels.

`open_sink` (sink URLs) and `locate_object` (object URIs, for `verify`) both dispatch here, and error
messages list the registered examples. Adding a scheme (say `gs://`) is one module defining a
`SinkScheme` (a Sink subclass with its `store` label, an opener, a locator) and one entry below.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import boto3

from evmdigest.emit import folder, s3
from evmdigest.emit.scheme import SinkOptions, SinkScheme
from evmdigest.emit.sink import Sink

SCHEMES: dict[str, SinkScheme] = {scheme.name: scheme for scheme in (s3.SCHEME, folder.SCHEME)}


def _examples(attribute: str) -> str:
    return " or ".join(getattr(scheme, attribute) for scheme in SCHEMES.values())


def scheme_of(url: str, *, what: str = "sink url") -> SinkScheme:
    """The registered scheme of `url`, or a ValueError naming the schemes there are."""
    scheme = SCHEMES.get(urlsplit(url).scheme)
    if scheme is None:
        examples = _examples("example" if what == "sink url" else "object_example")
        raise ValueError(f"{what} {url!r}: unsupported scheme {urlsplit(url).scheme!r}; use {examples}")
    return scheme


def open_sink(
    url: str,
    *,
    region: str | None = None,
    endpoint_url: str | None = None,
    session: boto3.session.Session | None = None,
    part_size: int = s3.DEFAULT_PART_SIZE,
    max_attempts: int | None = None,
    client_kwargs: Mapping[str, Any] | None = None,
) -> Sink:
    """A Sink for a sink URL such as `s3://bucket[/prefix]` or `file:///absolute/dir`.

    The options are SinkOptions' (scheme.py): S3 reads them all (boto3's chain fills what is unset;
    `part_size` is the multipart part size in bytes, 5 MiB … 5 GiB); file:// ignores them.
    """
    if not isinstance(url, str) or not url:
        raise ValueError(f"sink url {url!r} is empty; use {_examples('example')}")
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ValueError(f"sink url {url!r} has a query or fragment; remove everything after '?' or '#'")
    options = SinkOptions(
        region=region,
        endpoint_url=endpoint_url,
        session=session,
        part_size=part_size,
        max_attempts=max_attempts,
        client_kwargs=client_kwargs,
    )
    return scheme_of(url).open(url, parts, options)


def locate_object(uri: str, *, endpoint_url: str | None = None, region: str | None = None) -> tuple[Sink, str]:
    """The sink holding the object at `uri` (`s3://bucket/key`, `file:///path`) and its key within it."""
    options = SinkOptions(region=region, endpoint_url=endpoint_url)
    return scheme_of(uri, what="uri").locate(uri, urlsplit(uri), options)
