"""Cross-node comparison of logical digests: how the fleet compares nodes of any kind (README "Node kinds").

Every kind reports logical digests of one EVM state, comparable per bucket and FINAL whatever store they
were read from: a pair node FlatKV's and memIAVL's per normalization (its own gate proved them equal), a
composite node the composite view, a memiavl node memIAVL's per normalization, a flatkv node FlatKV's. At
one height a composite node's digest equals an unmigrated node's memIAVL digest and a migrated node's
FlatKV digest (real runs `mid-migration-clean.*`). A row both stores hold counts twice in composite: the
digest AND the count differ, and both are reported.

Pure functions over sealed records; no I/O. The fleet calls `logical_digests` / `pair_logical_digests`
per node, then `compare_nodes` (or `compare_logical` for one pair of digests).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from evmdigest.models import (
    BUCKETS,
    LEGACY_BUCKET,
    Backend,
    BucketDigest,
    DigestReport,
    MigrationBoundary,
    NodeKind,
    Normalization,
    endpoint_name,
)
from evmdigest.verdict.node_records import NodeDigestRecord
from evmdigest.verdict.records import EndpointDigestRecord

FINAL = "final"
_FLATKV = endpoint_name(Backend.FLATKV)
_SEMANTIC = endpoint_name(Backend.MEMIAVL, Normalization.SEMANTIC)


class LogicalDigest(BaseModel):
    """One logical digest of one node at one height: FINAL and the four buckets, under canonical names."""

    model_config = ConfigDict(frozen=True)

    node: str | None
    kind: NodeKind
    endpoint: str = Field(description="composite, flatkv or memiavl/<normalization>")
    height: int
    final: BucketDigest
    per_bucket: dict[str, BucketDigest] = Field(description="account, code, storage, misc (never `legacy`)")
    boundary: MigrationBoundary | None = Field(default=None, description="composite nodes: the migration boundary")

    @property
    def who(self) -> str:
        """`node-b composite` (how a comparison names this side)."""
        return f"{self.node or 'node'} {self.endpoint}"


class BucketDifference(BaseModel):
    model_config = ConfigDict(frozen=True)

    bucket: str = Field(description="account, code, storage, misc or final")
    mine: BucketDigest
    other: BucketDigest

    def text(self) -> str:
        what = [] if self.mine.digest == self.other.digest else ["digest"]
        if self.mine.count != self.other.count:
            what.append(f"count {self.mine.count} vs {self.other.count}")
        return f"{self.bucket} ({', '.join(what)})"


class CrossNodeComparison(BaseModel):
    """`mine` against `other`: equal when every bucket and FINAL have the same digest and count."""

    model_config = ConfigDict(frozen=True)

    mine: LogicalDigest
    other: LogicalDigest
    differences: list[BucketDifference] = Field(description="buckets first (BUCKETS order), then final")

    @property
    def match(self) -> bool:
        return not self.differences

    @property
    def differing_buckets(self) -> list[str]:
        """The buckets that differ (never `final`, which differs whenever one of them does)."""
        return [d.bucket for d in self.differences if d.bucket != FINAL]

    def summary(self) -> str:
        """One line: `node-b composite vs node-a flatkv at H: storage (digest), final (digest)` or `... match`."""
        head = f"{self.mine.who} vs {self.other.who} at {self.mine.height}"
        if self.match:
            return f"{head}: match"
        return f"{head}: " + ", ".join(d.text() for d in self.differences)


def _canonical(buckets: Mapping[str, BucketDigest]) -> dict[str, BucketDigest]:
    # Seed-era reports print the fourth bucket as `legacy`: the same bucket (models.fourth_bucket_name).
    return {BUCKETS[3] if name == LEGACY_BUCKET else name: digest for name, digest in buckets.items()}


def logical_digest(record: NodeDigestRecord) -> LogicalDigest:
    """The logical digest a composite, memiavl or flatkv node sealed (one NodeDigestRecord)."""
    return LogicalDigest(
        node=record.node, kind=record.kind, endpoint=record.endpoint, height=record.height,
        final=BucketDigest(count=record.count, digest=record.digest), per_bucket=_canonical(record.per_bucket),
        boundary=record.boundary,
    )  # fmt: skip


def logical_digests(records: Sequence[NodeDigestRecord]) -> list[LogicalDigest]:
    """A single-endpoint node's digests at one height (composite: one; memiavl: one per normalization)."""
    kinds = {record.kind for record in records}
    heights = {record.height for record in records}
    if len(kinds) > 1 or len(heights) > 1:
        raise ValueError(f"records: one node at one height expected, got kinds {kinds} at heights {heights}")
    return [logical_digest(record) for record in records]


