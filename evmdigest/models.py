"""Typed values shared by the parser, the simulator, the comparison and the flow."""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

HEX64 = re.compile(r"^[0-9A-Fa-f]{64}$")

BUCKETS: tuple[str, str, str, str] = ("account", "code", "storage", "misc")
"""The four digest buckets in final-digest order; seed-era builds print the fourth as `legacy`."""
LEGACY_BUCKET = "legacy"
BUCKET_NAMES: tuple[str, ...] = (*BUCKETS, LEGACY_BUCKET)
"""Every name a bucket line may carry."""


class Backend(StrEnum):
    FLATKV = "flatkv"
    MEMIAVL = "memiavl"
    COMPOSITE = "composite"


class Normalization(StrEnum):
    """memIAVL decoders. `independent` is seidb's alias of `semantic` and is folded into it."""

    SEMANTIC = "semantic"
    TRANSLATOR = "translator"


class NodeKind(StrEnum):
    """What a node's EVM state is read from, and so which logical digest(s) it seals (README "Node kinds")."""

    PAIR = "pair"  # FlatKV + memIAVL each hold the whole state: compared with each other by the gate
    COMPOSITE = "composite"  # mid-migration: the state is split; seidb's composite backend reads both as one
    MEMIAVL = "memiavl"  # unmigrated: memIAVL only (per normalization)
    FLATKV = "flatkv"  # fully migrated: FlatKV only


def endpoint_name(backend: Backend, normalization: Normalization | None = None) -> str:
    """One logical digest a node reports: `flatkv`, `composite`, `memiavl/<normalization>` (= the scan's label)."""
    return backend.value if normalization is None else f"{backend.value}/{normalization.value}"


ENDPOINTS: tuple[str, ...] = (
    endpoint_name(Backend.FLATKV),
    endpoint_name(Backend.COMPOSITE),
    *(endpoint_name(Backend.MEMIAVL, n) for n in Normalization),
)


class OpenMode(StrEnum):
    SNAPSHOT = "snapshot"
    REPLAY = "replay"


class Generation(StrEnum):
    """Which seidb output form a report was read from."""

    LEGACY = "legacy"  # seed-era text (#3611): fourth bucket printed as `legacy`
    MISC = "misc"  # later text builds: the same bucket renamed `misc`
    JSON = "json"  # `--json` builds


def fourth_bucket_name(generation: Generation) -> str:
    """The fourth bucket's name in that output form: `legacy` in seed-era text, `misc` otherwise.

    The one statement of the legacy/misc naming rule; the parser, renderer, records and tables use it.
    """
    return LEGACY_BUCKET if generation is Generation.LEGACY else BUCKETS[3]


def bucket_label(name: str, generations: Iterable[Generation]) -> str:
    """How bucket `name` is labelled where reports of these generations are shown side by side.

    The fourth bucket keeps its seed-era name `legacy` only when every report is seed-era.
    """
    seen = set(generations)
    return fourth_bucket_name(Generation.LEGACY) if name == BUCKETS[3] and seen == {Generation.LEGACY} else name


def _upper_hex64(value: str) -> str:
    if not HEX64.match(value):
        raise ValueError(f"digest must be 64 hex characters, got {value!r}")
    return value.upper()


Hex64 = Annotated[str, AfterValidator(_upper_hex64)]


class BucketDigest(BaseModel):
    model_config = ConfigDict(frozen=True)

    count: int = Field(ge=0, description="rows folded into the accumulator")
    digest: Hex64 = Field(description="XOR accumulator of entry hashes, 64 uppercase hex")


class ZeroCensus(BaseModel):
    """memIAVL zero-value census (newer builds); informational, never part of the verdict."""

    model_config = ConfigDict(frozen=True)

    zero_accounts: int = Field(ge=0)
    zero_codehash_rows: int = Field(ge=0)
    empty_code_values: int = Field(ge=0)
    zero_storage_slots: int = Field(ge=0)
    live_accounts_with_zero_codehash_row: int = Field(ge=0)
    live_accounts_without_codehash_row: int = Field(ge=0)


class CompositeCounts(BaseModel):
    """A composite scan's narration: `  composite flatkv rows=N` (every FlatKV row the scan iterated, any
    module, marker rows included) and `  composite memiavl leaves=N consumed_unmigrated=M` (absent once the
    migration is complete: memIAVL is skipped). Printed on stdout by text builds, on stderr by --json ones."""

    model_config = ConfigDict(frozen=True)

    flatkv_rows: int | None = Field(None, ge=0)
    memiavl_leaves: int | None = Field(None, ge=0)
    consumed_unmigrated: int | None = Field(None, ge=0)


