"""S3 sink: boto3 with the standard credential chain, SHA-256 wire checksums, write-once commits.

Payloads whose gzip bytes fit in one part go up as a single PutObject (FULL_OBJECT checksum).
Larger ones become a multipart upload: parts of `part_size` bytes are cut as the producer streams
and uploaded by one background thread through a one-slot queue, so at most ~3 parts are in memory.
The stored checksum is then S3's COMPOSITE form (SHA-256 of the part digests, `<b64>-<parts>`).
Both PutObject and CompleteMultipartUpload carry `If-None-Match: *`; a producer failure aborts the
multipart upload before anything becomes visible.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, FlexibleChecksumError

from evmdigest.emit.errors import CorruptObject, SinkError, SinkErrorKind, redact
from evmdigest.emit.s3errors import classify_s3_error
from evmdigest.emit.s3upload import (
    AWS_ERRORS,
    DEFAULT_PART_SIZE,
    MAX_PART_SIZE,
    MIN_PART_SIZE,
    S3Writer,
)
from evmdigest.emit.seal import StoreChecksum
from evmdigest.emit.sink import Sink
from evmdigest.emit.stream import READ_CHUNK

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["DEFAULT_PART_SIZE", "MAX_PART_SIZE", "MIN_PART_SIZE", "S3Sink"]


def custom_endpoint_in_use(endpoint_url: str | None) -> bool:
    return bool(endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"))


class S3Sink(Sink):
    store = "S3"

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
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.part_size = part_size
        config: dict[str, Any] = {"max_pool_connections": 4}
        if custom_endpoint_in_use(endpoint_url):
            # MinIO-style stores rarely resolve virtual-host bucket names; path style always works.
            config["s3"] = {"addressing_style": "path"}
        if max_attempts is not None:
            config["retries"] = {"total_max_attempts": max_attempts, "mode": "standard"}
        try:
            session = session or boto3.session.Session(region_name=region)
        except BotoCoreError as exc:  # e.g. AWS_PROFILE names a profile that does not exist
            raise classify_s3_error(exc, operation="open_sink", bucket=bucket, key=None, region=region) from exc
        self.client: S3Client = session.client(
            "s3", region_name=region, endpoint_url=endpoint_url, config=Config(**config)
        )
        self.region = self.client.meta.region_name

    def full_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri_for(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.full_key(key)}"

    def describe(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        return redact(f"{where} (region {self.region}, endpoint {self.client.meta.endpoint_url})")

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

    def _open_writer(self, key: str) -> S3Writer:
        return S3Writer(self, key)

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
            raise CorruptObject(
                f"GetObject: {exc}", bucket=self.bucket, key=full, region=self.region, store=self.store
            ) from exc
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
