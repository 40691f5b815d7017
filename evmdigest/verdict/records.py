"""The published verdict: `EndpointDigestRecord` and the pure comparison that builds it.

The seed's field names are a one-way door (readers already parse them): fields may be added, never
renamed. `axes_proved` never names balance: the semantic decoder zeroes it, so no match proves it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from evmdigest.models import BUCKETS, Backend, DigestReport, Generation, Normalization, bucket_label
from evmdigest.verdict.gate import check_versions

SCHEMA_VERSION = 1
BUCKET_AXES: dict[str, tuple[str, ...]] = {
    "account": ("nonce", "code_hash"),
    "code": ("code",),
    "storage": ("storage",),
    "misc": ("misc",),
}
# The order in which axes are listed, whatever order buckets are compared in.
AXES_ORDER: tuple[str, ...] = ("nonce", "code_hash", "code", "storage", "misc")


class BucketVerdict(BaseModel):
    model_config = ConfigDict(frozen=True)

    flatkv: str = Field(description="FlatKV bucket digest (64 uppercase hex)")
    memiavl: str = Field(description="memIAVL bucket digest under this record's normalization")
    match: bool = Field(description="digests and row counts both equal")
    flatkv_count: int = Field(ge=0)
    memiavl_count: int = Field(ge=0)


class EndpointDigestRecord(BaseModel):
    """One normalization's verdict at one segment boundary height."""

    model_config = ConfigDict(frozen=True)

    height: int = Field(ge=1, description="the segment boundary height both stores opened")
    normalization: Normalization = Field(description="memIAVL decoder this verdict used")
    flatkv_digest: str = Field(description="FlatKV FINAL_DIGEST")
    memiavl_digest: str = Field(description="memIAVL FINAL_DIGEST")
    per_bucket: dict[str, BucketVerdict] = Field(description="account, code, storage and misc (or legacy)")
    match: bool = Field(description="every bucket and the final digest match")
    axes_proved: list[str] = Field(description="state axes whose buckets matched; never balance")
    generated_at: datetime
    # Added after the seed; optional so that seed-era records still validate.
    schema_version: int = SCHEMA_VERSION
    node: str | None = Field(default=None, description="node label the scans ran on")
    flatkv_count: int | None = Field(default=None, ge=0)
    memiavl_count: int | None = Field(default=None, ge=0)
    flatkv_version: int | None = None
    memiavl_version: int | None = None
    seidb_generation: dict[str, Generation] | None = Field(
        default=None, description="which seidb output form each side was read from"
    )
    marker_adjustments: list[str] = Field(default_factory=list, description="FlatKV migration rows XORed out")
    mismatched_buckets: list[str] = Field(default_factory=list)

    def verdict(self) -> dict[str, Any]:
        """What a re-run must reproduce for the seal to stand; time and provenance excluded."""
        return self.model_dump(
            mode="json",
            include={"height", "normalization", "flatkv_digest", "memiavl_digest", "per_bucket", "match"},
        )

    def flip_subject(self) -> str:
        return f"{self.height} ({self.normalization.value})"

    def flip_summary(self) -> str:
        return f"match={self.match} flatkv={self.flatkv_digest} memiavl={self.memiavl_digest}"

    def mismatch_summary(self) -> str:
        return f"{', '.join(self.mismatched_buckets)} ({self.normalization.value})"


def compare(
    height: int,
    normalization: Normalization,
    flatkv: DigestReport,
    memiavl: DigestReport,
    *,
    node: str | None = None,
    generated_at: datetime | None = None,
) -> EndpointDigestRecord:
    """Build the verdict for one normalization. Refuses reports of the wrong backend or height."""
    if flatkv.backend is not Backend.FLATKV:
        raise ValueError(f"flatkv: expected a flatkv report, got backend {flatkv.backend.value}")
    if memiavl.backend is not Backend.MEMIAVL:
        raise ValueError(f"memiavl: expected a memiavl report, got backend {memiavl.backend.value}")
    check_versions(height, {"flatkv": flatkv, f"memiavl/{normalization.value}": memiavl})
    per_bucket: dict[str, BucketVerdict] = {}
    axes: set[str] = set()
    mismatched = []
    for name in BUCKETS:
        left, right = flatkv.bucket(name), memiavl.bucket(name)
        same = left == right
        shown = bucket_label(name, (flatkv.generation, memiavl.generation))
        per_bucket[shown] = BucketVerdict(
            flatkv=left.digest,
            memiavl=right.digest,
            match=same,
            flatkv_count=left.count,
            memiavl_count=right.count,
        )
        if same:
            axes.update(BUCKET_AXES[name])
        else:
            mismatched.append(shown)
    final_same = flatkv.final == memiavl.final
    if not final_same and not mismatched:
        mismatched.append("final")  # unreachable for self-consistent reports; kept to fail closed
    return EndpointDigestRecord(
        height=height,
        normalization=normalization,
        flatkv_digest=flatkv.final.digest,
        memiavl_digest=memiavl.final.digest,
        per_bucket=per_bucket,
        match=final_same and not mismatched,
        axes_proved=[axis for axis in AXES_ORDER if axis in axes],
        generated_at=generated_at or datetime.now(UTC),
        node=node,
        flatkv_count=flatkv.final.count,
        memiavl_count=memiavl.final.count,
        flatkv_version=flatkv.version,
        memiavl_version=memiavl.version,
        seidb_generation={"flatkv": flatkv.generation, "memiavl": memiavl.generation},
        marker_adjustments=list(flatkv.marker_adjustments),
        mismatched_buckets=mismatched,
    )


def record_json_schema() -> dict[str, Any]:
    schema = EndpointDigestRecord.model_json_schema()
    schema["$id"] = "https://evm-digest/schema/endpoint-digest-record.schema.json"
    return schema


def record_json_schema_text() -> str:
    return json.dumps(record_json_schema(), indent=2, sort_keys=True) + "\n"