def pair_logical_digests(
    records: Mapping[Normalization, EndpointDigestRecord], node: str | None = None
) -> list[LogicalDigest]:
    """A pair node's digests from its endpoint records: FlatKV once, then memIAVL per normalization."""
    found: dict[str, LogicalDigest] = {}
    for normalization, record in records.items():
        for side, endpoint in (("flatkv", _FLATKV), ("memiavl", endpoint_name(Backend.MEMIAVL, normalization))):
            buckets = {
                name: BucketDigest(count=getattr(v, f"{side}_count"), digest=getattr(v, side))
                for name, v in record.per_bucket.items()
            }
            count = getattr(record, f"{side}_count")
            final = BucketDigest(
                digest=getattr(record, f"{side}_digest"),
                count=sum(b.count for b in buckets.values()) if count is None else count,  # seed-era: no FINAL count
            )
            found.setdefault(endpoint, LogicalDigest(
                node=node if node is not None else record.node, kind=NodeKind.PAIR, endpoint=endpoint,
                height=record.height, final=final, per_bucket=_canonical(buckets),
            ))  # fmt: skip
    return list(found.values())


def report_digest(
    report: DigestReport, kind: NodeKind, normalization: Normalization | None = None, *, node: str | None = None
) -> LogicalDigest:
    """A logical digest straight from a parsed report (`normalization`: a memIAVL scan's decoder; the
    opened version as the height)."""
    if (report.backend is Backend.MEMIAVL) != (normalization is not None):
        raise ValueError(f"normalization: a memiavl report needs one, a {report.backend.value} report takes none")
    return LogicalDigest(
        node=node, kind=kind, endpoint=endpoint_name(report.backend, normalization), height=report.version,
        final=report.final, per_bucket={name: report.bucket(name) for name in BUCKETS},
        boundary=report.migration_boundary,
    )  # fmt: skip


def primary_endpoint(digests: Sequence[LogicalDigest]) -> LogicalDigest:
    """The digest that stands for the node: FlatKV for pair and flatkv nodes, composite's, else memIAVL's
    semantic one (composite decodes memIAVL semantically), else its first."""
    by_endpoint = {d.endpoint: d for d in digests}
    for endpoint in (_FLATKV, endpoint_name(Backend.COMPOSITE), _SEMANTIC):
        if endpoint in by_endpoint:
            return by_endpoint[endpoint]
    if not digests:
        raise ValueError("digests: a node with no logical digest cannot be compared")
    return digests[0]


def compare_logical(mine: LogicalDigest, other: LogicalDigest) -> CrossNodeComparison:
    """Compare two logical digests per bucket and FINAL (digest and count). Refuses different heights."""
    if mine.height != other.height:
        raise ValueError(f"height: {mine.who} is at {mine.height}, {other.who} at {other.height}")
    differences = []
    for name in (*BUCKETS, FINAL):
        left = mine.final if name == FINAL else mine.per_bucket.get(name)
        right = other.final if name == FINAL else other.per_bucket.get(name)
        if left is None or right is None:
            raise ValueError(f"per_bucket: {mine.who if left is None else other.who} has no {name} bucket")
        if left != right:
            differences.append(BucketDifference(bucket=name, mine=left, other=right))
    return CrossNodeComparison(mine=mine, other=other, differences=differences)


def compare_nodes(mine: Sequence[LogicalDigest], other: Sequence[LogicalDigest]) -> list[CrossNodeComparison]:
    """Each of my node's digests against the other node's: its same endpoint when it has one (memiavl/semantic
    with memiavl/semantic), else the digest standing for the other node (primary_endpoint)."""
    theirs = {d.endpoint: d for d in other}
    stand_in = primary_endpoint(other)
    return [compare_logical(digest, theirs.get(digest.endpoint, stand_in)) for digest in mine]
