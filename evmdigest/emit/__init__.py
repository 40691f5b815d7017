"""Sealed emission: stream a payload, gzip it, store it write-once, and seal it.

    sink = open_sink("s3://bucket/prefix")          # or "file:///abs/dir"
    result = sink.emit_json("segments/42/verdict.json", verdict)
    result.uncompressed_sha256                      # publish out of band; `evm-digest verify` checks it

Sink URLs and object URIs go through one scheme registry (registry.py: `open_sink`, `locate_object`).

Contract (details in sink.py, keys.py, s3.py, s3upload.py, folder.py):
- One path: emit_json / emit_ndjson / emit_stream all feed a BufferedWriter -> SHA-256 -> gzip -6
  -> the store, with bounded buffers. Seals and control objects take the same path with
  `encoding="identity"`: records are gzip, `<key>.seal.json` and intents/claims are plain JSON.
- Write-once: an existing key raises SinkConflict(existing_seal=…), never an overwrite
  (S3: `If-None-Match: *` on PutObject and CompleteMultipartUpload; folder: link(2) of an fsynced
  temp file, then fsync of the directory).
- Intent: `<key>.intent-<sha256>.json` is written before the object is committed (intent.py).
- Seal: `<key>.seal.json` is written after the object through the same path; seals are not sealed.
  Object without seal = a crash in between: verify exits 1 "missing_seal" (or "tampered" when no
  intent names the stored bytes); a re-run gets SinkConflict(existing_seal=None), compares
  `read_json(key)` with its own payload and calls `complete_seal(key)`, which seals only bytes an
  intent names (else TamperedObject).
- Control objects (claims, verdict/claim.py): `emit_control` / `read_document` / `delete_control`;
  `list_keys` hides them, seals and temp files unless asked.
- A producer exception aborts the upload (no object, no multipart upload left) and surfaces as
  ProducerError; store failures are SinkError with `kind` and `retryable`.

No Prefect import here: flows wrap these calls in tasks.
"""

from evmdigest.emit.errors import (
    CorruptObject,
    ProducerError,
    SinkConflict,
    SinkError,
    SinkErrorKind,
    SinkNotFound,
    TamperedObject,
)
from evmdigest.emit.intent import Intent
from evmdigest.emit.registry import locate_object, open_sink
from evmdigest.emit.seal import SEAL_SUFFIX, EmitResult, Seal, StoreChecksum, seal_key
from evmdigest.emit.sink import Sink
from evmdigest.emit.stream import PayloadDigest, WriteFn, digest_json, digest_ndjson, digest_payload

__all__ = [
    "SEAL_SUFFIX",
    "CorruptObject",
    "EmitResult",
    "Intent",
    "PayloadDigest",
    "ProducerError",
    "Seal",
    "Sink",
    "SinkConflict",
    "SinkError",
    "SinkErrorKind",
    "SinkNotFound",
    "StoreChecksum",
    "TamperedObject",
    "WriteFn",
    "digest_json",
    "digest_ndjson",
    "digest_payload",
    "locate_object",
    "open_sink",
    "seal_key",
]
