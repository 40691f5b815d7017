"""DigestFleet: configuration only; its nodes pass the fleet's own node validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from blocks import DigestFleet, DigestSink
from evmdigest.fleet.nodes import NodeKind


def test_nodes_default_to_pair_kind_and_their_own_queue() -> None:
    fleet = DigestFleet(
        nodes=[{"name": "val-1", "flatkv_dir": "/d/f", "memiavl_dir": "/d/m"},
               {"name": "val-2", "flatkv_dir": "/d/f", "memiavl_dir": "/d/m", "work_queue": "rack-2"}],
        sink=DigestSink(url="file:///tmp/x"),
    )  # type: ignore[list-item]  # fmt: skip
    assert [(n.kind, n.queue, n.flatkv_dir) for n in fleet.nodes] == [
        (NodeKind.PAIR, "evm-digest-val-1", Path("/d/f")), (NodeKind.PAIR, "rack-2", Path("/d/f"))
    ]  # fmt: skip


def test_a_node_name_that_is_no_path_segment_is_refused() -> None:
    with pytest.raises(ValidationError, match="'a/b' is not a node label"):
        DigestFleet(nodes=[{"name": "a/b", "flatkv_dir": "/f", "memiavl_dir": "/m"}])  # type: ignore[list-item]
