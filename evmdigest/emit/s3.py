"""S3 sink (`s3://bucket[/prefix]`): boto3 with the standard credential chain, SHA-256 wire checksums,
write-once commits. Also this scheme's URL rules (bucket names, prefixes, endpoints) and its registration.

Payloads whose gzip bytes fit in one part go up as a single PutObject (FULL_OBJECT checksum).
Larger ones become a multipart upload: parts of `part_size` bytes are cut as the producer streams
and uploaded by one background thread through a one-slot queue, so at most ~3 parts are in memory.
The stored checksum is then S3's COMPOSITE form (SHA-256 of the part digests, `<b64>-<parts>`).
Both PutObject and CompleteMultipartUpload carry `If-None-Match: *`; a producer failure aborts the
multipart upload before anything becomes visible.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, FlexibleChecksumError

from evmdigest.emit.errors import CorruptObject, SinkError, SinkErrorKind, redact
from evmdigest.emit.keys import validate_key
from evmdigest.emit.s3errors import S3_STORE, classify_s3_error, s3_location
from evmdigest.emit.s3upload import (
    AWS_ERRORS,
    CONTENT_TYPES,
    DEFAULT_PART_SIZE,
    MAX_PART_SIZE,
    MIN_PART_SIZE,
    S3Writer,
)
from evmdigest.emit.scheme import SinkOptions, SinkScheme
from evmdigest.emit.seal import StoreChecksum
from evmdigest.emit.sink import Sink
from evmdigest.emit.stream import READ_CHUNK, Encoding

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["DEFAULT_PART_SIZE", "MAX_PART_SIZE", "MIN_PART_SIZE", "SCHEME", "S3Sink"]

_BUCKET_CHARS = re.compile(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
_BUCKET_RULE = "use 3-63 lowercase letters, digits, '.' or '-', starting and ending with a letter or digit"


def custom_endpoint_in_use(endpoint_url: str | None) -> bool:
    return bool(endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"))


def _config(ours: dict[str, Any], theirs: Config | None) -> Config:
    """Our botocore settings with the caller's on top, key by key (nested dicts such as `s3` merged too)."""
    merged = dict(ours)
    # botocore keeps what the user set in `_user_provided_options` (prefect-aws reads it the same way).
    provided: dict[str, Any] = dict(getattr(theirs, "_user_provided_options", {})) if theirs else {}
    for name, value in provided.items():
        mine = merged.get(name)
        merged[name] = {**mine, **value} if isinstance(mine, dict) and isinstance(value, dict) else value
    return Config(**merged)


