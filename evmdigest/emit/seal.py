"""What an emission returns (EmitResult) and what it leaves next to the object (Seal).

Every record is gzip; its seal is plain JSON (older seals are gzip; readers take both).
`uncompressed_sha256` is the hash of the gunzipped payload: the out-of-band
value a reader re-derives. The store checksum is the store's own view of the bytes it received:
on S3 a single PUT has a FULL_OBJECT SHA-256 of the gzip bytes; a multipart upload has the
COMPOSITE form, SHA-256 over the concatenated per-part SHA-256 digests, written `<base64>-<parts>`.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

SEAL_SUFFIX = ".seal.json"
SealFormat = Literal["evm-digest.seal/1"]
SEAL_FORMAT: SealFormat = get_args(SealFormat)[0]  # the seal format's one spelling, for readers that check it


def seal_key(key: str) -> str:
    return key + SEAL_SUFFIX


class StoreChecksum(BaseModel):
    """The store's checksum of the stored (gzip) bytes, as the store reports it."""

    model_config = ConfigDict(frozen=True)

    algorithm: Literal["SHA256"] = "SHA256"
    type: Literal["FULL_OBJECT", "COMPOSITE"]
    value: str = Field(description="base64 digest, as S3 reports it (without the -N part suffix)")
    parts: int | None = Field(default=None, description="number of parts for COMPOSITE checksums")

    def wire(self) -> str:
        """The checksum exactly as S3's HeadObject(ChecksumMode=ENABLED) prints it."""
        return f"{self.value}-{self.parts}" if self.type == "COMPOSITE" else self.value

    @classmethod
    def parse(cls, wire: str, checksum_type: str | None = None) -> StoreChecksum:
        head, sep, tail = wire.rpartition("-")
        if sep and tail.isdigit():
            return cls(type="COMPOSITE", value=head, parts=int(tail))
        if checksum_type == "COMPOSITE":
            return cls(type="COMPOSITE", value=wire)
        return cls(type="FULL_OBJECT", value=wire)


def b64_sha256(data: bytes | bytearray | memoryview) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def composite_sha256(part_digests: list[bytes]) -> StoreChecksum:
    """S3's COMPOSITE SHA-256 of a multipart object, computed locally from the raw part digests."""
    joined = hashlib.sha256(b"".join(part_digests)).digest()
    return StoreChecksum(type="COMPOSITE", value=base64.b64encode(joined).decode("ascii"), parts=len(part_digests))


class EmitResult(BaseModel):
    """What a sink returns after the object and its seal have landed."""

    model_config = ConfigDict(frozen=True)

    uri: str
    key: str
    uncompressed_sha256: str
    uncompressed_bytes: int
    compressed_bytes: int
    compressed_sha256: str = Field(description="hex SHA-256 of the stored gzip bytes")
    store_checksum: StoreChecksum | None = Field(
        default=None, description="the store's own checksum; None for stores without one (folder)"
    )
    seal_uri: str | None = Field(default=None, description="None only for the seal object itself")


class Seal(BaseModel):
    """The companion `<key>.seal.json` written after the object lands: plain JSON describing the object."""

    model_config = ConfigDict(frozen=True)

    format: SealFormat = SEAL_FORMAT
    key: str
    uri: str
    uncompressed_sha256: str
    uncompressed_bytes: int
    compressed_bytes: int
    compressed_sha256: str
    store_checksum: StoreChecksum | None = None
    content_encoding: Literal["gzip"] = "gzip"
    sealed_at: datetime
    resealed: bool = Field(
        default=False,
        description="True when written by Sink.complete_seal after a crash between object and seal",
    )

    @classmethod
    def from_result(cls, result: EmitResult, *, resealed: bool = False) -> Seal:
        return cls(
            key=result.key,
            uri=result.uri,
            uncompressed_sha256=result.uncompressed_sha256,
            uncompressed_bytes=result.uncompressed_bytes,
            compressed_bytes=result.compressed_bytes,
            compressed_sha256=result.compressed_sha256,
            store_checksum=result.store_checksum,
            sealed_at=datetime.now(UTC),
            resealed=resealed,
        )
