"""The one byte path: producer -> SHA-256 of the payload -> gzip -> SHA-256 of gzip -> store writer.

Nothing here holds more than one buffer of payload: the producer writes into a BufferedWriter whose
raw sink hashes and compresses each chunk and hands the compressed bytes straight to the backend
writer (which bounds its own buffers). Readers go the other way, streaming and strict: one gzip
member, no trailing bytes, no truncation.
"""

from __future__ import annotations

import hashlib
import io
import json
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, Literal, Protocol

from evmdigest.emit.errors import SinkError
from evmdigest.emit.seal import StoreChecksum

# Producer-side buffer; large enough that zlib and hashlib see big chunks (both release the GIL).
PRODUCER_BUFFER = 1 << 20
READ_CHUNK = 1 << 20
GZIP_LEVEL = 6  # same as `gzip -6`, the benchmark's yardstick

WriteFn = Callable[[IO[bytes]], None]
Encoding = Literal["gzip", "identity"]
"""How the stored bytes encode the payload: gzip for records, identity (plain) for seals and control objects."""
GZIP_MAGIC = b"\x1f\x8b"  # no JSON document starts with these bytes, so plain and gzip are told apart


class ObjectWriter(Protocol):
    """A backend's half of an in-flight object: ordered compressed chunks, then commit or abort."""

    def write(self, chunk: bytes) -> None: ...

    def commit(self) -> StoreChecksum | None:
        """Make the object visible, write-once; raise SinkConflict if the key is taken."""
        ...

    def abort(self) -> str | None:
        """Drop everything written; return a sentence if something could not be cleaned up."""
        ...


class GzipHashingRaw(io.RawIOBase):
    """Raw sink under the producer's BufferedWriter. Records the first backend failure in `failure`.

    `encoding="identity"` stores the payload as is (both hashes are then of the same bytes).
    """

    def __init__(self, out: ObjectWriter, level: int = GZIP_LEVEL, *, encoding: Encoding = "gzip") -> None:
        super().__init__()
        self._out: ObjectWriter | None = out
        # wbits=31: gzip framing with mtime 0 and no name, so equal payloads give equal bytes.
        self._z = zlib.compressobj(level, zlib.DEFLATED, 31) if encoding == "gzip" else None
        self._usha = hashlib.sha256()
        self._csha = hashlib.sha256()
        self.uncompressed_bytes = 0
        self.compressed_bytes = 0
        self.failure: SinkError | None = None

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        view = memoryview(b)
        n = view.nbytes
        if self._out is None:
            # Emission already aborted: a late flush (e.g. at garbage collection) must not reach
            # the backend, so drop it quietly.
            return n
        if self.failure is not None:
            raise self.failure
        self._usha.update(view)
        self.uncompressed_bytes += n
        out = self._z.compress(view) if self._z is not None else bytes(view)
        if out:
            self._send(out)
        return n

    def _send(self, out: bytes) -> None:
        assert self._out is not None
        self._csha.update(out)
        self.compressed_bytes += len(out)
        try:
            self._out.write(out)
        except SinkError as err:
            self.failure = err
            raise

    def finish(self) -> None:
        if self._z is not None:
            self._send(self._z.flush())
        self._out = None

    def kill(self) -> None:
        self._out = None

    @property
    def uncompressed_sha256(self) -> str:
        return self._usha.hexdigest()

    @property
    def compressed_sha256(self) -> str:
        return self._csha.hexdigest()


def run_producer(raw: GzipHashingRaw, write_fn: WriteFn) -> None:
    """Run `write_fn` over a buffered view of `raw` and flush the gzip trailer."""
    buffered = io.BufferedWriter(raw, buffer_size=PRODUCER_BUFFER)
    write_fn(buffered)
    # A producer may close the file itself; BufferedWriter.close() has flushed by then.
    if not buffered.closed:
        buffered.flush()
    raw.finish()


class _HashingRaw(io.RawIOBase):
    """Raw sink that only hashes: digests a payload exactly as an emission would see it."""

    def __init__(self) -> None:
        super().__init__()
        self.sha = hashlib.sha256()
        self.nbytes = 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        view = memoryview(b)
        self.sha.update(view)
        self.nbytes += view.nbytes
        return view.nbytes