class S3Sink(Sink):
    """Give it a ready `client`, or let it build one from `session` (default: a new boto3 Session),
    `region`, `endpoint_url` and `client_kwargs` (extra client arguments that win over those two; a
    `config` among them is merged over ours: path addressing for custom endpoints, retries, pool size)."""

    store = S3_STORE

    def __init__(
        self,
        bucket: str,
        prefix: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        session: boto3.session.Session | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        max_attempts: int | None = None,
        client: S3Client | None = None,
        client_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.part_size = part_size
        if client is None:
            client = self._client(region, endpoint_url, session, max_attempts, client_kwargs or {})
        self.client: S3Client = client
        self.region = self.client.meta.region_name

    def _client(
        self,
        region: str | None,
        endpoint_url: str | None,
        session: boto3.session.Session | None,
        max_attempts: int | None,
        client_kwargs: Mapping[str, Any],
    ) -> S3Client:
        kwargs: dict[str, Any] = {"region_name": region, "endpoint_url": endpoint_url, **client_kwargs}
        ours: dict[str, Any] = {"max_pool_connections": 4}
        if custom_endpoint_in_use(kwargs["endpoint_url"]):
            # MinIO-style stores rarely resolve virtual-host bucket names; path style always works.
            ours["s3"] = {"addressing_style": "path"}
        if max_attempts is not None:
            ours["retries"] = {"total_max_attempts": max_attempts, "mode": "standard"}
        kwargs["config"] = _config(ours, kwargs.get("config"))
        try:
            session = session or boto3.session.Session(region_name=region)
            client: S3Client = session.client("s3", **kwargs)
        except BotoCoreError as exc:  # e.g. AWS_PROFILE names a profile that does not exist
            raise classify_s3_error(exc, operation="open_sink", bucket=self.bucket, key=None, region=region) from exc
        return client

    def full_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri_for(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.full_key(key)}"

    def describe(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        return redact(f"{where} (region {self.region}, endpoint {self.client.meta.endpoint_url})")

    def location(self, full_key: str | None) -> str | None:
        return s3_location(self.bucket, full_key, self.region)

    def _fail(self, exc: BaseException, operation: str, key: str | None) -> SinkError:
        return classify_s3_error(exc, operation=operation, bucket=self.bucket, key=key, region=self.region)

    def confirm_checksum(self, key: str, local: StoreChecksum, reported: str | None) -> StoreChecksum | None:
        """The store's checksum of what it stored, checked against the one we computed while sending."""
        stored = StoreChecksum.parse(reported) if reported else self._store_checksum(key)
        if stored is None:
            return None  # the store keeps no SHA-256 of its own (some S3-compatible stores)
        if stored.value != local.value:
            raise self.error(
                SinkErrorKind.OTHER,
                f"the store reports SHA-256 checksum {stored.wire()} but the bytes sent hash to "
                f"{local.wire()}; the object is not trustworthy and was not sealed",
                key,
            )
        return local  # confirmed by the store; ours also knows FULL_OBJECT vs COMPOSITE and the parts

    def _open_writer(self, key: str, encoding: Encoding) -> S3Writer:
        return S3Writer(self, key, content_type=CONTENT_TYPES[encoding])

    def _delete(self, key: str) -> None:
        # Claims only (needs s3:DeleteObject on the claims); deleting a missing key succeeds on S3.
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.full_key(key))
        except AWS_ERRORS as exc:
            raise self._fail(exc, "DeleteObject", self.full_key(key)) from exc

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return dict(self.client.head_object(Bucket=self.bucket, Key=self.full_key(key), ChecksumMode="ENABLED"))
        except AWS_ERRORS as exc:
            err = self._fail(exc, "HeadObject", self.full_key(key))
            if err.kind is SinkErrorKind.NOT_FOUND:
                return None
            raise err from exc

    def _exists(self, key: str) -> bool | None:
        try:
            return self._head(key) is not None
        except SinkError as err:
            if err.kind is SinkErrorKind.ACCESS_DENIED:
                return None  # HEAD of a missing key is 403 without s3:ListBucket; the write decides
            raise

    def _store_checksum(self, key: str) -> StoreChecksum | None:
        head = self._head(key)
        wire = head.get("ChecksumSHA256") if head else None
        return StoreChecksum.parse(wire, head.get("ChecksumType")) if head and wire else None

    def _read_chunks(self, key: str) -> Iterator[bytes]:
        full = self.full_key(key)
        try:
            # ChecksumMode: botocore then checks FULL_OBJECT checksums of what it downloads.
            body = self.client.get_object(Bucket=self.bucket, Key=full, ChecksumMode="ENABLED")["Body"]
        except AWS_ERRORS as exc:
            raise self._fail(exc, "GetObject", full) from exc
        return self._body_chunks(body, full)

    def _body_chunks(self, body: Any, full: str) -> Iterator[bytes]:
        try:
            yield from body.iter_chunks(READ_CHUNK)
        except FlexibleChecksumError as exc:  # the bytes received do not match the store's checksum
            raise CorruptObject(f"GetObject: {exc}", **self.where(full)) from exc
        except AWS_ERRORS as exc:
            raise self._fail(exc, "GetObject (reading the body)", full) from exc
        finally:
            body.close()

    def _list(self, prefix: str) -> Iterable[str]:
        base = f"{self.prefix}/" if self.prefix else ""
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=base + prefix):
                for obj in page.get("Contents", []):
                    yield obj["Key"][len(base) :]
        except AWS_ERRORS as exc:
            raise self._fail(exc, "ListObjectsV2", base + prefix) from exc


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


def open_s3(url: str, parts: SplitResult, options: SinkOptions) -> S3Sink:
    bucket = parts.netloc
    problem = bucket_problem(bucket)
    if problem:
        raise ValueError(
            f"sink url {url!r}: bucket name {bucket!r} is not a valid S3 bucket name ({problem}); {_BUCKET_RULE}"
        )
    part_size = DEFAULT_PART_SIZE if options.part_size is None else options.part_size
    if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
        raise ValueError(
            f"part_size {part_size} is outside S3's limits; use {MIN_PART_SIZE} (5 MiB) to "
            f"{MAX_PART_SIZE} (5 GiB) bytes"
        )
    if options.max_attempts is not None and options.max_attempts < 1:
        raise ValueError(f"max_attempts {options.max_attempts} must be at least 1 (1 = no retries)")
    for endpoint in (options.endpoint_url, (options.client_kwargs or {}).get("endpoint_url")):
        if endpoint is not None:
            _check_endpoint(endpoint)
    return S3Sink(
        bucket,
        _check_prefix(url, parts.path),
        region=options.region,
        endpoint_url=options.endpoint_url,
        session=options.session,
        part_size=part_size,
        max_attempts=options.max_attempts,
        client_kwargs=options.client_kwargs,
    )


def locate_s3(uri: str, parts: SplitResult, options: SinkOptions) -> tuple[Sink, str]:
    key = parts.path.lstrip("/")  # S3 URIs carry raw keys (as `aws s3` prints them), not %-escapes
    bucket_url = f"s3://{parts.netloc}"
    return open_s3(bucket_url, urlsplit(bucket_url), options), validate_key(key, allow_seal=True)


SCHEME = SinkScheme(
    name="s3",
    sink_class=S3Sink,
    example="s3://bucket/prefix",
    object_example="s3://bucket/key",
    open=open_s3,
    locate=locate_s3,
)
