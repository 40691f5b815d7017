"""The fleet's nodes and its run parameters: one validation for the CLI, the flow and the DigestFleet block.

A node is a name (one safe path segment: its records live under `<sink>/<name>/`), a kind
(evmdigest.models.NodeKind: pair, composite, memiavl, flatkv), the store dirs of its kind
(evmdigest.kinds.KIND_DIRS, checked as the gate checks them) and the work queue its worker polls.

Queue naming: a node's gate runs on work queue `evm-digest-<name>` of the pool unless the node names
another (`NAME=...@QUEUE` on the command line, `work_queue` in the block).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from pydantic import Field, field_validator, model_validator

from evmdigest.kinds import KIND_DIRS, KIND_HELP
from evmdigest.kinds import parse_node_spec as parse_node_spec_of_kind
from evmdigest.models import NodeKind, Normalization
from evmdigest.params import NODE_LABEL_RULE, check_node_label
from evmdigest.request import (
    DEFAULT_NORMALIZATIONS,
    Height,
    RequestError,
    RunRequest,
    Timeout,
    _Checked,
    check_kind_dirs,
    quoted,
)

QUEUE_PREFIX = "evm-digest-"
DEFAULT_NODE_TIMEOUT = 7200.0  # queue wait + one hour-long scan set, with room to spare
# How a node's own request fields are spelled inside a --node value.
NODE_SPEC_NAMES = {"flatkv_dir": "FLATKV_DIR", "memiavl_dir": "MEMIAVL_DIR", "node": "NAME", "kind": "KIND"}


def default_queue(name: str) -> str:
    return f"{QUEUE_PREFIX}{name}"


class FleetNode(_Checked):
    """One node of the fleet: its name, kind, the store dirs of its kind (paths on that node) and work queue."""

    name: str = Field(description=f"Node label: its records go to its own directory in the sink; {NODE_LABEL_RULE}.")
    kind: NodeKind = Field(default=NodeKind.PAIR, description=f"{KIND_HELP}.")
    flatkv_dir: Path | None = Field(default=None, description="FlatKV data dir on that node (pair, composite, flatkv).")
    memiavl_dir: Path | None = Field(
        default=None, description="memIAVL root dir on that node (pair, composite, memiavl)."
    )
    work_queue: str | None = Field(default=None, description="Work queue its worker polls (default evm-digest-NAME).")

    @classmethod
    def _required(cls, name: str, earlier: Mapping[str, Any]) -> bool:
        kind = earlier.get("kind")  # validated before the dirs (declared first)
        return super()._required(name, earlier) or (isinstance(kind, NodeKind) and name in KIND_DIRS[kind])

    @field_validator("name")
    @classmethod
    def _label(cls, value: str) -> str:
        return check_node_label(value, field="nodes")  # the gate's own rule: a node name is its `node` label

    @model_validator(mode="after")
    def _stores_of_the_kind(self) -> Self:
        check_kind_dirs(self.kind, flatkv_dir=self.flatkv_dir, memiavl_dir=self.memiavl_dir)
        return self

    @property
    def queue(self) -> str:
        return self.work_queue or default_queue(self.name)

    def dirs(self) -> dict[str, str]:
        """The kind's store dirs as the gate's parameters name them."""
        return {field: str(getattr(self, field)) for field in KIND_DIRS[self.kind]}


def parse_node_spec(text: str) -> FleetNode:
    """`NAME=[KIND:]DIRS[@QUEUE]` (kinds.NODE_SPECS) -> FleetNode; RequestError naming the field otherwise."""
    rest, queue = text, None
    head, at, tail = text.rpartition("@")
    if at and tail and "/" not in tail and "," not in tail:
        rest, queue = head, tail
    try:
        spec = parse_node_spec_of_kind(rest, suffix="[@QUEUE]")
    except ValueError as exc:
        detail = str(exc).replace(repr(rest), quoted(text), 1).replace("{", "{{").replace("}", "}}")
        raise RequestError("nodes", f"{{nodes}} {detail}") from None
    try:
        dirs = {field: getattr(spec, field) for field in KIND_DIRS[spec.kind]}
        return FleetNode.create(name=spec.name, kind=spec.kind, work_queue=queue, **dirs)
    except RequestError as exc:
        if exc.field not in NODE_SPEC_NAMES:
            raise
        detail = exc.render(NODE_SPEC_NAMES).replace("{", "{{").replace("}", "}}")
        raise RequestError("nodes", f"{{nodes}} {spec.name}: {detail}") from None


class FleetRequest(_Checked):
    """One fleet run: which nodes, which height, where their gates run, which seidb and sink, how long."""

    nodes: tuple[FleetNode, ...]
    height: Height = None
    normalizations: tuple[Normalization, ...] = DEFAULT_NORMALIZATIONS
    pool: str | None = None
    seidb_path: str | None = None
    sink_url: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    node_timeout: Timeout = DEFAULT_NODE_TIMEOUT
    scan_timeout: Timeout = None

    @model_validator(mode="after")
    def _fleet(self) -> Self:
        names = [node.name for node in self.nodes]
        if len(names) < 2:
            raise RequestError("nodes", "{nodes}: a fleet compares nodes; name at least two (one node: evm-digest run)")
        for field, values in (("name", names), ("work queue", [node.queue for node in self.nodes])):
            twice = sorted({value for value in values if values.count(value) > 1})
            if twice and (field == "name" or self.pool):
                raise RequestError("nodes", f"{{nodes}}: {field} {quoted(twice[0])} is given twice; give each once")
        if self.pool and self.height is None:
            raise RequestError(
                "height",
                "{height}: required with {pool}: the fleet cannot list snapshot dirs on the workers; give the height",
            )
        flatkv = [node.name for node in self.nodes if node.kind is NodeKind.FLATKV]
        if flatkv and self.height is None:
            raise RequestError(
                "height", f"{{height}} is required: node {flatkv[0]} is a flatkv node (no memIAVL snapshots to "
                "find the newest common height by); give the height",
            )  # fmt: skip
        for node in self.nodes:
            self.node_request(node)  # each node's part passes the gate's own validation
        return self

    def node_request(self, node: FleetNode) -> RunRequest:
        """The gate's request for `node` (dirs are paths on that node)."""
        try:
            return RunRequest.create(
                kind=node.kind, flatkv_dir=node.flatkv_dir, memiavl_dir=node.memiavl_dir, height=self.height,
                normalizations=self.normalizations, seidb_path=self.seidb_path, sink_url=self.sink_url,
                endpoint_url=self.endpoint_url, region=self.region, node=node.name, timeout=self.scan_timeout,
            )  # fmt: skip
        except RequestError as exc:
            if exc.field not in NODE_SPEC_NAMES:
                raise
            raise node_error(node, exc) from None

    def check_local(self, *, seidb_block: str | None = None) -> None:
        """Local mode only (in pool mode these live on the workers): each node's request resolves here as
        its gate will resolve it (dirs, the seidb binary, the environment's defaults). `seidb_block`: a
        SeidbCli block's path, which wins over seidb_path."""
        for node in self.nodes:
            try:
                self.node_request(node).check_stores()
            except RequestError as exc:
                raise node_error(node, exc) from None
        # The rest (seidb, the environment's defaults) is the same for every node on this machine.
        self.node_request(self.nodes[0]).resolve(seidb_block=seidb_block, sink_block=True)


def node_error(node: FleetNode, exc: RequestError) -> RequestError:
    detail = exc.render(NODE_SPEC_NAMES).replace("{", "{{").replace("}", "}}")
    return RequestError("nodes", f"{{nodes}} {node.name}: {detail}")


def newest_common_height(heights: Mapping[str, Sequence[int]]) -> int | None:
    """The newest snapshot height every node has (max of the intersection), or None."""
    common: set[int] | None = None
    for found in heights.values():
        common = set(found) if common is None else common & set(found)
    return max(common) if common else None