class DigestReport(BaseModel):
    """One `seidb evm-logical-digest` report, whichever form it was read from."""

    model_config = ConfigDict(frozen=True)

    generation: Generation
    backend: Backend
    mode: str | None = None
    db_dir: str | None = None
    source: str | None = None
    normalization: str | None = None
    requested_height: int = Field(ge=0)
    version: int = Field(ge=0, description="the height the store actually opened")
    account: BucketDigest
    code: BucketDigest
    storage: BucketDigest
    misc: BucketDigest = Field(description="`legacy` in seed-era text reports; the same bucket")
    final: BucketDigest
    marker_adjustments: tuple[str, ...] = ()
    zero_census: ZeroCensus | None = None
    migration_boundary: MigrationBoundary | None = Field(None, description="composite reports only")
    composite_counts: CompositeCounts | None = Field(None, description="composite narration, when it was seen")

    def bucket(self, name: str) -> BucketDigest:
        """Look a bucket up by any of its names (`legacy` and `misc` are the same bucket)."""
        if name == LEGACY_BUCKET:
            name = BUCKETS[3]
        if name not in (*BUCKETS, "final"):
            raise KeyError(f"unknown bucket {name!r}; expected one of {', '.join(BUCKET_NAMES)}, final")
        value: BucketDigest = getattr(self, name)
        return value


HEX = re.compile(r"^(?:[0-9A-Fa-f]{2})*$")
"""Even-length hex, possibly empty (keys, values and prefixes as seidb prints them)."""


class MigrationStatus(StrEnum):
    """sei-db's MigrationStatus as its String() prints it."""

    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    COMPLETE = "complete"


class MigrationBoundary(BaseModel):
    """A composite report's migration boundary, with the fields seidb prints beside it.

    `version_known`, `migration_version` and `memiavl_version` come from the `normalization:` text;
    the golden JSON replaces that text, so they may be unknown (None) there.
    """

    model_config = ConfigDict(frozen=True)

    status: MigrationStatus
    module: str | None = None
    key: str | None = Field(None, description="raw memIAVL key of the last migrated leaf, lowercase hex")
    version_known: bool | None = None
    migration_version: int | None = Field(None, ge=0)
    memiavl_version: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _shape(self) -> MigrationBoundary:
        in_progress = self.status is MigrationStatus.IN_PROGRESS
        if in_progress != (self.module is not None and self.key is not None):
            raise ValueError(f"status {self.status.value} {'needs' if in_progress else 'takes no'} module and key")
        if self.key is not None and (not HEX.match(self.key) or self.key != self.key.lower()):
            raise ValueError(f"key must be lowercase even-length hex, got {self.key!r}")
        return self

    def boundary_text(self) -> str:
        """The boundary as sei-db's MigrationBoundary.String() prints it."""
        if self.status is MigrationStatus.IN_PROGRESS:
            return f"MigrationBoundary{{status={self.status.value}, module={self.module}, key={self.key}}}"
        return f"MigrationBoundary{{status={self.status.value}}}"


DigestReport.model_rebuild()


def _upper_hex(value: str) -> str:
    if not HEX.match(value):
        raise ValueError(f"expected even-length hex, got {value!r}")
    return value.upper()


def _lower_hex(value: str) -> str:
    if not HEX.match(value):
        raise ValueError(f"expected even-length hex, got {value!r}")
    return value.lower()


UpperHex = Annotated[str, AfterValidator(_upper_hex)]
LowerHex = Annotated[str, AfterValidator(_lower_hex)]
InspectForm = Literal["text", "json"]


class InspectEntry(BaseModel):
    """One `--list` pair: the logical value (uppercase hex) and the `--details` metadata, if printed."""

    model_config = ConfigDict(frozen=True)

    logical: UpperHex
    meta: str | None = None


class _InspectCommon(BaseModel):
    model_config = ConfigDict(frozen=True)

    form: InspectForm
    backend: Backend | None = Field(None, description="JSON form only; the text form does not say")
    mode: str | None = None
    requested_height: int | None = Field(None, ge=0, description="JSON form only")
    version: int = Field(ge=0)
    bucket: Literal["account", "code", "storage", "misc"]
    key_offset: int = Field(ge=0)
    key_prefix: UpperHex = Field(description="relative to key_offset; uppercase hex as printed (%X)")
    matched: int = Field(ge=0)
    total_leaves: int | None = Field(None, ge=0, description="memIAVL text only: `memiavl inspect total leaves`")


class InspectShards(_InspectCommon):
    """`--inspect-bucket B --shard-next-bytes N`: per-shard XOR accumulators. Shard names are lowercase hex."""

    kind: Literal["shards"] = "shards"
    shard_next_bytes: int | None = Field(None, ge=0, description="JSON form only")
    shards: dict[LowerHex, BucketDigest]


class InspectList(_InspectCommon):
    """`--inspect-bucket B --list`: key (uppercase hex physical key) -> logical value. Compare as maps:
    memIAVL prints its accounts in map order, so line order differs between backends."""

    kind: Literal["list"] = "list"
    listed: int = Field(ge=0)
    list_limit: int = Field(description="<= 0 means unlimited")
    entries: dict[UpperHex, InspectEntry]


InspectReport = InspectShards | InspectList


class FoundHash(BaseModel):
    """A `--find-hash` hit: `FOUND-HASH bucket=.. keyhex=.. logicalhex=.. rawhex=..` (rawhex may be empty)."""

    model_config = ConfigDict(frozen=True)

    bucket: Literal["account", "code", "storage", "misc", "legacy"]
    key: UpperHex
    logical: UpperHex
    raw: UpperHex
