"""Build endpoint records and fleet node entries from short digest names, for the fleet's core tests."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from evmdigest.fleet.verdict import COMPOSITE, FLATKV, EndpointDigest, NodeEntry, NodeState, memiavl_endpoint
from evmdigest.kinds import kind_endpoints
from evmdigest.models import BUCKETS, MigrationBoundary, MigrationStatus, NodeKind, Normalization
from evmdigest.verdict.records import BucketVerdict, EndpointDigestRecord

HEIGHT = 1000
BOTH = (Normalization.SEMANTIC, Normalization.TRANSLATOR)


def hex64(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest().upper()


def state_digest(state: str, changed: str | None = None) -> EndpointDigest:
    """The digest of a store state named `state`; `changed` names one bucket that differs from it."""
    buckets = {b: hex64(f"{state}/{b}" + ("!" if b == changed else "")) for b in BUCKETS}
    counts = dict.fromkeys(BUCKETS, 25)
    return EndpointDigest(digest=hex64("|".join(buckets.values())), count=100, per_bucket=buckets, bucket_counts=counts)


def entry(node: str, state: str = "s", changed: dict[str, str] | None = None) -> NodeEntry:
    """A sealed pair node whose endpoints hold `state`; `changed` maps endpoint -> bucket that differs."""
    changed = changed or {}
    endpoints = {ep: state_digest(state, changed.get(ep)) for ep in (FLATKV, *map(memiavl_endpoint, BOTH))}
    own = [f"flatkv vs {ep}" for ep, d in endpoints.items() if not d.same(endpoints[FLATKV])]
    return NodeEntry(node=node, state=NodeState.SEALED, own_match=not own, own_mismatches=own, endpoints=endpoints)


def failed(node: str, state: NodeState = NodeState.FAILED) -> NodeEntry:
    return NodeEntry(node=node, state=state, message="worker gone")


def record(
    normalization: Normalization, state: str = "s", flatkv_change: str | None = None, node: str = "a"
) -> EndpointDigestRecord:
    """An endpoint record whose FlatKV holds `state` (one bucket changed if asked) and memIAVL holds `state`."""
    flatkv, memiavl = state_digest(state, flatkv_change), state_digest(state)
    per_bucket = {
        b: BucketVerdict(flatkv=flatkv.per_bucket[b], memiavl=memiavl.per_bucket[b],
                         match=flatkv.per_bucket[b] == memiavl.per_bucket[b], flatkv_count=25, memiavl_count=25)
        for b in BUCKETS
    }  # fmt: skip
    mismatched = [b for b, v in per_bucket.items() if not v.match]
    return EndpointDigestRecord(
        height=HEIGHT, normalization=normalization, flatkv_digest=flatkv.digest, memiavl_digest=memiavl.digest,
        per_bucket=per_bucket, match=not mismatched, axes_proved=[], generated_at=datetime.now(UTC), node=node,
        flatkv_count=100, memiavl_count=100, mismatched_buckets=mismatched,
    )  # fmt: skip


def kind_entry(node: str, kind: NodeKind, state: str = "s", changed: str | None = None, extra: int = 0) -> NodeEntry:
    """A sealed composite / memiavl / flatkv node holding `state` (`changed`: a bucket that differs; `extra`:
    rows counted twice in storage, as a row on both sides of a composite node is)."""
    digest = state_digest(state, changed)
    if extra:
        counts = {**digest.bucket_counts, "storage": digest.bucket_counts["storage"] + extra}
        digest = digest.model_copy(update={"count": digest.count + extra, "bucket_counts": counts})
    endpoints = {ep: digest for ep in kind_endpoints(kind, BOTH)}
    composite = kind is NodeKind.COMPOSITE
    boundary = MigrationBoundary(status=MigrationStatus.IN_PROGRESS, module="evm", key="03ab") if composite else None
    voting = {NodeKind.COMPOSITE: COMPOSITE, NodeKind.FLATKV: FLATKV}.get(kind, "memiavl/semantic")
    return NodeEntry(node=node, kind=kind, state=NodeState.SEALED, endpoints=endpoints, logical_endpoint=voting,
                     boundary=boundary)  # fmt: skip
