"""Typed values shared by the parser, the simulator, the comparison and the flow."""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

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
    migration_boundary: str | None = None

    def bucket(self, name: str) -> BucketDigest:
        """Look a bucket up by any of its names (`legacy` and `misc` are the same bucket)."""
        if name == LEGACY_BUCKET:
            name = BUCKETS[3]
        if name not in (*BUCKETS, "final"):
            raise KeyError(f"unknown bucket {name!r}; expected one of {', '.join(BUCKET_NAMES)}, final")
        value: BucketDigest = getattr(self, name)
        return value