def _default(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    raise TypeError(f"object of type {type(value).__name__} is not JSON serializable")


# allow_nan=False: NaN/Infinity are not JSON and a verdict record must parse anywhere.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_default)
_BATCH = 64 * 1024


def json_writer(obj: Any) -> WriteFn:
    def write(f: IO[bytes]) -> None:
        batch: list[str] = []
        size = 0
        for piece in _ENCODER.iterencode(obj):
            batch.append(piece)
            size += len(piece)
            if size >= _BATCH:
                f.write("".join(batch).encode("utf-8"))
                batch, size = [], 0
        f.write(("".join(batch) + "\n").encode("utf-8"))

    return write


def ndjson_writer(records: Iterable[Any]) -> WriteFn:
    def write(f: IO[bytes]) -> None:
        encode = _ENCODER.encode
        for record in records:
            f.write((encode(record) + "\n").encode("utf-8"))

    return write


@dataclass(frozen=True)
class PayloadDigest:
    uncompressed_sha256: str
    uncompressed_bytes: int


def digest_payload(write_fn: WriteFn) -> PayloadDigest:
    """The uncompressed SHA-256 an emission of `write_fn` would report, without storing anything."""
    raw = _HashingRaw()
    buffered = io.BufferedWriter(raw, buffer_size=PRODUCER_BUFFER)
    write_fn(buffered)
    if not buffered.closed:
        buffered.flush()
    return PayloadDigest(raw.sha.hexdigest(), raw.nbytes)


def digest_json(obj: Any) -> PayloadDigest:
    return digest_payload(json_writer(obj))


def digest_ndjson(records: Iterable[Any]) -> PayloadDigest:
    return digest_payload(ndjson_writer(records))


class GzipFormatError(ValueError):
    """Stored bytes are not exactly one complete gzip member."""


def iter_document(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """A small document stored plain or (seals written before plain seals) gzip, told apart by its first bytes."""
    stream = iter(chunks)
    head = b""
    for chunk in stream:
        head += chunk
        if len(head) >= len(GZIP_MAGIC):
            break
    rest = _chain(head, stream)
    if head.startswith(GZIP_MAGIC):
        yield from iter_gunzip(rest)
    else:
        yield from rest


def _chain(head: bytes, tail: Iterator[bytes]) -> Iterator[bytes]:
    if head:
        yield head
    yield from tail


def iter_gunzip(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Strict streaming gunzip: exactly one gzip member, complete, with nothing after it."""
    z = zlib.decompressobj(31)
    for chunk in chunks:
        if z.eof:
            if chunk:
                raise GzipFormatError("trailing bytes after the gzip stream")
            continue
        try:
            out = z.decompress(chunk, READ_CHUNK)
            while out:
                yield out
                if z.eof:
                    break
                out = z.decompress(z.unconsumed_tail, READ_CHUNK)
        except zlib.error as exc:
            raise GzipFormatError(f"not a valid gzip stream ({exc})") from exc
        if z.unused_data:
            raise GzipFormatError("trailing bytes after the gzip stream")
    if not z.eof:
        raise GzipFormatError("gzip stream is truncated")


@dataclass(frozen=True)
class ObjectDigest:
    uncompressed_sha256: str
    uncompressed_bytes: int
    compressed_sha256: str
    compressed_bytes: int


def digest_stored(chunks: Iterable[bytes]) -> ObjectDigest:
    """Hash stored gzip bytes and their gunzipped payload in one streaming pass."""
    csha, usha = hashlib.sha256(), hashlib.sha256()
    counts = [0, 0]

    def counted() -> Iterator[bytes]:
        for chunk in chunks:
            csha.update(chunk)
            counts[0] += len(chunk)
            yield chunk

    for out in iter_gunzip(counted()):
        usha.update(out)
        counts[1] += len(out)
    return ObjectDigest(usha.hexdigest(), counts[1], csha.hexdigest(), counts[0])
