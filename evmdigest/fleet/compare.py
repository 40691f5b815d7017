"""Cross-node comparison: one logical majority over nodes of every kind, the odd nodes and whether the fleet agrees.

Every node's digests are digests of one logical EVM state (evmdigest.verdict.cross_node): a pair node's
FlatKV and memIAVL per normalization, a composite node's composite view, a memiavl node's memIAVL per
normalization, a flatkv node's FlatKV. So the nodes are compared on one key, not per endpoint name (per
endpoint, a composite node would be alone in a group of its own and never compared):
- Vote: each sealed node votes once, with the digest standing for it (cross_node.primary_endpoint:
  FlatKV for pair and flatkv nodes, composite, memIAVL semantic for memiavl nodes). A vote is FINAL and
  every bucket, digest and count.
- Majority: the vote of MORE than half of the sealed nodes. Without one (a tie, e.g. 1-1 or 2-2, or a
  scatter such as 2-2-1) every sealed node is odd: none of them can be cleared.
- Odd: a node with ANY of its digests differing from the majority (the reason names the endpoint and the
  differing buckets, with counts when they differ), or whose own stores differ (a pair node's gate found
  a mismatch). Nodes that failed or timed out do not vote; the verdict is then incomplete.
`majority` per endpoint is detail (among the nodes reporting that endpoint); it decides nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

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
from evmdigest.kinds import kind_endpoints
from evmdigest.models import NodeKind, Normalization
from evmdigest.verdict.cross_node import (
    FINAL,
    CrossNodeComparison,
    LogicalDigest,
    compare_logical,
    logical_digests,
    pair_logical_digests,
    primary_endpoint,
)
from evmdigest.verdict.node_records import NodeDigestRecord
from evmdigest.verdict.records import EndpointDigestRecord


class RecordsDisagree(ValueError):
    """A node's records at one height were not read from one store state (they must be)."""


def pair_endpoints(records: Mapping[Normalization, EndpointDigestRecord]) -> dict[str, EndpointDigest]:
    """A pair node's endpoints from its records: FlatKV once (every record holds the same scan), memIAVL per norm."""
    endpoints: dict[str, EndpointDigest] = {}
    for normalization, record in records.items():
        flatkv, memiavl = (EndpointDigest.of(d) for d in pair_logical_digests({normalization: record}))
        if FLATKV in endpoints and not endpoints[FLATKV].same(flatkv):
            raise RecordsDisagree(
                f"the {normalization.value} record holds FlatKV digest {flatkv.digest}, another record "
                f"{endpoints[FLATKV].digest}: records of one height come from different store states"
            )
        endpoints.setdefault(FLATKV, flatkv)
        endpoints[memiavl_endpoint(normalization)] = memiavl
    return endpoints


def sealed_entry(
    node: str,
    records: Mapping[Normalization, EndpointDigestRecord],
    refs: Mapping[Normalization, RecordRef],
    *,
    message: str | None = None,
    work_queue: str | None = None,
    flow_run_id: str | None = None,
) -> NodeEntry:
    """The entry of a pair node whose records are all sealed."""
    endpoints = pair_endpoints(records)
    return NodeEntry(
        node=node, kind=NodeKind.PAIR, state=NodeState.SEALED, message=message,
        own_match=all(record.match for record in records.values()), endpoints=endpoints,
        own_mismatches=[f"flatkv vs {memiavl_endpoint(n)}: {', '.join(r.mismatched_buckets) or 'final'}"
                        for n, r in records.items() if not r.match],
        logical_endpoint=FLATKV, records={n.value: ref for n, ref in refs.items()}, work_queue=work_queue,
        flow_run_id=flow_run_id,
    )  # fmt: skip


def node_digest_entry(
    node: str,
    kind: NodeKind,
    records: Mapping[str, NodeDigestRecord],
    refs: Mapping[str, RecordRef],
    *,
    message: str | None = None,
    work_queue: str | None = None,
    flow_run_id: str | None = None,
) -> NodeEntry:
    """The entry of a composite, memiavl or flatkv node whose node digests (endpoint -> record) are all sealed."""
    wrong = [f"{ep} is sealed as a {r.kind.value} node's" for ep, r in records.items() if r.kind is not kind]
    if wrong:
        raise RecordsDisagree(f"node declared {kind.value}, but {'; '.join(wrong)} (the node changed kind)")
    try:
        digests = logical_digests(list(records.values()))
    except ValueError as exc:
        raise RecordsDisagree(str(exc)) from None
    boundaries = {r.boundary for r in records.values()}
    return NodeEntry(
        node=node, kind=kind, state=NodeState.SEALED, message=message,
        endpoints={d.endpoint: EndpointDigest.of(d) for d in digests},
        logical_endpoint=primary_endpoint(digests).endpoint, boundary=next(iter(boundaries)) if boundaries else None,
        records=dict(refs), work_queue=work_queue, flow_run_id=flow_run_id,
    )  # fmt: skip


