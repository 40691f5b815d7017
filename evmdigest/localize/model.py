"""The localization's typed results and the divergence report's lines (header + one line per key).

The report is deterministic for a given node, height, normalization and limits: nothing in it depends
on time, process ids or cache hits, so a re-run reproduces it byte for byte ("already sealed").
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from evmdigest.models import BucketDigest, Normalization, UpperHex

DIVERGENCE_SCHEMA_VERSION = 1
FIRST_KEYS = 10  # keys a gate run shows in its markdown, events and terminal
Method = Literal["none", "list", "shards", "find_hash", "one_side_empty"]


class Status(StrEnum):
    """How far a bucket's localization got. Anything but `complete` names fewer keys than diverge."""

    COMPLETE = "complete"  # every diverging key is named
    CAPPED = "capped"  # more keys diverge than max_keys; the first max_keys (in key order) are named
    WHOLE_BUCKET = "whole_bucket"  # every shard differs: a bucket-wide change (an encoding?); no key listed
    INCOMPLETE = "incomplete"  # max_passes ran out (or keys end at a shard prefix); see `unresolved`

    @property
    def rank(self) -> int:
        return list(Status).index(self)


class Change(StrEnum):
    CHANGED = "changed"
    MISSING_IN_FLATKV = "missing_in_flatkv"
    MISSING_IN_MEMIAVL = "missing_in_memiavl"


class Limits(BaseModel):
    """Bounds of one localization. A pass is one step: both sides' inspect runs (in parallel) or one
    find-hash scan; each pass reads the whole store once, so passes are what localization costs."""

    model_config = ConfigDict(frozen=True)

    max_keys: int = Field(default=1000, ge=1, description="keys named per bucket at most")
    max_passes: int = Field(default=32, ge=1, description="passes per bucket at most")
    list_rows: int = Field(
        default=100_000, ge=1, description="a prefix with at most this many rows is listed, a larger one sharded"
    )


class AccountDiff(BaseModel):
    model_config = ConfigDict(frozen=True)

    flatkv: str | int
    memiavl: str | int


class DivergentKey(BaseModel):
    """One key whose logical value differs between FlatKV and memIAVL (or that one side lacks)."""

    model_config = ConfigDict(frozen=True)

    type: Literal["key"] = "key"
    bucket: str
    key: UpperHex = Field(description="physical key, uppercase hex (`evm/` + kind byte + ...)")
    kind: str | None = Field(description="the x/evm kind byte after `evm/`, two lowercase hex digits")
    kind_name: str | None = None
    address: str | None = Field(description="0x + 20-byte address, where the key holds one")
    slot: str | None = Field(description="0x + 32-byte storage slot (storage keys)")
    change: Change
    flatkv: UpperHex | None = Field(description="FlatKV logical value (hex); null if FlatKV lacks the key")
    memiavl: UpperHex | None = Field(description="memIAVL logical value (hex); null if memIAVL lacks the key")
    account_diff: dict[str, AccountDiff] | None = Field(
        default=None, description="account rows: balance (decimal), nonce, code_hash that differ, both sides"
    )


class BucketResult(BaseModel):
    """One mismatched bucket's localization: how it ended, what it cost, what is left."""

    model_config = ConfigDict(frozen=True)

    bucket: str
    status: Status
    keys_found: int = Field(ge=0)
    passes: int = Field(ge=0)
    method: Method = Field(description="how the keys were found: list (one listing), shards, find_hash, ...")
    flatkv: BucketDigest | None = Field(description="the bucket on FlatKV (from the verdict, else the first pass)")
    memiavl: BucketDigest | None
    shards: int | None = Field(default=None, description="shards of the first shard pass (both sides)")
    differing_shards: int | None = None
    unresolved: list[str] = Field(
        default_factory=list, description="key prefixes (hex after `evm/`+kind) that differ but were not examined"
    )
    note: str = ""


