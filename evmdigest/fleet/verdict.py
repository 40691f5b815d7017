"""The sealed fleet verdict: every node's digests per endpoint, the majority, the odd nodes, and the state.

An endpoint is one logical digest a node reports: `flatkv`, `memiavl/<normalization>`. Nodes are compared
per endpoint on the FINAL digest and row count; per-bucket digests say where an odd node differs.
A node's kind decides which endpoints it reports (`pair`: all of them, read from its sealed records).

Fields may be added, never renamed (readers such as the ledger parse them).
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from evmdigest.fleet.nodes import NodeKind
from evmdigest.models import Normalization

FLEET_SCHEMA_VERSION = 1
FLATKV = "flatkv"


def memiavl_endpoint(normalization: Normalization) -> str:
    return f"memiavl/{normalization.value}"


def endpoints_for(normalizations: tuple[Normalization, ...] | list[Normalization]) -> list[str]:
    """The endpoints a fleet compares, in display order."""
    return [FLATKV, *(memiavl_endpoint(n) for n in normalizations)]


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

    def same(self, other: EndpointDigest) -> bool:
        return (self.digest, self.count) == (other.digest, other.count)


class RecordRef(BaseModel):
    """A sealed endpoint record the node's digests were read from."""

    model_config = ConfigDict(frozen=True)

    uri: str
    uncompressed_sha256: str
    match: bool


class NodeEntry(BaseModel):
    """One node in the fleet verdict."""

    model_config = ConfigDict(frozen=True)

    node: str
    kind: NodeKind = NodeKind.PAIR
    state: NodeState
    message: str | None = Field(default=None, description="why the node failed or timed out, or its gate's message")
    own_match: bool | None = Field(default=None, description="the node's own stores agree (None: unknown)")
    own_mismatches: list[str] = Field(default_factory=list, description="where its own stores differ")
    endpoints: dict[str, EndpointDigest] = Field(default_factory=dict)
    records: dict[str, RecordRef] = Field(default_factory=dict, description="normalization -> sealed record")
    work_queue: str | None = None
    flow_run_id: str | None = None


class FleetVerdict(BaseModel):
    """The cross-node verdict at one height."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = FLEET_SCHEMA_VERSION
    height: int = Field(ge=1)
    normalizations: list[Normalization]
    nodes: dict[str, NodeEntry] = Field(description="node name -> entry")
    majority: dict[str, EndpointDigest | None] = Field(
        description="endpoint -> the digest more than half of the sealed nodes report (None: no majority)"
    )
    odd_nodes: list[str] = Field(description="nodes differing from a majority, from their own other store, or tied")
    odd_reasons: dict[str, list[str]] = Field(default_factory=dict)
    agree: bool = Field(description="every endpoint has a majority and every sealed node reports it")
    all_match: bool = Field(description="every sealed node's own stores agree")
    complete: bool = Field(description="every node sealed its records")
    generated_at: datetime

    @property
    def clean(self) -> bool:
        return self.complete and self.agree and self.all_match

    def unfinished(self) -> list[str]:
        return [name for name, entry in self.nodes.items() if entry.state is not NodeState.SEALED]

    def verdict(self) -> dict[str, Any]:
        """What a re-run must reproduce for the seal to stand; time, messages and provenance excluded."""
        nodes = {"__all__": {"kind", "state", "own_match", "endpoints"}}
        return self.model_dump(
            mode="json",
            include={"height": True, "nodes": nodes, "majority": True, "odd_nodes": True, "agree": True,
                     "all_match": True, "complete": True},
        )  # fmt: skip

    def flip_subject(self) -> str:
        return f"fleet height {self.height}"

    def flip_summary(self) -> str:
        majority = ", ".join(f"{ep}={d.digest[:16] if d else None}" for ep, d in self.majority.items())
        return f"agree={self.agree} odd_nodes={self.odd_nodes} majority[{majority}]"


def fleet_json_schema() -> dict[str, Any]:
    schema = FleetVerdict.model_json_schema()
    schema["$id"] = "https://evm-digest/schema/fleet-digest.schema.json"
    return schema


def fleet_json_schema_text() -> str:
    return json.dumps(fleet_json_schema(), indent=2, sort_keys=True) + "\n"
