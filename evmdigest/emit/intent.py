"""Intents: the payload hash an evm-digest writer fixed before committing an object.

`Sink._emit` writes `<key>.intent-<sha256>.json` (plain JSON, write-once, through the same path as
everything else) after the payload is hashed and before the object becomes visible. A seal missing
after a crash is completed only when the stored object re-hashes to a recorded intent, so an object
replaced behind our back (forged fields, same verdict) is reported as tampered, never sealed.

The name carries the hash, so looking one up is a single GET of a known key (no s3:ListBucket needed).
Intents are never deleted: an intent of a writer that lost a write-once race names bytes that were
never stored; it can vouch only for exactly those bytes, which are a genuine evm-digest emission.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict

IntentFormat = Literal["evm-digest.intent/1"]
INTENT_FORMAT: IntentFormat = get_args(IntentFormat)[0]


class Intent(BaseModel):
    """What the writer was about to commit at `key`."""

    model_config = ConfigDict(frozen=True)

    format: IntentFormat = INTENT_FORMAT
    key: str
    uncompressed_sha256: str
    uncompressed_bytes: int
    compressed_sha256: str
    compressed_bytes: int
    created: datetime

    @classmethod
    def now(
        cls,
        key: str,
        *,
        uncompressed_sha256: str,
        uncompressed_bytes: int,
        compressed_sha256: str,
        compressed_bytes: int,
    ) -> Intent:
        return cls(
            key=key,
            uncompressed_sha256=uncompressed_sha256,
            uncompressed_bytes=uncompressed_bytes,
            compressed_sha256=compressed_sha256,
            compressed_bytes=compressed_bytes,
            created=datetime.now(UTC),
        )
