"""The S3 upload of one object: single PutObject, or a multipart upload fed by a background thread.

Parts of `part_size` bytes are cut as compressed bytes arrive and handed to one uploader thread
through a one-slot queue, so at most ~3 parts (filling, queued, in flight) are in memory. Each
part and the single PUT carry their precomputed SHA-256, which S3 checks against what it received.
Both PutObject and CompleteMultipartUpload send `If-None-Match: *` (write-once).
"""

from __future__ import annotations

import base64
import hashlib
import queue
import threading
from typing import TYPE_CHECKING, NoReturn, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from evmdigest.emit.errors import SinkError, SinkErrorKind
from evmdigest.emit.s3errors import classify_s3_error
from evmdigest.emit.seal import StoreChecksum, b64_sha256, composite_sha256
from evmdigest.emit.stream import Encoding

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

MIN_PART_SIZE = 5 * 1024 * 1024  # S3 rejects smaller non-final parts
MAX_PART_SIZE = 5 * 1024 * 1024 * 1024
MAX_PARTS = 10_000
DEFAULT_PART_SIZE = 8 * 1024 * 1024
CONTENT_TYPES: dict[Encoding, str] = {"gzip": "application/gzip", "identity": "application/json"}

AWS_ERRORS = (ClientError, BotoCoreError)


class UploadTarget(Protocol):
    """What an upload needs from its sink (S3Sink provides it; this module never imports s3.py)."""

    bucket: str
    region: str | None
    part_size: int
    client: S3Client

    def full_key(self, key: str) -> str: ...

    def error(self, kind: SinkErrorKind, what: str, key: str | None) -> SinkError: ...

    def confirm_checksum(self, key: str, local: StoreChecksum, reported: str | None) -> StoreChecksum | None: ...


class S3Writer:
    def __init__(self, sink: UploadTarget, key: str, *, content_type: str = CONTENT_TYPES["gzip"]) -> None:
        self._sink = sink
        self._key = key
        self._content_type = content_type
        self._full = sink.full_key(key)
        self._buf = bytearray()
        self._upload_id: str | None = None
        self._parts: list[CompletedPartTypeDef] = []
        self._digests: list[bytes] = []
        self._queue: queue.Queue[tuple[int, bytes] | None] = queue.Queue(maxsize=1)
        self._worker: threading.Thread | None = None
        self._error: SinkError | None = None

    def _fail(self, exc: BaseException, operation: str) -> SinkError:
        return classify_s3_error(
            exc, operation=operation, bucket=self._sink.bucket, key=self._full, region=self._sink.region
        )

    # ---- streaming -------------------------------------------------------------------------
    def write(self, chunk: bytes) -> None:
        self._buf += chunk
        size = self._sink.part_size
        while len(self._buf) >= size:
            part = bytes(self._buf[:size])
            del self._buf[:size]
            self._submit(part)

    def _submit(self, part: bytes) -> None:
        if self._error is not None:
            raise self._error
        if self._upload_id is None:
            self._start_multipart()
        number = len(self._digests) + 1
        if number > MAX_PARTS:
            raise self._sink.error(
                SinkErrorKind.OTHER,
                f"the gzip payload needs more than {MAX_PARTS} parts of {self._sink.part_size} bytes; "
                "open the sink with a larger part_size",
                self._key,
            )
        digest = hashlib.sha256(part).digest()
        self._digests.append(digest)
        self._queue.put((number, part))  # blocks while the worker is busy: bounded memory

    def _start_multipart(self) -> None:
        try:
            resp = self._sink.client.create_multipart_upload(
                Bucket=self._sink.bucket, Key=self._full, ChecksumAlgorithm="SHA256", ContentType=self._content_type
            )
        except AWS_ERRORS as exc:
            raise self._fail(exc, "CreateMultipartUpload") from exc
        self._upload_id = resp["UploadId"]
        self._worker = threading.Thread(target=self._upload_parts, name=f"s3-parts:{self._full}", daemon=True)
        self._worker.start()

    def _upload_parts(self) -> None:
        assert self._upload_id is not None
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # keep draining so the producer never blocks on a dead worker
            number, body = item
            checksum = base64.b64encode(self._digests[number - 1]).decode("ascii")
            try:
                resp = self._sink.client.upload_part(
                    Bucket=self._sink.bucket,
                    Key=self._full,
                    UploadId=self._upload_id,
                    PartNumber=number,
                    Body=body,
                    ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=checksum,
                )
            except Exception as exc:
                self._error = self._fail(exc, f"UploadPart {number}")
                continue
            self._parts.append({"PartNumber": number, "ETag": resp["ETag"], "ChecksumSHA256": checksum})

    def _join_worker(self) -> None:
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join()
            self._worker = None

    # ---- commit / abort ----------------------------------------------------------------------
    def commit(self) -> StoreChecksum | None:
        if self._upload_id is None:
            return self._put_single()
        try:
            if self._buf:
                self._submit(bytes(self._buf))
                self._buf = bytearray()
        except SinkError as err:
            self._raise_after_abort(err)
        self._join_worker()
        if self._error is not None:
            self._raise_after_abort(self._error)
        parts = sorted(self._parts, key=lambda p: p["PartNumber"])
        try:
            resp = self._sink.client.complete_multipart_upload(
                Bucket=self._sink.bucket,
                Key=self._full,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": parts},
                IfNoneMatch="*",
            )
        except AWS_ERRORS as exc:
            self._raise_after_abort(self._fail(exc, "CompleteMultipartUpload"), exc)
        return self._sink.confirm_checksum(self._key, composite_sha256(self._digests), resp.get("ChecksumSHA256"))

    def _put_single(self) -> StoreChecksum | None:
        body = bytes(self._buf)
        self._buf = bytearray()
        local = b64_sha256(body)
        try:
            resp = self._sink.client.put_object(
                Bucket=self._sink.bucket,
                Key=self._full,
                Body=body,
                ContentType=self._content_type,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=local,  # S3 rejects the PUT (BadDigest) if its bytes hash differently
                IfNoneMatch="*",
            )
        except AWS_ERRORS as exc:
            raise self._fail(exc, "PutObject") from exc
        return self._sink.confirm_checksum(
            self._key, StoreChecksum(type="FULL_OBJECT", value=local), resp.get("ChecksumSHA256")
        )

    def _raise_after_abort(self, err: SinkError, cause: BaseException | None = None) -> NoReturn:
        leftover = self.abort()
        if leftover:
            err.add_detail(leftover)
        raise err from cause

    def abort(self) -> str | None:
        self._buf = bytearray()
        self._join_worker()
        if self._upload_id is None:
            return None
        try:
            self._sink.client.abort_multipart_upload(Bucket=self._sink.bucket, Key=self._full, UploadId=self._upload_id)
        except Exception as exc:
            err = self._fail(exc, "AbortMultipartUpload")
            return (
                f"the multipart upload {self._upload_id} could not be aborted ({err.kind}); it stays "
                "invisible but billed until aborted or removed by an AbortIncompleteMultipartUpload "
                "lifecycle rule"
            )
        return None
