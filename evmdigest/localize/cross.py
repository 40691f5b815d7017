"""Divergence localization across two nodes of any kind (issue 15): the driver and its report's lines.

`localize_nodes` names the keys whose logical values differ between node A and node B at one height:
a composite (mid-migration) node against a reference (an unmigrated memiavl node, a migrated flatkv
node, a pair node's FlatKV) or any two kinds. A composite side's expected digests come from one composite
digest scan (which also gives its boundary), so every combined pass is checked from the root down; a
non-composite side is learnt from its first shard pass, as `evm-digest localize` does for one node.
A bucket whose composite side cannot be combined exactly fails alone (`error`), never with wrong keys.

The report (`node-divergence-<H>-vs-<B>.ndjson.gz` in A's directory) has its own line types (`node_header`,
`node_key`) with `a` / `b` values: its sides are nodes, not FlatKV and memIAVL of one node.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from evmdigest.kinds import NodeSpec
from evmdigest.localize.combine import Cover
from evmdigest.localize.keys import divergent_key
from evmdigest.localize.model import BucketResult, Change, DivergentKey, Limits, Method, Status
from evmdigest.localize.nodes import CombineError, NodePasses
from evmdigest.localize.passes import PassCache, Side, StoreChanged
from evmdigest.localize.search import BucketSearch, Expected
from evmdigest.models import (
    BUCKETS,
    Backend,
    BucketDigest,
    MigrationBoundary,
    NodeKind,
    Normalization,
    UpperHex,
    endpoint_name,
)
from evmdigest.seidb.argv import DigestRequest
from evmdigest.seidb.runner import SeidbRunner

NODE_DIVERGENCE_SCHEMA_VERSION = 1


class NodeSide(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    kind: NodeKind
    endpoint: str = Field(description="what was read: composite, flatkv or memiavl/<normalization>")
    boundary: MigrationBoundary | None = Field(default=None, description="composite: its migration boundary")


class NodeChange(StrEnum):
    CHANGED = "changed"
    MISSING_ON_A = "missing_on_a"
    MISSING_ON_B = "missing_on_b"
    ON_BOTH_STORES = "on_both_stores"  # a composite node holds the key in FlatKV AND unmigrated in memIAVL


class SidePair(BaseModel):
    model_config = ConfigDict(frozen=True)

    a: str | int
    b: str | int


class BothStores(BaseModel):
    """A key a composite node holds in both stores right of its boundary: composite counts it twice."""

    model_config = ConfigDict(frozen=True)

    node: str
    flatkv: UpperHex
    memiavl: UpperHex


class NodeDivergentKey(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: Literal["node_key"] = "node_key"
    bucket: str
    key: UpperHex = Field(description="physical key, uppercase hex (`evm/` + kind byte + ...)")
    kind: str | None
    kind_name: str | None = None
    address: str | None
    slot: str | None
    change: NodeChange
    a: UpperHex | None = Field(description="node A's logical value (a composite node: its FlatKV's if on both)")
    b: UpperHex | None
    account_diff: dict[str, SidePair] | None = None
    both_stores: BothStores | None = None


class NodeBucketResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    bucket: str
    status: Status
    keys_found: int = Field(ge=0)
    passes: int = Field(ge=0)
    method: Method
    a: BucketDigest | None
    b: BucketDigest | None
    shards: int | None = None
    differing_shards: int | None = None
    unresolved: list[str] = Field(default_factory=list)
    note: str = ""
    error: str | None = Field(default=None, description="not localized: why (the keys of this bucket are unknown)")


class NodeDivergenceHeader(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: Literal["node_header"] = "node_header"
    schema_version: int = NODE_DIVERGENCE_SCHEMA_VERSION
    height: int = Field(ge=1)
    normalization: Normalization = Field(description="the memIAVL decoder of a memiavl node (composite: semantic)")
    a: NodeSide
    b: NodeSide
    limits: Limits
    status: Status
    keys_found: int = Field(ge=0)
    buckets: list[NodeBucketResult]


class NodeLocalization(BaseModel):
    height: int
    normalization: Normalization
    a: NodeSide
    b: NodeSide
    limits: Limits
    buckets: list[NodeBucketResult]
    keys: list[NodeDivergentKey]
    seidb_runs: int = 0

    @property
    def status(self) -> Status:
        return max((b.status for b in self.buckets), key=lambda s: s.rank, default=Status.COMPLETE)

    @property
    def failed(self) -> list[NodeBucketResult]:
        return [b for b in self.buckets if b.error is not None]

    @property
    def passes(self) -> int:
        return sum(b.passes for b in self.buckets)

    def lines(self) -> list[dict[str, Any]]:
        header = NodeDivergenceHeader(
            height=self.height,
            normalization=self.normalization,
            a=self.a,
            b=self.b,
            limits=self.limits,
            status=self.status,
            keys_found=len(self.keys),
            buckets=self.buckets,
        )
        return [header.model_dump(mode="json"), *(k.model_dump(mode="json") for k in self.keys)]


NodeReportLine = TypeAdapter(NodeDivergenceHeader | NodeDivergentKey)


def node_divergence_json_schema_text() -> str:
    schema = NodeReportLine.json_schema()
    schema["$id"] = "https://evm-digest/schema/node-divergence.schema.json"
    schema["title"] = "NodeDivergenceLine"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def node_endpoint(spec: NodeSpec, normalization: Normalization) -> str:
    """What localization reads of a node: composite view, memIAVL (per decoder), or FlatKV (flatkv, pair)."""
    if spec.kind is NodeKind.COMPOSITE:
        return endpoint_name(Backend.COMPOSITE)
    if spec.kind is NodeKind.MEMIAVL:
        return endpoint_name(Backend.MEMIAVL, normalization)
    return endpoint_name(Backend.FLATKV)


def localize_nodes(
    runner: SeidbRunner,
    a: NodeSpec,
    b: NodeSpec,
    height: int,
    buckets: tuple[str, ...] = BUCKETS,
    *,
    normalization: Normalization = Normalization.SEMANTIC,
    limits: Limits | None = None,
    cache: PassCache | None = None,
) -> NodeLocalization:
    """The keys diverging between nodes `a` and `b` at `height` in `buckets` (see the module docstring)."""
    limits = limits or Limits()
    specs: dict[Side, NodeSpec] = {"flatkv": a, "memiavl": b}
    covers: dict[Side, Cover] = {}
    known: dict[Side, dict[str, BucketDigest]] = {}
    sides: dict[Side, NodeSide] = {}
    runs = 0
    for side, spec in specs.items():
        boundary = None
        if spec.kind is NodeKind.COMPOSITE:
            assert spec.flatkv_dir is not None and spec.memiavl_dir is not None
            report = runner.run_digest(DigestRequest.composite(spec.flatkv_dir, spec.memiavl_dir, height)).report
            runs += 1
            if report.version != height or report.migration_boundary is None:
                raise StoreChanged(f"{spec.name} composite: opened version {report.version}, not {height}")
            boundary = report.migration_boundary
            covers[side] = Cover.of(boundary)
            known[side] = {bucket: report.bucket(bucket) for bucket in BUCKETS}
        sides[side] = NodeSide(
            name=spec.name, kind=spec.kind, endpoint=node_endpoint(spec, normalization), boundary=boundary
        )
    passes = NodePasses(runner, a, b, height, normalization, covers=covers, limits=limits, cache=cache)
    results: list[NodeBucketResult] = []
    keys: list[NodeDivergentKey] = []
    for bucket in (name for name in BUCKETS if name in buckets):
        expected: Expected = {side: known.get(side, {}).get(bucket) for side in specs}
        search = BucketSearch(passes, bucket, limits, expected)
        try:
            result = search.run()
        except CombineError as exc:
            results.append(_failed(bucket, search, str(exc)))
            continue
        named = search.keys()
        found = {k.key: _node_key(k) for k in named}
        for (side, in_bucket, key), (flatkv, memiavl) in sorted(passes.both_stores.items()):
            if in_bucket == bucket:
                found[key] = _both(found.get(key), side, bucket, key, flatkv, memiavl, specs[side].name)
        results.append(_node_result(result, len(found)))
        keys += [found[key] for key in sorted(found)]
    return NodeLocalization(
        height=height,
        normalization=normalization,
        a=sides["flatkv"],
        b=sides["memiavl"],
        limits=limits,
        buckets=results,
        keys=keys,
        seidb_runs=runs + passes.seidb_runs,
    )


_CHANGES = {
    Change.CHANGED: NodeChange.CHANGED,
    Change.MISSING_IN_FLATKV: NodeChange.MISSING_ON_A,
    Change.MISSING_IN_MEMIAVL: NodeChange.MISSING_ON_B,
}


def _node_key(key: DivergentKey) -> NodeDivergentKey:
    """The search's key (its `flatkv` slot is node A, `memiavl` node B) in the node report's terms."""
    fields = key.model_dump(include={"bucket", "key", "kind", "kind_name", "address", "slot"})
    diff = {f: SidePair(a=d.flatkv, b=d.memiavl) for f, d in (key.account_diff or {}).items()} or None
    return NodeDivergentKey(**fields, change=_CHANGES[key.change], a=key.flatkv, b=key.memiavl, account_diff=diff)


def _both(
    named: NodeDivergentKey | None, side: Side, bucket: str, key: str, flatkv: str, memiavl: str, node: str
) -> NodeDivergentKey:
    """A key on both stores of the composite node on `side`: named as such. The search compared its FlatKV
    value; not named by it, the other node holds that same value."""
    other = flatkv if named is None else (named.b if side == "flatkv" else named.a)
    a, b = (flatkv, other) if side == "flatkv" else (other, flatkv)
    base = named or _node_key(divergent_key(bucket, key, flatkv, flatkv))
    both = BothStores(node=node, flatkv=flatkv, memiavl=memiavl)
    return base.model_copy(update={"change": NodeChange.ON_BOTH_STORES, "a": a, "b": b, "both_stores": both})


def _node_result(result: BucketResult, keys_found: int) -> NodeBucketResult:
    fields = result.model_dump(exclude={"flatkv", "memiavl", "keys_found", "note"})
    note = result.note
    if keys_found != result.keys_found:
        note = f"{note}; {keys_found - result.keys_found} more key(s) held on both stores of a composite node"
    return NodeBucketResult(**fields, keys_found=keys_found, a=result.flatkv, b=result.memiavl, note=note)


def _failed(bucket: str, search: BucketSearch, error: str) -> NodeBucketResult:
    return NodeBucketResult(
        bucket=bucket,
        status=Status.INCOMPLETE,
        keys_found=0,
        passes=search.used,
        method=search.method,
        a=search.expected["flatkv"],
        b=search.expected["memiavl"],
        note="not localized: the composite side could not be combined exactly (see error)",
        error=error,
    )