class RecordRef(BaseModel):
    """The verdict record a divergence report explains: its key beside the report and its payload sha256."""

    model_config = ConfigDict(frozen=True)

    key: str
    uncompressed_sha256: str


class DivergenceHeader(BaseModel):
    """The report's first line."""

    model_config = ConfigDict(frozen=True)

    type: Literal["header"] = "header"
    schema_version: int = DIVERGENCE_SCHEMA_VERSION
    height: int = Field(ge=1)
    normalization: Normalization
    node: str | None = None
    record: RecordRef | None = Field(description="the sealed record this explains; null when none was sealed")
    limits: Limits
    status: Status = Field(description="the worst bucket status")
    keys_found: int = Field(ge=0)
    buckets: list[BucketResult]


class Localization(BaseModel):
    """One normalization's localization: per-bucket results and the diverging keys, in key order."""

    height: int
    normalization: Normalization
    node: str | None = None
    limits: Limits
    buckets: list[BucketResult]
    keys: list[DivergentKey]
    seidb_runs: int = Field(default=0, description="seidb processes run (cache hits excluded); not in the report")

    @property
    def status(self) -> Status:
        return max((b.status for b in self.buckets), key=lambda s: s.rank, default=Status.COMPLETE)

    @property
    def passes(self) -> int:
        return sum(b.passes for b in self.buckets)

    def header(self, record: RecordRef | None) -> DivergenceHeader:
        return DivergenceHeader(
            height=self.height,
            normalization=self.normalization,
            node=self.node,
            record=record,
            limits=self.limits,
            status=self.status,
            keys_found=len(self.keys),
            buckets=self.buckets,
        )

    def lines(self, record: RecordRef | None) -> list[dict[str, Any]]:
        """The report payload: the header, then one object per diverging key."""
        return [self.header(record).model_dump(mode="json"), *(k.model_dump(mode="json") for k in self.keys)]


class PublishedDivergence(BaseModel):
    uri: str
    key: str
    uncompressed_sha256: str
    seal_uri: str
    already_sealed: bool = False
    seal_completed: bool = False
    existing_differs: bool = False


class DivergenceSummary(BaseModel):
    """What a gate run shows of one normalization's localization (artifacts, events, terminal)."""

    normalization: Normalization
    status: Status | None = None
    keys_found: int = 0
    passes: int = 0
    seidb_runs: int = 0
    buckets: dict[str, str] = {}
    first_keys: list[DivergentKey] = []
    published: PublishedDivergence | None = None
    error: str | None = None

    @classmethod
    def of(cls, localization: Localization, published: PublishedDivergence | None) -> DivergenceSummary:
        return cls(
            normalization=localization.normalization,
            status=localization.status,
            keys_found=len(localization.keys),
            passes=localization.passes,
            seidb_runs=localization.seidb_runs,
            buckets={b.bucket: b.status.value for b in localization.buckets},
            first_keys=localization.keys[:FIRST_KEYS],
            published=published,
        )

    def event_payload(self) -> dict[str, Any]:
        """The count and first keys, for the mismatch event."""
        if self.error is not None:
            return {"localization": "failed", "localization_error": self.error}
        return {
            "localization": self.status.value if self.status else None,
            "diverging_keys": self.keys_found,
            "first_keys": [{"bucket": k.bucket, "key": k.key, "change": k.change.value} for k in self.first_keys],
            "divergence_uri": self.published.uri if self.published else None,
        }


ReportLine = TypeAdapter(DivergenceHeader | DivergentKey)


def divergence_json_schema() -> dict[str, Any]:
    """JSON Schema of one report line (`type` says which: header or key)."""
    schema = ReportLine.json_schema()
    schema["$id"] = "https://evm-digest/schema/endpoint-divergence.schema.json"
    schema["title"] = "EndpointDivergenceLine"
    return schema


def divergence_json_schema_text() -> str:
    return json.dumps(divergence_json_schema(), indent=2, sort_keys=True) + "\n"
