"""The sealed fleet verdict: every node's logical digests, the logical majority, the odd nodes, and the state.

An endpoint is one logical digest a node reports, by its kind (evmdigest.kinds.kind_endpoints): a pair
node `flatkv` and `memiavl/<normalization>` (from its sealed records), a composite node `composite`, a
memiavl node `memiavl/<normalization>`, a flatkv node `flatkv` (from its sealed node digests). All are
digests of one logical EVM state, so the nodes are compared on one key, `logical_majority` (FINAL and
every bucket, digest and count; evmdigest.fleet.compare); `majority` keeps the per-endpoint detail.

Fields may be added, never renamed (readers such as the ledger parse them). Version 2: node kinds
other than pair, `logical_majority`, `logical_endpoint`, `boundary`, per-bucket counts.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from evmdigest.models import Backend, BucketDigest, MigrationBoundary, NodeKind, Normalization, endpoint_name
from evmdigest.verdict.cross_node import LogicalDigest

FLEET_SCHEMA_VERSION = 2
FLATKV = endpoint_name(Backend.FLATKV)
COMPOSITE = endpoint_name(Backend.COMPOSITE)


def memiavl_endpoint(normalization: Normalization) -> str:
    return endpoint_name(Backend.MEMIAVL, normalization)


def endpoints_for(normalizations: tuple[Normalization, ...] | list[Normalization]) -> list[str]:
    """Every endpoint a fleet may compare, in display order."""
    return [FLATKV, *(memiavl_endpoint(n) for n in normalizations), COMPOSITE]


class NodeState(StrEnum):
    SEALED = "sealed"  # the node's gate ended and its records for every normalization are sealed in the sink
    FAILED = "failed"  # the gate ended without its records (error, crash, cancellation, verdict flip)
    TIMED_OUT = "timed_out"  # no verdict within node_timeout (worker down, queue backlog, slow scans); cancelled


class EndpointDigest(BaseModel):
    """One endpoint's logical digest on one node."""

    model_config = ConfigDict(frozen=True)

    digest: str = Field(description="FINAL digest (64 uppercase hex)")
    count: int = Field(ge=0, description="FINAL row count")
    per_bucket: dict[str, str] = Field(default_factory=dict, description="bucket -> bucket digest")
    bucket_counts: dict[str, int] = Field(default_factory=dict, description="bucket -> bucket row count")

    def same(self, other: EndpointDigest) -> bool:
        """FINAL and every bucket the same, digest and count."""
        return self == other

    @classmethod
    def of(cls, digest: LogicalDigest) -> EndpointDigest:
        buckets = digest.per_bucket.items()
        return cls(
            digest=digest.final.digest, count=digest.final.count,
            per_bucket={b: d.digest for b, d in buckets}, bucket_counts={b: d.count for b, d in buckets},
        )  # fmt: skip

    def logical(self, node: str, kind: NodeKind, endpoint: str, height: int) -> LogicalDigest:
        """As cross_node compares it (a bucket without a count: the seed-era records' FINAL-only counts)."""
        return LogicalDigest(
            node=node, kind=kind, endpoint=endpoint, height=height,
            final=BucketDigest(digest=self.digest, count=self.count),
            per_bucket={b: BucketDigest(digest=d, count=self.bucket_counts.get(b, 0))
                        for b, d in self.per_bucket.items()},
        )  # fmt: skip


class RecordRef(BaseModel):
    """A sealed endpoint record the node's digests were read from."""

    model_config = ConfigDict(frozen=True)

    uri: str
    uncompressed_sha256: str
    match: bool | None = Field(default=None, description="pair records: FlatKV matched memIAVL (node digests: None)")


class NodeEntry(BaseModel):
    """One node in the fleet verdict."""

    model_config = ConfigDict(frozen=True)

    node: str
    kind: NodeKind = NodeKind.PAIR
    state: NodeState
    message: str | None = Field(default=None, description="why the node failed or timed out, or its gate's message")
    own_match: bool | None = Field(
        default=None, description="a pair node's own stores agree (None: unknown, or a kind with one logical view)"
    )
    own_mismatches: list[str] = Field(default_factory=list, description="where its own stores differ")
    endpoints: dict[str, EndpointDigest] = Field(default_factory=dict, description="endpoint -> logical digest")
    logical_endpoint: str | None = Field(
        default=None, description="the endpoint the node votes with for the logical majority (compare.voting_endpoint)"
    )
    boundary: MigrationBoundary | None = Field(
        default=None, description="composite nodes: the migration boundary their sealed digest was read at"
    )
    records: dict[str, RecordRef] = Field(
        default_factory=dict, description="pair: normalization -> sealed record; other kinds: endpoint -> node digest"
    )
    work_queue: str | None = None
    flow_run_id: str | None = None


class FleetVerdict(BaseModel):
    """The cross-node verdict at one height."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = FLEET_SCHEMA_VERSION
    height: int = Field(ge=1)
    normalizations: list[Normalization]
    nodes: dict[str, NodeEntry] = Field(description="node name -> entry")
    logical_majority: EndpointDigest | None = Field(
        default=None,
        description="the logical state more than half of the sealed nodes vote for (each with its logical_endpoint; "
        "FINAL and every bucket, digest and count); every digest of every node is compared with it (None: no majority)",
    )
    majority: dict[str, EndpointDigest | None] = Field(
        description="detail: endpoint -> the digest more than half of the sealed nodes reporting that endpoint hold"
    )
    odd_nodes: list[str] = Field(
        description="nodes with a digest differing from the logical majority, or own stores differing, or tied"
    )
    odd_reasons: dict[str, list[str]] = Field(default_factory=dict)
    agree: bool = Field(description="there is a logical majority and every digest of every sealed node equals it")
    all_match: bool = Field(description="every sealed pair node's own stores agree")
    complete: bool = Field(description="every node sealed its records")
    generated_at: datetime

    @property
    def clean(self) -> bool:
        return self.complete and self.agree and self.all_match

    def unfinished(self) -> list[str]:
        return [name for name, entry in self.nodes.items() if entry.state is not NodeState.SEALED]

    def verdict(self) -> dict[str, Any]:
        """What a re-run must reproduce for the seal to stand; time, messages and provenance excluded."""
        entry: dict[str, Any] = {
            "kind": True,
            "state": True,
            "own_match": True,
            "endpoints": True,
            "boundary": {"status": True, "module": True, "key": True},
        }
        return self.model_dump(
            mode="json",
            include={"height": True, "nodes": {"__all__": entry}, "logical_majority": True, "majority": True,
                     "odd_nodes": True, "agree": True, "all_match": True, "complete": True},
        )  # fmt: skip

    def flip_subject(self) -> str:
        return f"fleet height {self.height}"

    def flip_summary(self) -> str:
        logical = self.logical_majority.digest[:16] if self.logical_majority else None
        majority = ", ".join(f"{ep}={d.digest[:16] if d else None}" for ep, d in self.majority.items())
        return f"agree={self.agree} odd_nodes={self.odd_nodes} logical={logical} majority[{majority}]"


def fleet_json_schema() -> dict[str, Any]:
    schema = FleetVerdict.model_json_schema()
    schema["$id"] = "https://evm-digest/schema/fleet-digest.schema.json"
    return schema


def fleet_json_schema_text() -> str:
    return json.dumps(fleet_json_schema(), indent=2, sort_keys=True) + "\n"