def _node_digests(entry: NodeEntry, height: int) -> list[LogicalDigest]:
    return [d.logical(entry.node, entry.kind, ep, height) for ep, d in entry.endpoints.items()]


def _vote(digest: LogicalDigest) -> tuple[object, ...]:
    return (digest.final, *sorted(digest.per_bucket.items()))


def _where(comparison: CrossNodeComparison) -> str:
    """`storage`, `storage count 229 vs 228`; FINAL alone: `count` or `final`."""
    parts = [
        d.bucket if d.mine.count == d.other.count else f"{d.bucket} count {d.mine.count} vs {d.other.count}"
        for d in comparison.differences
        if d.bucket != FINAL
    ]
    if parts:
        return ", ".join(parts)
    final = comparison.differences[0]
    return "count" if final.mine.digest == final.other.digest else "final"


def _endpoint_majority(holders: list[EndpointDigest]) -> EndpointDigest | None:
    def key(d: EndpointDigest) -> tuple[object, ...]:
        return (d.digest, d.count, *sorted(d.per_bucket.items()), *sorted(d.bucket_counts.items()))

    top, n = Counter(key(d) for d in holders).most_common(1)[0]
    return next(d for d in holders if key(d) == top) if 2 * n > len(holders) else None


def compare_fleet(
    height: int,
    normalizations: Sequence[Normalization],
    entries: Sequence[NodeEntry],
    *,
    generated_at: datetime | None = None,
) -> FleetVerdict:
    """The fleet verdict over every node's entry (sealed or not)."""
    sealed = [entry for entry in entries if entry.state is NodeState.SEALED]
    reported = {ep for entry in entries for ep in kind_endpoints(entry.kind, normalizations)}
    reported |= {ep for entry in sealed for ep in entry.endpoints}
    order = endpoints_for(list(normalizations))
    endpoints = [ep for ep in order if ep in reported] + sorted(reported - set(order))
    digests = {entry.node: _node_digests(entry, height) for entry in sealed if entry.endpoints}
    votes = {node: primary_endpoint(found) for node, found in digests.items()}
    tally = Counter(_vote(vote) for vote in votes.values())
    winner = None
    if tally:
        top, n = tally.most_common(1)[0]
        winner = next(v for v in votes.values() if _vote(v) == top) if 2 * n > len(votes) else None
    reasons: dict[str, list[str]] = {entry.node: [] for entry in entries}
    agree = winner is not None
    for node, found in digests.items():
        if winner is None:
            reasons[node].append(f"{votes[node].endpoint}: no majority ({len(tally)} digests among {len(votes)} nodes)")
            continue
        for digest in found:
            comparison = compare_logical(digest, winner)
            if not comparison.match:
                reasons[node].append(f"{digest.endpoint} differs from the majority ({_where(comparison)})")
                agree = False
    for entry in sealed:
        if entry.own_match is False:
            reasons[entry.node].append(f"own stores differ ({'; '.join(entry.own_mismatches)})")
    majority: dict[str, EndpointDigest | None] = {}
    for endpoint in endpoints:
        holders = [entry.endpoints[endpoint] for entry in sealed if endpoint in entry.endpoints]
        majority[endpoint] = _endpoint_majority(holders) if holders else None
    odd = [entry.node for entry in entries if reasons[entry.node]]
    return FleetVerdict(
        height=height, normalizations=list(normalizations), nodes={entry.node: entry for entry in entries},
        logical_majority=EndpointDigest.of(winner) if winner else None, majority=majority, odd_nodes=odd,
        odd_reasons={node: reasons[node] for node in odd}, agree=agree and bool(digests),
        all_match=all(entry.own_match is not False for entry in sealed), complete=len(sealed) == len(entries),
        generated_at=generated_at or datetime.now(UTC),
    )  # fmt: skip
