"""Cross-node comparison: per endpoint, the majority digest, the odd nodes and whether the fleet agrees.

Majority rule: an endpoint's majority is the digest (FINAL digest and count) reported by MORE than half
of the nodes that report that endpoint. Without one (a tie, e.g. 1-1 or 2-2, or a scatter such as
2-2-1), there is no majority and every node reporting that endpoint is odd: none of them can be
cleared. Nodes that failed or timed out report nothing and do not vote; the verdict is then incomplete.

A node is also odd when its own stores disagree (a pair node whose gate found a mismatch).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from evmdigest.fleet.nodes import NodeKind
from evmdigest.fleet.verdict import (
    FLATKV,
    EndpointDigest,
    FleetVerdict,
    NodeEntry,
    NodeState,
    RecordRef,
    endpoints_for,
    memiavl_endpoint,
)
from evmdigest.models import Normalization
from evmdigest.verdict.records import EndpointDigestRecord


class RecordsDisagree(ValueError):
    """A node's records at one height were not read from one FlatKV state (they must be)."""


def pair_endpoints(records: Mapping[Normalization, EndpointDigestRecord]) -> dict[str, EndpointDigest]:
    """A pair node's endpoints from its records: FlatKV once (every record holds the same scan), memIAVL per norm."""
    endpoints: dict[str, EndpointDigest] = {}
    for normalization, record in records.items():
        flatkv = EndpointDigest(
            digest=record.flatkv_digest,
            count=record.flatkv_count if record.flatkv_count is not None else _bucket_total(record, "flatkv_count"),
            per_bucket={bucket: verdict.flatkv for bucket, verdict in record.per_bucket.items()},
        )
        if FLATKV in endpoints and not endpoints[FLATKV].same(flatkv):
            raise RecordsDisagree(
                f"the {normalization.value} record holds FlatKV digest {flatkv.digest}, another record "
                f"{endpoints[FLATKV].digest}: records of one height come from different store states"
            )
        endpoints.setdefault(FLATKV, flatkv)
        endpoints[memiavl_endpoint(normalization)] = EndpointDigest(
            digest=record.memiavl_digest,
            count=record.memiavl_count if record.memiavl_count is not None else _bucket_total(record, "memiavl_count"),
            per_bucket={bucket: verdict.memiavl for bucket, verdict in record.per_bucket.items()},
        )
    return endpoints


def _bucket_total(record: EndpointDigestRecord, field: str) -> int:
    # Seed-era records carry no FINAL counts; the buckets' counts add up to it.
    return sum(int(getattr(verdict, field)) for verdict in record.per_bucket.values())


def sealed_entry(
    node: str,
    records: Mapping[Normalization, EndpointDigestRecord],
    refs: Mapping[Normalization, RecordRef],
    *,
    kind: NodeKind = NodeKind.PAIR,
    message: str | None = None,
    work_queue: str | None = None,
    flow_run_id: str | None = None,
) -> NodeEntry:
    """The entry of a node whose records are all sealed. Only `pair` nodes exist yet."""
    if kind is not NodeKind.PAIR:
        raise ValueError(f"node {node}: kind {kind.value} is not supported yet")
    return NodeEntry(
        node=node, kind=kind, state=NodeState.SEALED, message=message,
        own_match=all(record.match for record in records.values()), endpoints=pair_endpoints(records),
        own_mismatches=[f"flatkv vs {memiavl_endpoint(n)}: {', '.join(r.mismatched_buckets) or 'final'}"
                        for n, r in records.items() if not r.match],
        records={n.value: ref for n, ref in refs.items()}, work_queue=work_queue, flow_run_id=flow_run_id,
    )  # fmt: skip


def _differing_buckets(mine: EndpointDigest, majority: EndpointDigest) -> str:
    buckets = [b for b, digest in mine.per_bucket.items() if majority.per_bucket.get(b, digest) != digest]
    return ", ".join(buckets) or ("count" if mine.digest == majority.digest else "final")


def compare_fleet(
    height: int,
    normalizations: Sequence[Normalization],
    entries: Sequence[NodeEntry],
    *,
    generated_at: datetime | None = None,
) -> FleetVerdict:
    """The fleet verdict over every node's entry (sealed or not)."""
    endpoints = endpoints_for(list(normalizations))
    sealed = [entry for entry in entries if entry.state is NodeState.SEALED]
    extra = sorted({ep for entry in sealed for ep in entry.endpoints} - set(endpoints))
    majority: dict[str, EndpointDigest | None] = {}
    reasons: dict[str, list[str]] = {entry.node: [] for entry in entries}
    agree = bool(sealed)
    for endpoint in [*endpoints, *extra]:
        holders = {entry.node: entry.endpoints[endpoint] for entry in sealed if endpoint in entry.endpoints}
        if not holders:
            majority[endpoint] = None
            continue
        votes = Counter((d.digest, d.count) for d in holders.values())
        (top, n), *_ = votes.most_common(1)
        winner = next(d for d in holders.values() if (d.digest, d.count) == top) if 2 * n > len(holders) else None
        majority[endpoint] = winner
        for node, digest in holders.items():
            if winner is None:
                reasons[node].append(f"{endpoint}: no majority ({len(votes)} digests among {len(holders)} nodes)")
                agree = False
            elif not digest.same(winner):
                reasons[node].append(f"{endpoint} differs from the majority ({_differing_buckets(digest, winner)})")
                agree = False
    for entry in sealed:
        if entry.own_match is False:
            reasons[entry.node].append(f"own stores differ ({'; '.join(entry.own_mismatches)})")
    odd = [entry.node for entry in entries if reasons[entry.node]]
    return FleetVerdict(
        height=height, normalizations=list(normalizations), nodes={entry.node: entry for entry in entries},
        majority=majority, odd_nodes=odd, odd_reasons={node: reasons[node] for node in odd}, agree=agree,
        all_match=all(entry.own_match for entry in sealed), complete=len(sealed) == len(entries),
        generated_at=generated_at or datetime.now(UTC),
    )  # fmt: skip
