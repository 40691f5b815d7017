"""What a node's gate left behind: its sealed records at the height, read back from the shared sink.

The sink, not the orchestrator, carries each node's digests to the fleet: a node's gate may run on another
machine whose results the fleet process cannot read, but every gate writes to the one sink the fleet reads.
Each record is checked against its seal (re-hashed), so the fleet compares only what is really sealed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from pydantic import ValidationError

from evmdigest.emit import Sink, SinkError, SinkNotFound
from evmdigest.fleet.compare import RecordsDisagree, sealed_entry
from evmdigest.fleet.nodes import FleetNode
from evmdigest.fleet.verdict import NodeEntry, NodeState, RecordRef
from evmdigest.models import Normalization
from evmdigest.segments import record_key
from evmdigest.verdict.records import EndpointDigestRecord


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


def read_sealed(sink: Sink, key: str) -> tuple[EndpointDigestRecord, RecordRef]:
    """The record at `key` and a reference to it, if and only if its seal vouches for the stored bytes."""
    try:
        record = EndpointDigestRecord.model_validate(sink.read_json(key))
        seal = sink.read_seal(key)
        if seal is None:
            raise Unsealed(f"{sink.uri_for(key)} has no seal")
        if sink.digest_object(key).uncompressed_sha256 != seal.uncompressed_sha256:
            raise Unsealed(f"{sink.uri_for(key)} does not hash to its seal's sha256")
    except SinkNotFound:
        raise Unsealed(f"{sink.uri_for(key)} is missing") from None
    except (SinkError, ValidationError) as exc:
        raise Unsealed(f"{sink.uri_for(key)} is unreadable: {str(exc).splitlines()[0]}") from None
    return record, RecordRef(uri=sink.uri_for(key), uncompressed_sha256=seal.uncompressed_sha256, match=record.match)


def collect_node(
    sink: Sink, height: int, normalizations: Sequence[Normalization], node: FleetNode, run: GateRun
) -> NodeEntry:
    """The node's entry: SEALED with its digests if its run produced sealed records, else FAILED / TIMED_OUT."""
    common = {"node": node.name, "kind": node.kind, "work_queue": node.queue, "flow_run_id": run.flow_run_id}
    if run.end is GateEnd.TIMED_OUT:
        return NodeEntry(state=NodeState.TIMED_OUT, message=run.message, **common)
    records, refs = {}, {}
    try:
        for normalization in normalizations:
            records[normalization], refs[normalization] = read_sealed(
                sink, record_key(height, normalization, node.name)
            )
    except Unsealed as exc:
        why = run.message if run.end is GateEnd.FAILED and run.message else f"gate {run.end.value} but {exc}"
        return NodeEntry(state=NodeState.FAILED, message=why, **common)
    # A failed gate with all records matching failed for another reason (a flip, an error after
    # publishing): the sealed records are an earlier run's, not this run's verdict.
    if run.end is GateEnd.FAILED and all(record.match for record in records.values()):
        return NodeEntry(state=NodeState.FAILED, message=run.message or "gate failed", **common)
    try:
        return sealed_entry(node.name, records, refs, kind=node.kind, message=run.message,
                            work_queue=node.queue, flow_run_id=run.flow_run_id)  # fmt: skip
    except RecordsDisagree as exc:
        return NodeEntry(state=NodeState.FAILED, message=str(exc), **common)
