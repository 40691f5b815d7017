"""open_sink: turn a sink URL into a Sink, rejecting bad input with a message that says the fix."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import boto3

from evmdigest.emit.folder import FolderSink
from evmdigest.emit.s3 import DEFAULT_PART_SIZE, MAX_PART_SIZE, MIN_PART_SIZE, S3Sink
from evmdigest.emit.sink import Sink

_BUCKET_CHARS = re.compile(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
_BUCKET_RULE = "use 3-63 lowercase letters, digits, '.' or '-', starting and ending with a letter or digit"


def bucket_problem(bucket: str) -> str | None:
    """Why `bucket` is not a valid S3 bucket name (general-purpose bucket rules), or None."""
    if not 3 <= len(bucket) <= 63:
        return f"it is {len(bucket)} characters long"
    if not _BUCKET_CHARS.match(bucket):
        return "it has characters other than lowercase letters, digits, '.' and '-', or starts/ends badly"
    if ".." in bucket or ".-" in bucket or "-." in bucket:
        return "it has adjacent '.'/'-' characters"
    try:
        ipaddress.IPv4Address(bucket)
        return "it is formatted as an IP address"
    except ValueError:
        pass
    for reserved in ("xn--", "sthree-", "amzn-s3-demo-"):
        if bucket.startswith(reserved):
            return f"it starts with the reserved prefix {reserved!r}"
    for reserved in ("-s3alias", "--ol-s3", ".mrap"):
        if bucket.endswith(reserved):
            return f"it ends with the reserved suffix {reserved!r}"
    return None


def _check_prefix(url: str, prefix: str) -> str:
    prefix = prefix.strip("/")
    if prefix and any(p in ("", ".", "..") for p in prefix.split("/")):
        raise ValueError(
            f"sink url {url!r}: the prefix {prefix!r} has an empty, '.' or '..' segment; "
            "write it like s3://bucket/runs/main"
        )
    return prefix


def _check_endpoint(endpoint_url: str) -> None:
    parts = urlsplit(endpoint_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"endpoint_url {endpoint_url!r} is not an http(s) URL with a host; "
            "pass e.g. http://127.0.0.1:9000 for MinIO"
        )
    if parts.username or parts.password:
        # Credentials in a URL end up in logs and error messages; boto3's chain is the only source.
        raise ValueError(
            "endpoint_url carries user:password; remove it and provide credentials through the "
            "standard AWS chain (environment, AWS_PROFILE, shared files)"
        )


def open_sink(
    url: str,
    *,
    region: str | None = None,
    endpoint_url: str | None = None,
    session: boto3.session.Session | None = None,
    part_size: int = DEFAULT_PART_SIZE,
    max_attempts: int | None = None,
) -> Sink:
    """A Sink for `s3://bucket[/prefix]` or `file:///absolute/dir`.

    S3 options follow boto3: `region`/`endpoint_url` default to the environment and profile
    (AWS_REGION, AWS_ENDPOINT_URL, AWS_PROFILE…), `session` to a new boto3 Session, and
    `max_attempts` to botocore's retry configuration. `part_size` is the multipart part size in
    bytes (5 MiB … 5 GiB); gzip payloads smaller than one part go up in a single PutObject.
    The S3 options are ignored for file:// sinks.
    """
    if not isinstance(url, str) or not url:
        raise ValueError(f"sink url {url!r} is empty; use s3://bucket/prefix or file:///absolute/dir")
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ValueError(f"sink url {url!r} has a query or fragment; remove everything after '?' or '#'")
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(
                f"sink url {url!r}: a file URL needs an absolute path, e.g. file:///var/lib/evm-digest "
                f"(three slashes); {parts.netloc!r} was read as a host"
            )
        path = unquote(parts.path)
        if not path.startswith("/") or any(p in (".", "..") for p in path.split("/")):
            raise ValueError(f"sink url {url!r}: use a normalised absolute path like file:///srv/out")
        return FolderSink(Path(path))
    if parts.scheme == "s3":
        bucket = parts.netloc
        problem = bucket_problem(bucket)
        if problem:
            raise ValueError(
                f"sink url {url!r}: bucket name {bucket!r} is not a valid S3 bucket name ({problem}); {_BUCKET_RULE}"
            )
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise ValueError(
                f"part_size {part_size} is outside S3's limits; use {MIN_PART_SIZE} (5 MiB) to "
                f"{MAX_PART_SIZE} (5 GiB) bytes"
            )
        if max_attempts is not None and max_attempts < 1:
            raise ValueError(f"max_attempts {max_attempts} must be at least 1 (1 = no retries)")
        if endpoint_url is not None:
            _check_endpoint(endpoint_url)
        return S3Sink(
            bucket,
            _check_prefix(url, parts.path),
            region=region,
            endpoint_url=endpoint_url,
            session=session,
            part_size=part_size,
            max_attempts=max_attempts,
        )
    raise ValueError(
        f"sink url {url!r}: unsupported scheme {parts.scheme!r}; use s3://bucket/prefix or file:///absolute/dir"
    )
