"""The fleet's nodes and its run parameters: one validation for the CLI, the flow and the DigestFleet block.

A node is a name (one safe path segment: its records live under `<sink>/<name>/`), a kind, its store
dirs and the work queue its worker polls. Only `pair` nodes (FlatKV + memIAVL, the per-node gate)
exist today; issue 15 adds composite / memiavl / flatkv kinds as new `NodeKind` values.

Queue naming: a node's gate runs on work queue `evm-digest-<name>` of the pool unless the node names
another (`NAME=FLATKV,MEMIAVL@QUEUE` on the command line, `work_queue` in the block).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import Field, field_validator, model_validator

from evmdigest.models import Normalization
from evmdigest.params import NODE_LABEL_RULE, check_node_label
from evmdigest.request import DEFAULT_NORMALIZATIONS, Height, RequestError, RunRequest, Timeout, _Checked, quoted

QUEUE_PREFIX = "evm-digest-"
DEFAULT_NODE_TIMEOUT = 7200.0  # queue wait + one hour-long scan set, with room to spare
# How a node's own request fields are spelled inside a --node value.
NODE_SPEC_NAMES = {"flatkv_dir": "FLATKV_DIR", "memiavl_dir": "MEMIAVL_DIR", "node": "NAME"}


class NodeKind(StrEnum):
    """What a node's logical digest is read from (issue 15 adds composite, memiavl, flatkv)."""

    PAIR = "pair"  # FlatKV + memIAVL of one node, compared with each other by the per-node gate


def default_queue(name: str) -> str:
    return f"{QUEUE_PREFIX}{name}"


class FleetNode(_Checked):
    """One node of the fleet: its name, kind, store dirs (paths on that node) and work queue."""

    name: str = Field(description=f"Node label: its records go to its own directory in the sink; {NODE_LABEL_RULE}.")
    kind: NodeKind = Field(default=NodeKind.PAIR, description="pair: FlatKV + memIAVL compared by the node's gate.")
    flatkv_dir: Path = Field(description="FlatKV data dir on that node.")
    memiavl_dir: Path = Field(description="memIAVL root dir on that node.")
    work_queue: str | None = Field(default=None, description="Work queue its worker polls (default evm-digest-NAME).")

    @field_validator("name")
    @classmethod
    def _label(cls, value: str) -> str:
        return check_node_label(value, field="nodes")  # the gate's own rule: a node name is its `node` label

    @property
    def queue(self) -> str:
        return self.work_queue or default_queue(self.name)


def parse_node_spec(text: str) -> FleetNode:
    """`NAME=FLATKV_DIR,MEMIAVL_DIR[@QUEUE]` -> FleetNode; RequestError naming the field otherwise."""
    name, sep, rest = text.partition("=")
    queue = None
    head, at, tail = rest.rpartition("@")
    if at and tail and "/" not in tail and "," not in tail:
        rest, queue = head, tail
    flatkv, comma, memiavl = rest.partition(",")
    if not (sep and name and comma and flatkv and memiavl):
        raise RequestError("nodes", f"{{nodes}} {quoted(text)}: write NAME=FLATKV_DIR,MEMIAVL_DIR[@QUEUE]")
    return FleetNode.create(name=name, flatkv_dir=Path(flatkv), memiavl_dir=Path(memiavl), work_queue=queue)


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
        for node in self.nodes:
            self.node_request(node)  # each node's part passes the gate's own validation
        return self

    def node_request(self, node: FleetNode) -> RunRequest:
        """The gate's request for `node` (dirs are paths on that node)."""
        try:
            return RunRequest.create(
                flatkv_dir=node.flatkv_dir, memiavl_dir=node.memiavl_dir, height=self.height,
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
