"""What a gate run produced: the published records, their seals, and the per-bucket table."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from evmdigest.localize.model import DivergenceSummary
from evmdigest.models import NodeKind
from evmdigest.verdict.node_records import NodeDigestRecord
from evmdigest.verdict.records import EndpointDigestRecord


class PublishedRecord(BaseModel):
    record: EndpointDigestRecord
    uri: str
    key: str | None = Field(default=None, description="the record's key in its sink (beside it: its divergence report)")
    uncompressed_sha256: str
    seal_uri: str | None = None
    already_sealed: bool = Field(default=False, description="an identical verdict was sealed by an earlier run")
    seal_completed: bool = Field(
        default=False, description="that earlier run crashed before its seal; this run wrote the missing seal"
    )


class PublishedNodeDigest(BaseModel):
    """A single-endpoint node's sealed digest (composite, memiavl and flatkv kinds)."""

    record: NodeDigestRecord
    uri: str
    uncompressed_sha256: str
    seal_uri: str | None = None
    already_sealed: bool = False
    seal_completed: bool = False


class ScanTiming(BaseModel):
    """When one seidb process ran, as the runner saw it (process start to exit)."""

    label: str
    started_at: float
    finished_at: float
    generation: str

    @property
    def seconds(self) -> float:
        return self.finished_at - self.started_at


class GateOutcome(BaseModel):
    height: int | None
    node: str | None = None
    kind: NodeKind = NodeKind.PAIR
    published: list[PublishedRecord] = Field(default_factory=list, description="a pair node's endpoint records")
    node_digests: list[PublishedNodeDigest] = Field(default_factory=list, description="other kinds' node digests")
    table: list[dict[str, Any]] = Field(default_factory=list, description="bucket_table rows")
    scans: list[ScanTiming] = Field(default_factory=list)
    nothing_to_seal: bool = False
    divergences: list[DivergenceSummary] = Field(default_factory=list, description="localization per mismatch")

    @property
    def all_match(self) -> bool:
        """A pair node's stores agree; a single-endpoint node has nothing to disagree with on its own."""
        if self.kind is not NodeKind.PAIR:
            return bool(self.node_digests)
        return bool(self.published) and all(item.record.match for item in self.published)

    def mismatch_message(self) -> str:
        parts = [item.record.mismatch_summary() for item in self.published if not item.record.match]
        failed = [f"{d.normalization.value}: {d.error}" for d in self.divergences if d.error is not None]
        note = f" (localization failed: {'; '.join(failed)})" if failed else ""
        return f"digest mismatch at {self.height}: " + "; ".join(parts) + note
