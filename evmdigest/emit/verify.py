"""Verify an emitted object: re-read it, gunzip, re-hash, compare with its seal (`evm-digest verify URI`).

Outcomes and their exit codes: 0 ok; 1 mismatch, missing seal or tampered; 2 the object (or store)
could not be reached. Without a seal the object is "missing_seal" (a crash between object and seal,
repairable) only when an intent recorded before the write names its stored bytes; otherwise it was
replaced after it was written, or not written by us: "tampered". Every reference available must
agree with the re-hashed bytes: `sha256` when given, and the seal when present (its payload hash and
sizes, its gzip hash, and on S3 the store's own checksum).
The object is found through the sink-scheme registry; the command line lives in evmdigest/cli.py.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from evmdigest.emit.errors import CorruptObject, SinkError, SinkNotFound
from evmdigest.emit.registry import locate_object
from evmdigest.emit.seal import Seal, seal_key
from evmdigest.emit.sink import Sink
from evmdigest.emit.stream import GzipFormatError, ObjectDigest
from evmdigest.models import HEX64

Status = Literal["ok", "mismatch", "missing_seal", "tampered", "unreachable"]
EXIT_CODES: dict[str, int] = {"ok": 0, "mismatch": 1, "missing_seal": 1, "tampered": 1, "unreachable": 2}


class VerifyOutcome(BaseModel):
    status: Status
    exit_code: int
    uri: str
    expected: str | None = None
    actual: str | None = None
    detail: str
    seal_uri: str | None = None
    uncompressed_bytes: int | None = None


def _outcome(status: Status, uri: str, detail: str, **extra: object) -> VerifyOutcome:
    return VerifyOutcome.model_validate(
        {"status": status, "exit_code": EXIT_CODES[status], "uri": uri, "detail": detail, **extra}
    )


def _compare(seal: Seal | None, sha256: str | None, digest: ObjectDigest, sink: Sink, key: str) -> list[str]:
    problems: list[str] = []
    if sha256 is not None and digest.uncompressed_sha256 != sha256:
        problems.append(f"payload sha256 {digest.uncompressed_sha256} != --sha256 {sha256}")
    if seal is None:
        return problems
    checks = [
        ("payload sha256", digest.uncompressed_sha256, seal.uncompressed_sha256),
        ("payload bytes", digest.uncompressed_bytes, seal.uncompressed_bytes),
        ("gzip sha256", digest.compressed_sha256, seal.compressed_sha256),
        ("gzip bytes", digest.compressed_bytes, seal.compressed_bytes),
    ]
    problems += [f"{name} {got} != sealed {want}" for name, got, want in checks if got != want]
    if seal.store_checksum is not None:
        current = sink.store_checksum(key)
        # Compare digests only: HeadObject does not always say COMPOSITE or append `-<parts>`.
        if current is None or current.value != seal.store_checksum.value:
            now = current.wire() if current else "none"
            problems.append(f"store checksum {now} != sealed {seal.store_checksum.wire()} (object replaced)")
    return problems


def verify_object(
    uri: str, *, sha256: str | None = None, endpoint_url: str | None = None, region: str | None = None
) -> VerifyOutcome:
    """Re-hash the object at `uri` and compare with its seal and/or `sha256` (hex)."""
    if sha256 is not None and not HEX64.match(sha256):
        raise ValueError(f"--sha256 {sha256!r} is not 64 hex characters; pass the payload's SHA-256 in hex")
    expected = sha256.lower() if sha256 else None
    try:
        sink, key = locate_object(uri, endpoint_url=endpoint_url, region=region)
    except (ValueError, SinkError) as exc:
        return _outcome("unreachable", uri, f"cannot open the store: {exc}", expected=expected)
    seal_uri = sink.uri_for(seal_key(key))
    try:
        seal = sink.read_seal(key)
    except CorruptObject as exc:
        return _outcome("mismatch", uri, f"the seal is unreadable: {exc}", expected=expected, seal_uri=seal_uri)
    except SinkError as exc:
        return _outcome("unreachable", uri, str(exc), expected=expected, seal_uri=seal_uri)
    if expected is None and seal is not None:
        expected = seal.uncompressed_sha256
    intent = None
    try:
        digest = sink.digest_object(key)
        problems = _compare(seal, sha256.lower() if sha256 else None, digest, sink, key)
        if seal is None and sha256 is None:
            intent = sink.read_intent(key, digest.uncompressed_sha256)
    except SinkNotFound as exc:
        return _outcome("unreachable", uri, f"no object: {exc}", expected=expected, seal_uri=seal_uri)
    except (CorruptObject, GzipFormatError) as exc:
        return _outcome("mismatch", uri, f"the object is unreadable: {exc}", expected=expected, seal_uri=seal_uri)
    except SinkError as exc:
        return _outcome("unreachable", uri, str(exc), expected=expected, seal_uri=seal_uri)
    found = {
        "expected": expected,
        "actual": digest.uncompressed_sha256,
        "seal_uri": seal_uri,
        "uncompressed_bytes": digest.uncompressed_bytes,
    }
    if problems:
        return _outcome("mismatch", uri, "; ".join(problems), **found)
    if seal is None and sha256 is None:
        if intent is None or intent.compressed_sha256 != digest.compressed_sha256:
            detail = (
                f"the seal {seal_uri} is missing and no intent recorded before the write names the stored "
                f"payload sha256 {digest.uncompressed_sha256}: the object was replaced after it was written "
                "(or predates intents, or is not evm-digest's); pass --sha256 HEX to check it against a known hash"
            )
            return _outcome("tampered", uri, detail, **found)
        detail = (
            f"the object is present but its seal {seal_uri} is missing (a crash between the object and its "
            "seal; its intent names these bytes): an identical re-run completes the seal"
        )
        return _outcome("missing_seal", uri, detail, **found)
    against = " and ".join(n for n, v in (("--sha256", sha256), ("the seal", seal)) if v is not None)
    return _outcome("ok", uri, f"payload sha256 matches {against}", **found)
