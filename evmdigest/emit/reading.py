"""The read side and the backend hooks every sink implements; `Sink` (sink.py) adds the one emission path.

Reads are strict: records are exactly one gzip member; small documents (seals, intents, claims) are
plain JSON, or gzip for seals written before seals became plain. A stored object that neither a
seal nor an intent vouches for is TamperedObject (`require_intent`).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar, Protocol

from pydantic import ValidationError

from evmdigest.emit.errors import CorruptObject, SinkError, SinkErrorKind, SinkNotFound, TamperedObject
from evmdigest.emit.intent import Intent
from evmdigest.emit.keys import TMP_MARK, check_key_length, intent_key, is_control_key, validate_key
from evmdigest.emit.seal import SEAL_SUFFIX, Seal, StoreChecksum, seal_key
from evmdigest.emit.stream import (
    Encoding,
    GzipFormatError,
    ObjectDigest,
    ObjectWriter,
    digest_stored,
    iter_document,
    iter_gunzip,
)


class Hashes(Protocol):
    """What a fresh emission and a re-read object both know: the two SHA-256s and two sizes."""

    @property
    def uncompressed_sha256(self) -> str: ...
    @property
    def uncompressed_bytes(self) -> int: ...
    @property
    def compressed_sha256(self) -> str: ...
    @property
    def compressed_bytes(self) -> int: ...


class SinkReader(ABC):
    """Backend hooks, key checks, error helpers and every read. Use `open_sink(url)` to get a Sink."""

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
    def _open_writer(self, key: str, encoding: Encoding) -> ObjectWriter: ...

    @abstractmethod
    def _delete(self, key: str) -> None:
        """Remove `key` (claims only); a missing key is not an error."""

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

    def checked_key(self, key: object, *, allow_seal: bool = False, sealed: bool = False, control: bool = False) -> str:
        """`key` if it is a valid key here (see keys.py); `sealed`: it must leave room for its companions."""
        valid = validate_key(key, allow_seal=allow_seal, allow_control=control)
        check_key_length(valid, self.full_key(valid), sealed=sealed)
        return valid

    def store_checksum(self, key: str) -> StoreChecksum | None:
        """The store's current checksum of `key`; None if the store keeps none or there is no object."""
        return self._store_checksum(self.checked_key(key, allow_seal=True))

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

    def read_document(self, key: str) -> Any:
        """A small JSON document stored plain (seals, intents, claims) or gzip (seals before plain seals)."""
        self.checked_key(key, allow_seal=True, control=True)
        try:
            data = b"".join(iter_document(self._read_chunks(key)))
        except GzipFormatError as exc:
            raise self.corrupt(f"stored document is not valid gzip: {exc}", key) from exc
        try:
            return json.loads(data)
        except ValueError as exc:
            raise self.corrupt(f"stored document is not JSON: {exc}", key) from exc

    def read_seal(self, key: str) -> Seal | None:
        """The seal of `key`, or None if there is none (never written, or a crash before it)."""
        self.checked_key(key)
        try:
            raw = self.read_document(seal_key(key))
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

    def read_intent(self, key: str, uncompressed_sha256: str) -> Intent | None:
        """The intent recorded for exactly these bytes at `key`, or None."""
        name = intent_key(self.checked_key(key), uncompressed_sha256)
        try:
            intent = Intent.model_validate(self.read_document(name))
        except SinkNotFound:
            return None
        except ValidationError as exc:
            raise self.corrupt(
                f"the intent {name!r} is not a valid evm-digest intent: {exc.errors()[:1]}", key
            ) from exc
        # Its `key` is relative to the writer's sink prefix (verify opens the bucket root), so the name decides.
        return intent if intent.uncompressed_sha256 == uncompressed_sha256 else None

    def require_intent(self, key: str, digest: ObjectDigest) -> Intent:
        """The intent that vouches for the stored bytes `digest` describes, or TamperedObject."""
        intent = self.read_intent(key, digest.uncompressed_sha256)
        if intent is None or intent.compressed_sha256 != digest.compressed_sha256:
            raise TamperedObject(
                f"the unsealed object holds payload sha256 {digest.uncompressed_sha256}, which no evm-digest "
                "writer recorded before committing it; it was not sealed",
                **self.where(self.full_key(key)),
            )
        return intent

    def list_keys(self, prefix: str = "", *, include_seals: bool = False, include_control: bool = False) -> list[str]:
        """Keys under `prefix`, relative to the sink's prefix, sorted; seals and control objects only if asked."""
        keys = (k for k in self._list(prefix) if TMP_MARK not in k.rsplit("/", 1)[-1])
        return sorted(
            k
            for k in keys
            if (include_seals or not k.endswith(SEAL_SUFFIX)) and (include_control or not is_control_key(k))
        )

    def remove_stale_temps(self, older_than: float = 3600.0) -> list[str]:
        """Remove our own leftover temp files older than `older_than` seconds; the stores without any keep none."""
        return []
