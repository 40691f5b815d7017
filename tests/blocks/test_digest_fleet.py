"""DigestFleet: configuration only; its nodes pass the fleet's own node validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from blocks import DigestFleet, DigestSink
from evmdigest.models import NodeKind


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


def test_nodes_carry_their_kind_and_only_that_kind_s_dirs() -> None:
    fleet = DigestFleet(
        nodes=[{"name": "mid", "kind": "composite", "flatkv_dir": "/d/f", "memiavl_dir": "/d/m"},
               {"name": "old", "kind": "memiavl", "memiavl_dir": "/d/m"},
               {"name": "new", "kind": "flatkv", "flatkv_dir": "/d/f"}],
    )  # type: ignore[list-item]  # fmt: skip
    assert [(n.kind, n.flatkv_dir, n.memiavl_dir) for n in fleet.nodes] == [
        (NodeKind.COMPOSITE, Path("/d/f"), Path("/d/m")), (NodeKind.MEMIAVL, None, Path("/d/m")),
        (NodeKind.FLATKV, Path("/d/f"), None),
    ]  # fmt: skip
    with pytest.raises(ValidationError, match="flatkv_dir: a memiavl node has no FlatKV store; drop flatkv_dir"):
        DigestFleet(nodes=[{"name": "old", "kind": "memiavl", "memiavl_dir": "/m", "flatkv_dir": "/f"}])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="flatkv_dir is required: a flatkv node reads its FlatKV store"):
        DigestFleet(nodes=[{"name": "new", "kind": "flatkv"}])  # type: ignore[list-item]
