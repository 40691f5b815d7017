"""The one sink-scheme registry: URL scheme -> how to check, open and find objects in a sink, plus labels.

`open_sink` (sink URLs), `check_sink_url` (the same rules without opening anything) and `locate_object`
(object URIs, for `verify`) all dispatch here, and error messages list the registered examples. A plain
path (`./out`, `/srv/out`, `out`) means the folder sink; `sink_url_of` turns it into a `file://` URL
here and nowhere else. Adding a scheme (say `gs://`) is one module defining `SINK_CLASS`, `check_url`,
`open_url` and `locate_url`, and one entry below. Scheme modules are imported on first use (S3's pulls
in boto3), so refusing a bad URL or checking a folder is fast.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from evmdigest.emit.scheme import SinkOptions, SinkScheme
from evmdigest.emit.sink import Sink

if TYPE_CHECKING:
    import boto3

SCHEMES: dict[str, SinkScheme] = {
    scheme.name: scheme
    for scheme in (
        SinkScheme("s3", "evmdigest.emit.s3", example="s3://bucket/prefix", object_example="s3://bucket/key"),
        SinkScheme("file", "evmdigest.emit.folder", example="file:///absolute/dir", object_example="file:///path"),
    )
}


def _examples(attribute: str) -> str:
    return " or ".join([*(getattr(scheme, attribute) for scheme in SCHEMES.values()), "a plain path"])


def has_control_characters(text: str) -> bool:
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def sink_url_of(text: str, *, what: str = "sink url") -> str:
    """`text` as a URL: a plain absolute or relative path becomes `file:///<absolute path>`; URLs stay."""
    example = "example" if what == "sink url" else "object_example"
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{what} {text!r} is empty; use {_examples(example)}")
    if has_control_characters(text):
        raise ValueError(f"{what} {text!r} contains control characters; use {_examples(example)}")
    if urlsplit(text).scheme:
        return text
    # abspath also folds `..` lexically, which the folder scheme's "normalised path" rule asks for.
    return Path(os.path.abspath(os.path.expanduser(text))).as_uri()


def scheme_of(url: str, *, what: str = "sink url") -> SinkScheme:
    """The registered scheme of `url`, or a ValueError naming the schemes there are."""
    scheme = SCHEMES.get(urlsplit(url).scheme)
    if scheme is None:
        examples = _examples("example" if what == "sink url" else "object_example")
        raise ValueError(f"{what} {url!r}: unsupported scheme {urlsplit(url).scheme!r}; use {examples}")
    return scheme


def _parse(url: str) -> tuple[str, SinkScheme]:
    url = sink_url_of(url)
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ValueError(f"sink url {url!r} has a query or fragment; remove everything after '?' or '#'")
    return url, scheme_of(url)


def check_sink_url(url: str, *, region: str | None = None, endpoint_url: str | None = None) -> str:
    """The sink URL as `open_sink` would use it (plain paths made `file://`), checked without opening it."""
    url, scheme = _parse(url)
    scheme.check(url, urlsplit(url), SinkOptions(region=region, endpoint_url=endpoint_url))
    return url


def open_sink(
    url: str,
    *,
    region: str | None = None,
    endpoint_url: str | None = None,
    session: boto3.session.Session | None = None,
    part_size: int | None = None,
    max_attempts: int | None = None,
    client_kwargs: Mapping[str, Any] | None = None,
) -> Sink:
    """A Sink for a sink URL such as `s3://bucket[/prefix]`, `file:///absolute/dir` or a plain path.

    The options are SinkOptions' (scheme.py): S3 reads them all (boto3's chain fills what is unset;
    `part_size` is the multipart part size in bytes, 5 MiB … 5 GiB, default 8 MiB); file:// ignores them.
    """
    url, scheme = _parse(url)
    options = SinkOptions(
        region=region,
        endpoint_url=endpoint_url,
        session=session,
        part_size=part_size,
        max_attempts=max_attempts,
        client_kwargs=client_kwargs,
    )
    return scheme.open(url, urlsplit(url), options)


def locate_object(uri: str, *, endpoint_url: str | None = None, region: str | None = None) -> tuple[Sink, str]:
    """The sink holding the object at `uri` (`s3://bucket/key`, `file:///path`, a plain path) and its key in it."""
    uri = sink_url_of(uri, what="uri")
    options = SinkOptions(region=region, endpoint_url=endpoint_url)
    return scheme_of(uri, what="uri").locate(uri, urlsplit(uri), options)
