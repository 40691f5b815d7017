"""The node digest record: a single-endpoint node's logical digest at a height, sealed like a verdict.

A `composite`, `memiavl` or `flatkv` node has no second store to compare with on the node itself: what
it seals is its logical digest for its kind (per bucket and FINAL), the versions it opened and, for a
composite node, the migration boundary. Comparison happens across nodes (the fleet), where these
digests must equal a pair node's FlatKV and memIAVL digests. Fields may be added, never renamed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from evmdigest.models import (
    BUCKETS,
    Backend,
    BucketDigest,
    CompositeCounts,
    DigestReport,
    Generation,
    MigrationBoundary,
    NodeKind,
    Normalization,
    bucket_label,
    endpoint_name,
)
from evmdigest.verdict.gate import check_versions

NODE_SCHEMA_VERSION = 1
_KIND_OF_BACKEND = {backend: NodeKind(backend.value) for backend in Backend}  # one backend, one single-endpoint kind


class NodeDigestRecord(BaseModel):
    """One endpoint's logical digest of a single-endpoint node at one segment boundary height."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = NODE_SCHEMA_VERSION
    height: int = Field(ge=1, description="the segment boundary height the store(s) opened")
    kind: NodeKind = Field(description="composite, memiavl or flatkv (a pair node seals endpoint records)")
    endpoint: str = Field(description="the logical digest: composite, flatkv or memiavl/<normalization>")
    backend: Backend
    normalization: Normalization | None = Field(default=None, description="memIAVL decoder (memiavl kind only)")
    digest: str = Field(description="FINAL digest (64 uppercase hex)")
    count: int = Field(ge=0, description="FINAL row count")
    per_bucket: dict[str, BucketDigest] = Field(description="account, code, storage and misc (or legacy)")
    version: int = Field(ge=0, description="the version the scan opened (FlatKV's for composite)")
    memiavl_version: int | None = Field(default=None, ge=0, description="composite: the memIAVL version it read")
    boundary: MigrationBoundary | None = Field(default=None, description="composite: the migration boundary")
    composite_counts: CompositeCounts | None = Field(default=None, description="composite: the scan's row counts")
    marker_adjustments: list[str] = Field(default_factory=list, description="FlatKV migration rows XORed out")
    seidb_generation: Generation
    node: str | None = Field(default=None, description="node label the scan ran on")
    generated_at: datetime

    def verdict(self) -> dict[str, Any]:
        """What a re-run must reproduce for the seal to stand; time and provenance excluded."""
        return self.model_dump(
            mode="json",
            include={
                "height": True, "kind": True, "endpoint": True, "digest": True, "count": True, "per_bucket": True,
                "version": True, "boundary": {"status", "module", "key"},
            },
        )  # fmt: skip

    def flip_subject(self) -> str:
        return f"{self.height} ({self.endpoint} of a {self.kind.value} node)"

    def flip_summary(self) -> str:
        boundary = f" {self.boundary.boundary_text()}" if self.boundary else ""
        return f"digest={self.digest} count={self.count}{boundary}"


def node_digest(
    height: int,
    report: DigestReport,
    normalization: Normalization | None = None,
    *,
    node: str | None = None,
    generated_at: datetime | None = None,
) -> NodeDigestRecord:
    """The record of one scan (`normalization`: the memIAVL scan's decoder) of a single-endpoint node.
    Refuses a report of another height (version gate)."""
    if (report.backend is Backend.MEMIAVL) != (normalization is not None):
        raise ValueError(f"normalization: a memiavl report needs one, a {report.backend.value} report takes none")
    label = endpoint_name(report.backend, normalization)
    check_versions(height, {label: report})
    boundary = report.migration_boundary
    return NodeDigestRecord(
        height=height,
        kind=_KIND_OF_BACKEND[report.backend],
        endpoint=label,
        backend=report.backend,
        normalization=normalization,
        digest=report.final.digest,
        count=report.final.count,
        per_bucket={bucket_label(name, (report.generation,)): report.bucket(name) for name in BUCKETS},
        version=report.version,
        memiavl_version=boundary.memiavl_version if boundary else None,
        boundary=boundary,
        composite_counts=report.composite_counts,
        marker_adjustments=list(report.marker_adjustments),
        seidb_generation=report.generation,
        node=node,
        generated_at=generated_at or datetime.now(UTC),
    )


def node_json_schema() -> dict[str, Any]:
    schema = NodeDigestRecord.model_json_schema()
    schema["$id"] = "https://evm-digest/schema/node-digest-record.schema.json"
    return schema


def node_json_schema_text() -> str:
    return json.dumps(node_json_schema(), indent=2, sort_keys=True) + "\n"
