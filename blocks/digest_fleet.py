"""DigestFleet block: the nodes of a fleet (name, kind, its kind's store dirs on that node, work queue) and the
seidb and sink they share. Configuration only; the fleet-seal flow reads it."""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field

from blocks.digest_sink import DigestSink
from blocks.seidb_cli import SeidbCli
from evmdigest.fleet.nodes import FleetNode


class DigestFleet(Block):
    """Nodes that seal the same heights, each with a process worker polling its own work queue."""

    _block_type_name = "Digest Fleet"
    _block_type_slug = "digest-fleet"
    _description = (
        "Nodes of an evm-digest fleet: per node its name, kind (pair, composite, memiavl, flatkv), the kind's "
        "FlatKV and/or memIAVL dirs (paths on that node) and the work queue its worker polls (default "
        "evm-digest-NAME); plus the seidb and sink every node uses."
    )

    nodes: list[FleetNode] = Field(
        description="The fleet's nodes; names are unique and name each node's directory in the sink."
    )
    sink: DigestSink | None = Field(default=None, description="Where every node's records and the fleet verdict go.")
    seidb: SeidbCli | None = Field(default=None, description="seidb on the nodes (default: $EVMDIGEST_SEIDB there).")
