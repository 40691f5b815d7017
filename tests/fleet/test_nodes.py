"""Fleet parameters: --node specs, queue naming, the one validation (each node through RunRequest)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evmdigest.fleet.nodes import FleetNode, FleetRequest, newest_common_height, parse_node_spec
from evmdigest.models import NodeKind
from evmdigest.request import RequestError


def _nodes(*names: str, root: Path = Path("/data")) -> tuple[FleetNode, ...]:
    return tuple(parse_node_spec(f"{n}={root}/{n}/flatkv,{root}/{n}/memiavl") for n in names)


def test_a_node_spec_names_its_dirs_and_gets_the_default_queue() -> None:
    node = parse_node_spec("val-1=/data/flatkv,/data/memiavl")
    assert (node.name, node.kind, node.flatkv_dir, node.memiavl_dir) == (
        "val-1", NodeKind.PAIR, Path("/data/flatkv"), Path("/data/memiavl")
    )  # fmt: skip
    assert node.queue == "evm-digest-val-1"


def test_a_node_spec_may_name_its_queue_after_an_at_sign() -> None:
    node = parse_node_spec("b=/srv/x@y/flatkv,/srv/memiavl@rack-2")
    assert (node.flatkv_dir, node.memiavl_dir, node.queue) == (Path("/srv/x@y/flatkv"), Path("/srv/memiavl"), "rack-2")


@pytest.mark.parametrize(
    ("spec", "kind", "flatkv", "memiavl", "queue"),
    [
        ("mid=composite:/d/f,/d/m", NodeKind.COMPOSITE, "/d/f", "/d/m", "evm-digest-mid"),
        ("old=memiavl:/d/m@rack-1", NodeKind.MEMIAVL, None, "/d/m", "rack-1"),
        ("new=flatkv:/d/f", NodeKind.FLATKV, "/d/f", None, "evm-digest-new"),
        ("p=pair:/d/f,/d/m@q", NodeKind.PAIR, "/d/f", "/d/m", "q"),
    ],
)
def test_a_node_spec_may_name_its_kind_with_that_kind_s_dirs(
    spec: str, kind: NodeKind, flatkv: str | None, memiavl: str | None, queue: str
) -> None:
    node = parse_node_spec(spec)
    assert (node.kind, node.queue) == (kind, queue)
    assert (node.flatkv_dir, node.memiavl_dir) == (flatkv and Path(flatkv), memiavl and Path(memiavl))
    assert node.dirs() == {f: d for f, d in (("flatkv_dir", flatkv), ("memiavl_dir", memiavl)) if d}


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("a=/f", "write NAME=FLATKV_DIR,MEMIAVL_DIR[@QUEUE] (other kinds: NAME=composite:FLATKV_DIR,MEMIAVL_DIR, "),
        ("a=composite:/f", "write NAME=composite:FLATKV_DIR,MEMIAVL_DIR[@QUEUE]"),
        ("a=memiavl:/f,/m", "write NAME=memiavl:MEMIAVL_DIR[@QUEUE]"),
        ("a=flatkv:@q", "write NAME=flatkv:FLATKV_DIR[@QUEUE]"),
        ("a=mid:/f,/m", "'mid' is no node kind; use pair, composite, memiavl, flatkv"),
        ("/f,/m", "write NAME=FLATKV_DIR,MEMIAVL_DIR[@QUEUE]"),
        ("a/b=/f,/m", "--node: 'a/b' is not a node label; use 1-63 letters"),
    ],
)
def test_a_bad_node_spec_is_one_line_naming_the_flag(spec: str, says: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse_node_spec(spec)
    assert caught.value.field == "nodes"
    assert says in caught.value.render({"nodes": "--node"})


def test_a_fleet_needs_two_distinct_nodes() -> None:
    with pytest.raises(RequestError, match="at least two"):
        FleetRequest.create(nodes=_nodes("a"), height=5)
    with pytest.raises(RequestError, match="name 'a' is given twice"):
        FleetRequest.create(nodes=_nodes("a", "a"), height=5)


def test_pool_mode_needs_a_height_and_one_queue_per_node() -> None:
    with pytest.raises(RequestError, match="required with"):
        FleetRequest.create(nodes=_nodes("a", "b"), pool="evm-digest")
    shared = (parse_node_spec("a=/f,/m@q"), parse_node_spec("b=/f,/m@q"))
    with pytest.raises(RequestError, match="work queue 'q' is given twice"):
        FleetRequest.create(nodes=shared, height=5, pool="evm-digest")
    assert FleetRequest.create(nodes=shared, height=5).pool is None  # local mode runs no queue


def test_each_node_passes_the_gate_validation_and_errors_name_the_node(tmp_path: Path) -> None:
    with pytest.raises(RequestError) as caught:
        FleetRequest.create(nodes=_nodes("a", "b"), height=0)
    assert caught.value.field == "height"  # the gate's own check, once for the fleet
    request = FleetRequest.create(nodes=_nodes("a", "b", root=tmp_path), height=5)
    assert request.node_request(request.nodes[1]).node == "b"
    (tmp_path / "a" / "flatkv").mkdir(parents=True)
    (tmp_path / "a" / "memiavl").mkdir()
    with pytest.raises(RequestError) as missing:
        request.check_local()
    message = missing.value.render({"nodes": "--node"})
    assert message.startswith("--node b: FLATKV_DIR: ") and "does not exist on this machine" in message


def test_a_bad_node_timeout_is_named_as_such_not_as_the_scan_timeout() -> None:
    with pytest.raises(RequestError) as caught:
        FleetRequest.create(nodes=_nodes("a", "b"), height=5, node_timeout=0)
    assert caught.value.field == "node_timeout"
    assert caught.value.render({"node_timeout": "--node-timeout"}).startswith("--node-timeout: 0")
    with pytest.raises(RequestError) as scan:
        FleetRequest.create(nodes=_nodes("a", "b"), height=5, scan_timeout=float("inf"))
    assert scan.value.field == "scan_timeout"


def test_local_mode_resolves_seidb_as_the_gate_will(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("a", "b"):
        (tmp_path / name / "flatkv").mkdir(parents=True)
        (tmp_path / name / "memiavl").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("EVMDIGEST_SEIDB", raising=False)
    request = FleetRequest.create(nodes=_nodes("a", "b", root=tmp_path), height=5)
    with pytest.raises(RequestError) as caught:
        request.check_local()
    assert caught.value.field == "seidb_path" and "was not found on PATH" in caught.value.render()
    seidb = tmp_path / "seidb"
    seidb.write_text("#!/bin/sh\n")
    seidb.chmod(0o755)
    request.check_local()  # found on PATH, as the gate's resolve() finds it


def test_newest_common_height_is_the_max_every_node_has() -> None:
    assert newest_common_height({"a": [100, 200, 300], "b": [100, 200], "c": [200, 300]}) == 200
    assert newest_common_height({"a": [100], "b": [200]}) is None


def test_a_node_of_a_kind_has_exactly_that_kind_s_dirs() -> None:
    with pytest.raises(RequestError) as extra:
        FleetNode.create(name="a", kind="memiavl", memiavl_dir="/m", flatkv_dir="/f")
    assert extra.value.render() == (
        "flatkv_dir: a memiavl node has no FlatKV store; drop flatkv_dir or declare the kind that has both "
        "stores (kind pair or composite)"
    )
    with pytest.raises(RequestError, match=r"^memiavl_dir is required: a composite node reads its memIAVL store$"):
        FleetNode.create(name="a", kind="composite", flatkv_dir="/f")


def test_a_fleet_with_a_flatkv_node_needs_a_height() -> None:
    nodes = (parse_node_spec("a=/f,/m"), parse_node_spec("new=flatkv:/f"))
    with pytest.raises(RequestError) as caught:
        FleetRequest.create(nodes=nodes)
    assert caught.value.render({"height": "--height"}).startswith("--height is required: node new is a flatkv node")
    request = FleetRequest.create(nodes=nodes, height=5)
    assert request.node_request(nodes[1]).kind is NodeKind.FLATKV
