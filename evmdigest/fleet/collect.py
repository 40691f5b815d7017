"""What a node's gate left behind: its sealed records at the height, read back from the shared sink.

The sink, not the orchestrator, carries each node's digests to the fleet: a node's gate may run on another
machine whose results the fleet process cannot read, but every gate writes to the one sink the fleet reads.
Each record is checked against its seal (re-hashed, verdict_set.read_checked), so the fleet compares only
what is really sealed: a pair node's endpoint records, another kind's node digests (verdict/node_records.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from evmdigest.emit import Sink, SinkError, SinkNotFound, TamperedObject
from evmdigest.fleet.compare import RecordsDisagree, node_digest_entry, sealed_entry
from evmdigest.fleet.nodes import FleetNode
from evmdigest.fleet.verdict import NodeEntry, NodeState, RecordRef
from evmdigest.kinds import kind_endpoints
from evmdigest.models import NodeKind, Normalization
from evmdigest.segments import node_digest_key, record_key
from evmdigest.verdict.node_records import NodeDigestRecord
from evmdigest.verdict.records import EndpointDigestRecord
from evmdigest.verdict.verdict_set import read_checked


class GateEnd(StrEnum):
    """How the orchestrator saw a node's gate run end."""

    COMPLETED = "completed"  # all match (or already sealed with the same verdict)
    FAILED = "failed"  # a mismatch (records published) or an error (nothing published); the records tell which
    TIMED_OUT = "timed_out"  # no final state within node_timeout; the fleet cancelled the run


@dataclass(frozen=True)
class GateRun:
    end: GateEnd
    message: str | None = None
    flow_run_id: str | None = None


class Unsealed(Exception):
    """A record is missing, unreadable, unsealed or does not match its seal."""


M = TypeVar("M", bound=EndpointDigestRecord | NodeDigestRecord)


def read_sealed(sink: Sink, key: str, model: type[M]) -> tuple[M, RecordRef]:
    """The record at `key` and a reference to it, if and only if its seal vouches for the stored bytes."""
    uri = sink.uri_for(key)
    try:
        record, sealed = read_checked(sink, key, model)
        seal = sink.read_seal(key) if sealed else None
    except SinkNotFound:
        raise Unsealed(f"{uri} is missing") from None
    except TamperedObject as exc:
        raise Unsealed(f"{uri} is not vouched for by its seal: {str(exc).splitlines()[0]}") from None
    except SinkError as exc:
        raise Unsealed(f"{uri} is unreadable: {str(exc).splitlines()[0]}") from None
    if seal is None:  # an intent vouches for it (a crash before the seal): not sealed yet
        raise Unsealed(f"{uri} has no seal")
    match = record.match if isinstance(record, EndpointDigestRecord) else None
    return record, RecordRef(uri=uri, uncompressed_sha256=seal.uncompressed_sha256, match=match)


def collect_node(
    sink: Sink, height: int, normalizations: Sequence[Normalization], node: FleetNode, run: GateRun
) -> NodeEntry:
    """The node's entry: SEALED with its digests if its run produced sealed records, else FAILED / TIMED_OUT.
    Pair nodes' endpoint records, other kinds' node digests (one per kinds.kind_endpoints)."""
    common = {"node": node.name, "kind": node.kind, "work_queue": node.queue, "flow_run_id": run.flow_run_id}
    if run.end is GateEnd.TIMED_OUT:
        return NodeEntry(state=NodeState.TIMED_OUT, message=run.message, **common)
    if node.kind is not NodeKind.PAIR and run.end is GateEnd.FAILED:
        # A single-endpoint gate publishes nothing when it fails: what is sealed is an earlier run's.
        return NodeEntry(state=NodeState.FAILED, message=run.message or "gate failed", **common)
    try:
        if node.kind is NodeKind.PAIR:
            return _pair_entry(sink, height, normalizations, node, run, common)
        found = {
            ep: read_sealed(sink, node_digest_key(height, ep, node.name), NodeDigestRecord)
            for ep in kind_endpoints(node.kind, normalizations)
        }
        return node_digest_entry(
            node.name, node.kind, {ep: r for ep, (r, _) in found.items()}, {ep: ref for ep, (_, ref) in found.items()},
            message=run.message, work_queue=node.queue, flow_run_id=run.flow_run_id,
        )  # fmt: skip
    except Unsealed as exc:
        why = run.message if run.end is GateEnd.FAILED and run.message else f"gate {run.end.value} but {exc}"
        return NodeEntry(state=NodeState.FAILED, message=why, **common)
    except RecordsDisagree as exc:
        return NodeEntry(state=NodeState.FAILED, message=str(exc), **common)


def _pair_entry(
    sink: Sink,
    height: int,
    normalizations: Sequence[Normalization],
    node: FleetNode,
    run: GateRun,
    common: dict[str, Any],
) -> NodeEntry:
    records, refs = {}, {}
    for normalization in normalizations:
        records[normalization], refs[normalization] = read_sealed(
            sink, record_key(height, normalization, node.name), EndpointDigestRecord
        )
    # A failed gate with all records matching failed for another reason (a flip, an error after
    # publishing): the sealed records are an earlier run's, not this run's verdict.
    if run.end is GateEnd.FAILED and all(record.match for record in records.values()):
        return NodeEntry(state=NodeState.FAILED, message=run.message or "gate failed", **common)
    return sealed_entry(node.name, records, refs, message=run.message, work_queue=node.queue,
                        flow_run_id=run.flow_run_id)  # fmt: skip
