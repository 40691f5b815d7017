"""Sink: the one emission path shared by every store, plus the read side the flows need.

Emission order for a key K: (1) K is streamed, gzip, write-once — it appears whole or not at all;
(2) the seal `K.seal.json` is written through the same path (its own seal is not written).
A crash between (1) and (2) leaves "object present, seal missing": `verify` reports it (exit 1),
emitting K again raises SinkConflict with `existing_seal=None`, and a re-run that recomputes the
same payload repairs it with `complete_seal(K, uncompressed_sha256=digest_json(obj).…)`, which
re-hashes the stored object and writes the seal only if the hashes agree.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar, Protocol

from pydantic import ValidationError

from evmdigest.emit.errors import (
    CorruptObject,
    ProducerError,
    SinkConflict,
    SinkError,
    SinkErrorKind,
    SinkNotFound,
)
from evmdigest.emit.keys import TMP_MARK, check_key_length, validate_key
from evmdigest.emit.seal import SEAL_SUFFIX, EmitResult, Seal, StoreChecksum, seal_key
from evmdigest.emit.stream import (
    GzipFormatError,
    GzipHashingRaw,
    ObjectDigest,
    ObjectWriter,
    WriteFn,
    digest_stored,
    iter_gunzip,
    json_writer,
    ndjson_writer,
    run_producer,
)

log = logging.getLogger("evmdigest.emit")


class _Hashes(Protocol):
    """What a fresh emission and a re-read object both know: the two SHA-256s and two sizes."""

    @property
    def uncompressed_sha256(self) -> str: ...
    @property
    def uncompressed_bytes(self) -> int: ...
    @property
    def compressed_sha256(self) -> str: ...
    @property
    def compressed_bytes(self) -> int: ...


class Sink(ABC):
    """A write-once store of gzip objects. Use `open_sink(url)` to get one."""

    store: ClassVar[str]  # how messages name this kind of store ("S3", "folder"); each subclass sets it
    bucket: str = ""
    region: str | None = None
    prefix: str = ""

    # ---- backend hooks -------------------------------------------------------------------
    @abstractmethod
    def uri_for(self, key: str) -> str: ...

    @abstractmethod
    def describe(self) -> str:
        """Where this sink writes (bucket/prefix/region or folder); never credentials."""

    @abstractmethod
    def _open_writer(self, key: str) -> ObjectWriter: ...

    @abstractmethod
    def _exists(self, key: str) -> bool | None:
        """True/False, or None when the store will not say (the conditional write still guards)."""

    @abstractmethod
    def _read_chunks(self, key: str) -> Iterator[bytes]:
        """Stored (gzip) bytes of `key`; raises SinkNotFound before yielding if there is none."""

    @abstractmethod
    def _list(self, prefix: str) -> Iterable[str]: ...

    @abstractmethod
    def _store_checksum(self, key: str) -> StoreChecksum | None: ...

    def full_key(self, key: str) -> str:
        """The key as the store names it (sink prefix included)."""
        return key

    def location(self, full_key: str | None) -> str | None:
        """How error messages name this place; None gives the generic "<store> sink <bucket>, key <key>"."""
        return None

    def where(self, full_key: str | None) -> dict[str, Any]:
        """The keyword arguments every SinkError about `full_key` in this sink takes."""
        return {
            "bucket": self.bucket,
            "key": full_key,
            "region": self.region,
            "store": self.store,
            "location": self.location(full_key),
        }

    def error(self, kind: SinkErrorKind, what: str, key: str | None) -> SinkError:
        """A SinkError about `key` (relative to the sink's prefix)."""
        return SinkError(kind, what, **self.where(self.full_key(key) if key else None))

    def corrupt(self, what: str, key: str) -> CorruptObject:
        return CorruptObject(what, **self.where(self.full_key(key)))

    def checked_key(self, key: object, *, allow_seal: bool = False, sealed: bool = False) -> str:
        """`key` if it is a valid key here (see keys.py); `sealed`: it must leave room for its seal's key."""
        valid = validate_key(key, allow_seal=allow_seal)
        check_key_length(valid, self.full_key(valid), sealed=sealed)
        return valid

    def store_checksum(self, key: str) -> StoreChecksum | None:
        """The store's current checksum of `key`; None if the store keeps none or there is no object."""
        return self._store_checksum(self.checked_key(key, allow_seal=True))

    # ---- emission --------------------------------------------------------------------------
    def emit_json(self, key: str, obj: Any) -> EmitResult:
        """Emit `obj` as one JSON document (pydantic models are dumped in JSON mode)."""
        return self._emit(self.checked_key(key, sealed=True), json_writer(obj), sealed=True)

    def emit_ndjson(self, key: str, records: Iterable[Any]) -> EmitResult:
        """Emit one JSON line per record; `records` is consumed lazily."""
        return self._emit(self.checked_key(key, sealed=True), ndjson_writer(records), sealed=True)

    def emit_stream(self, key: str, write_fn: WriteFn) -> EmitResult:
        """Emit whatever `write_fn(f)` writes into the binary file `f` (the uncompressed payload)."""
        return self._emit(self.checked_key(key, sealed=True), write_fn, sealed=True)

    def _result(self, key: str, hashes: _Hashes, store_checksum: StoreChecksum | None) -> EmitResult:
        return EmitResult(
            uri=self.uri_for(key),
            key=key,
            uncompressed_sha256=hashes.uncompressed_sha256,
            uncompressed_bytes=hashes.uncompressed_bytes,
            compressed_bytes=hashes.compressed_bytes,
            compressed_sha256=hashes.compressed_sha256,
            store_checksum=store_checksum,
        )

    def _emit(self, key: str, write_fn: WriteFn, *, sealed: bool, check_exists: bool = True) -> EmitResult:
        # check_exists=False leaves the store's conditional write alone to refuse (the write-once probe)
        if check_exists and self._exists(key):
            raise self._conflict(key, "an object already exists at this key; it was not overwritten")
        writer = self._open_writer(key)
        raw = GzipHashingRaw(writer)
        try:
            run_producer(raw, write_fn)
        except BaseException as exc:
            raw.kill()
            leftover = writer.abort()
            # raw.failure is set only when *our* store write failed; anything else that write_fn
            # raised (even a SinkError from some other sink it reads) is the producer's failure.
            failure = raw.failure
            if failure is None and isinstance(exc, Exception):
                failure = ProducerError(
                    f"the payload producer raised {type(exc).__name__}: {exc}; the emission was "
                    "aborted and nothing was stored at this key (the store did not fail)",
                    **self.where(self.full_key(key)),
                )
            if failure is None:
                raise  # KeyboardInterrupt and friends pass through after the abort
            if leftover:
                failure.add_detail(leftover)
            log.warning("emission of %s failed: %s", self.uri_for(key), failure)
            if failure is exc:
                raise
            raise failure from exc
        try:
            store_checksum = writer.commit()
        except SinkConflict as conflict:
            conflict.existing_seal = self._seal_or_none(key)
            raise
        except SinkError as err:
            log.warning("emission of %s failed: %s", self.uri_for(key), err)
            raise
        result = self._result(key, raw, store_checksum)
        if not sealed:
            return result
        seal = Seal.from_result(result)
        try:
            self._emit(seal_key(key), json_writer(seal.model_dump(mode="json")), sealed=False)
        except SinkError as err:
            err.add_detail(
                f"the object {result.uri} landed but its seal did not; a re-run repairs it with "
                "complete_seal() once it has recomputed the same payload"
            )
            raise
        log.info("emitted %s sha256=%s (%d bytes)", result.uri, result.uncompressed_sha256, result.uncompressed_bytes)
        return result.model_copy(update={"seal_uri": self.uri_for(seal_key(key))})

    def _conflict(self, key: str, what: str) -> SinkConflict:
        return SinkConflict(what, existing_seal=self._seal_or_none(key), **self.where(self.full_key(key)))

    def _seal_or_none(self, key: str) -> Seal | None:
        if key.endswith(SEAL_SUFFIX):
            return None  # seals are not sealed
        try:
            return self.read_seal(key)
        except SinkError:
            return None  # best effort: the conflict is the error that matters

    # ---- reading ---------------------------------------------------------------------------
    def read_bytes_iter(self, key: str) -> Iterator[bytes]:
        """The gunzipped payload of `key`, streamed."""
        self.checked_key(key, allow_seal=True)
        try:
            yield from iter_gunzip(self._read_chunks(key))
        except GzipFormatError as exc:
            raise self.corrupt(f"stored object is not valid gzip: {exc}", key) from exc

    def read_json(self, key: str) -> Any:
        """gunzip + json.loads of an emitted object (meant for small records such as verdicts)."""
        data = b"".join(self.read_bytes_iter(key))
        try:
            return json.loads(data)
        except ValueError as exc:
            raise self.corrupt(f"stored object is not JSON: {exc}", key) from exc

    def iter_ndjson(self, key: str) -> Iterator[Any]:
        """Records of an emit_ndjson object, streamed line by line."""
        rest = b""
        for chunk in self.read_bytes_iter(key):
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                if line:
                    yield json.loads(line)
        if rest:
            yield json.loads(rest)

    def read_seal(self, key: str) -> Seal | None:
        """The seal of `key`, or None if there is none (never written, or a crash before it)."""
        self.checked_key(key)
        try:
            raw = self.read_json(seal_key(key))
        except SinkNotFound:
            return None
        try:
            return Seal.model_validate(raw)
        except ValidationError as exc:
            what = f"the seal {seal_key(key)!r} is not a valid evm-digest seal: {exc.errors()[:1]}"
            raise self.corrupt(what, key) from exc

    def digest_object(self, key: str) -> ObjectDigest:
        """Re-read `key` and hash both its stored gzip bytes and its gunzipped payload."""
        self.checked_key(key, allow_seal=True)
        try:
            return digest_stored(self._read_chunks(key))
        except GzipFormatError as exc:
            raise self.corrupt(f"stored object is not valid gzip: {exc}", key) from exc

    def list_keys(self, prefix: str = "", *, include_seals: bool = False) -> list[str]:
        """Keys under `prefix`, relative to the sink's prefix, sorted; seals only if asked."""
        keys = (k for k in self._list(prefix) if TMP_MARK not in k.rsplit("/", 1)[-1])
        return sorted(k for k in keys if include_seals or not k.endswith(SEAL_SUFFIX))

    def complete_seal(self, key: str, *, uncompressed_sha256: str) -> Seal:
        """Seal an object left unsealed by a crash, only if it holds the payload the caller expects.

        `uncompressed_sha256` must come from the caller's own recomputed payload (e.g.
        `digest_json(obj).uncompressed_sha256`), never from the stored object, so the seal still
        attests what the writer meant to publish.
        """
        self.checked_key(key, sealed=True)
        existing = self.read_seal(key)
        if existing is not None:
            if existing.uncompressed_sha256 == uncompressed_sha256:
                return existing
            raise self._conflict(key, "the object is already sealed with a different sha256")
        digest = self.digest_object(key)
        if digest.uncompressed_sha256 != uncompressed_sha256:
            raise self._conflict(
                key,
                f"the unsealed object holds sha256 {digest.uncompressed_sha256}, not the expected "
                f"{uncompressed_sha256}; it was not sealed",
            )
        result = self._result(key, digest, self._store_checksum(key))
        seal = Seal.from_result(result, resealed=True)
        self._emit(seal_key(key), json_writer(seal.model_dump(mode="json")), sealed=False)
        return seal
