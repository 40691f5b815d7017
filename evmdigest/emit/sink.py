"""Sink: the one emission path shared by every store (the read side and hooks are in reading.py).

Emission order for a key K: (1) the payload is streamed, hashed and gzipped into a pending write;
(2) the intent `K.intent-<sha256>.json` (plain JSON, write-once) fixes that hash; (3) K is committed
write-once — it appears whole or not at all; (4) the seal `K.seal.json` (plain JSON) is written
through the same path. Seals, intents and claims are not sealed themselves.
A crash between (3) and (4) leaves "object present, seal missing": `verify` reports it (exit 1),
emitting K again raises SinkConflict with `existing_seal=None`, and `complete_seal(K)` repairs it,
but only when the stored object re-hashes to a recorded intent (else TamperedObject).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from typing import Any, NoReturn

from evmdigest.emit.errors import ProducerError, SinkConflict, SinkError
from evmdigest.emit.intent import Intent
from evmdigest.emit.keys import CLAIMS_DIR, intent_key, is_claim_key, is_control_key
from evmdigest.emit.reading import Hashes, SinkReader
from evmdigest.emit.seal import SEAL_SUFFIX, EmitResult, Seal, StoreChecksum, seal_key
from evmdigest.emit.stream import (
    Encoding,
    GzipHashingRaw,
    ObjectWriter,
    WriteFn,
    json_writer,
    ndjson_writer,
    run_producer,
)

log = logging.getLogger("evmdigest.emit")


class Sink(SinkReader):
    """A write-once store of gzip objects with plain-JSON seals. Use `open_sink(url)` to get one."""

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

    def _result(self, key: str, hashes: Hashes, store_checksum: StoreChecksum | None) -> EmitResult:
        return EmitResult(
            uri=self.uri_for(key),
            key=key,
            uncompressed_sha256=hashes.uncompressed_sha256,
            uncompressed_bytes=hashes.uncompressed_bytes,
            compressed_bytes=hashes.compressed_bytes,
            compressed_sha256=hashes.compressed_sha256,
            store_checksum=store_checksum,
        )

    def emit_control(self, key: str, obj: Any) -> EmitResult:
        """Write a control object (a claim) write-once as plain JSON; SinkConflict if the key is taken."""
        return self._emit(self.checked_key(key, control=True), json_writer(obj), sealed=False, encoding="identity")

    def delete_control(self, key: str) -> None:
        """Remove a claim (released or expired). Records, seals and intents are never deleted."""
        valid = self.checked_key(key, control=True)
        if not is_claim_key(valid):
            raise ValueError(f"key {key!r}: only claims ({CLAIMS_DIR}/claim-….json) may be deleted")
        self._delete(valid)

    def _emit(self, key: str, write_fn: WriteFn, *, sealed: bool, encoding: Encoding = "gzip") -> EmitResult:
        if self._exists(key):
            raise self._conflict(key, "an object already exists at this key; it was not overwritten")
        writer = self._open_writer(key, encoding)
        raw = GzipHashingRaw(writer, encoding=encoding)
        try:
            run_producer(raw, write_fn)
        except BaseException as exc:
            raw.kill()
            self._fail_emission(key, writer, exc, raw.failure)
        if sealed:
            try:
                self._record_intent(key, raw)  # the hash is fixed before anything becomes visible
            except BaseException as exc:
                self._fail_emission(key, writer, exc, exc if isinstance(exc, SinkError) else None)
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
        try:
            self._write_seal(key, Seal.from_result(result), result)
        except SinkError as err:
            err.add_detail(
                f"the object {result.uri} landed but its seal did not; a re-run of the same verdict "
                "completes it (complete_seal) from the intent recorded before the object"
            )
            raise
        log.info("emitted %s sha256=%s (%d bytes)", result.uri, result.uncompressed_sha256, result.uncompressed_bytes)
        return result.model_copy(update={"seal_uri": self.uri_for(seal_key(key))})

    def _fail_emission(self, key: str, writer: ObjectWriter, exc: BaseException, failure: SinkError | None) -> NoReturn:
        """Abort the pending write and raise what failed: the store's error, else the producer's."""
        leftover = writer.abort()
        # `failure` is set only when *our* store write failed; anything else that write_fn raised
        # (even a SinkError from some other sink it reads) is the producer's failure.
        if failure is None and isinstance(exc, Exception):
            failure = ProducerError(
                f"the payload producer raised {type(exc).__name__}: {exc}; the emission was "
                "aborted and nothing was stored at this key (the store did not fail)",
                **self.where(self.full_key(key)),
            )
        if failure is None:
            raise exc  # KeyboardInterrupt and friends pass through after the abort
        if leftover:
            failure.add_detail(leftover)
        log.warning("emission of %s failed: %s", self.uri_for(key), failure)
        if failure is exc:
            raise exc
        raise failure from exc

    def _record_intent(self, key: str, hashes: Hashes) -> None:
        intent = Intent.now(
            key,
            uncompressed_sha256=hashes.uncompressed_sha256,
            uncompressed_bytes=hashes.uncompressed_bytes,
            compressed_sha256=hashes.compressed_sha256,
            compressed_bytes=hashes.compressed_bytes,
        )
        name = intent_key(key, hashes.uncompressed_sha256)
        # A conflict means another writer announced these very bytes already: the name is the hash.
        with contextlib.suppress(SinkConflict):
            self._emit(name, json_writer(intent.model_dump(mode="json")), sealed=False, encoding="identity")

    def _write_seal(self, key: str, seal: Seal, hashes: Hashes) -> Seal:
        """Write `seal` as plain JSON; a seal another writer got there first with is fine if it seals these bytes."""
        try:
            self._emit(seal_key(key), json_writer(seal.model_dump(mode="json")), sealed=False, encoding="identity")
        except SinkConflict:
            existing = self.read_seal(key)
            if existing is None or (existing.uncompressed_sha256, existing.compressed_sha256) != (
                hashes.uncompressed_sha256,
                hashes.compressed_sha256,
            ):
                raise
            return existing  # a concurrent identical run (or its seal repair) sealed the same bytes
        return seal

    def _conflict(self, key: str, what: str) -> SinkConflict:
        return SinkConflict(what, existing_seal=self._seal_or_none(key), **self.where(self.full_key(key)))

    def _seal_or_none(self, key: str) -> Seal | None:
        if key.endswith(SEAL_SUFFIX) or is_control_key(key):
            return None  # seals, intents and claims are not sealed
        try:
            return self.read_seal(key)
        except SinkError:
            return None  # best effort: the conflict is the error that matters

    def complete_seal(self, key: str, *, uncompressed_sha256: str | None = None) -> Seal:
        """Seal an object left unsealed by a crash, only if a recorded intent vouches for its stored bytes.

        `uncompressed_sha256`, when given, must also match (a caller's own recomputed payload). Bytes
        no intent names raise TamperedObject: the object was replaced, and sealing it would attest a forgery.
        """
        self.checked_key(key, sealed=True)
        existing = self.read_seal(key)
        if existing is not None:
            if uncompressed_sha256 in (None, existing.uncompressed_sha256):
                return existing
            raise self._conflict(key, "the object is already sealed with a different sha256")
        digest = self.digest_object(key)
        if uncompressed_sha256 is not None and digest.uncompressed_sha256 != uncompressed_sha256:
            raise self._conflict(
                key,
                f"the unsealed object holds sha256 {digest.uncompressed_sha256}, not the expected "
                f"{uncompressed_sha256}; it was not sealed",
            )
        self.require_intent(key, digest)
        result = self._result(key, digest, self._store_checksum(key))
        return self._write_seal(key, Seal.from_result(result, resealed=True), digest)
