"""Localization across two nodes (issue 15): a mid-migration composite node against a reference node, on
simulated nodes (seidb-sim as real subprocesses). The truth comes from the stores' own files (FlatKV
rows.bin, memIAVL kvs), never from the localization code under test."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evmdigest.kinds import NodeSpec, parse_node_spec
from evmdigest.localize.cross import NodeChange, localize_nodes
from evmdigest.localize.model import Limits, Status
from evmdigest.models import BUCKETS, NodeKind
from evmdigest.segments import snapshot_dir_name
from evmdigest.sim.leaves import iter_kvs
from evmdigest.sim.rows import EVM_PREFIX, iter_rows
from evmdigest.sim.store import ROWS_NAME
from tests.localize.helpers import runner
from tests.plugins.sim import MakeNode, SimNode

H = 5000
ROWS = 300
MID = 195  # the boundary inside the storage keys, as in the real mid-migration fixture
EVM_DIGEST = str(Path(sys.executable).parent / "evm-digest")


def _flatkv_rows(node: SimNode) -> dict[str, str]:
    return {key.hex().upper(): value.hex().upper() for _, key, value in iter_rows(node.flatkv_dir / ROWS_NAME)}


def _composite(node: SimNode, name: str = "mid") -> NodeSpec:
    return NodeSpec(name=name, kind=NodeKind.COMPOSITE, flatkv_dir=node.flatkv_dir, memiavl_dir=node.memiavl_dir)


def _reference(node: SimNode) -> NodeSpec:
    return NodeSpec(name="ref", kind=NodeKind.MEMIAVL, memiavl_dir=node.reference_memiavl_dir)


def _cli(*args: str, sim_binary: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EVMDIGEST_SEIDB": str(sim_binary), "SEI_LOG_OUTPUT": "stderr"}
    return subprocess.run([EVM_DIGEST, *args], capture_output=True, text=True, env=env, timeout=300, check=False)


def test_a_migrated_slot_changed_in_flatkv_is_named_against_an_unmigrated_reference_and_sealed(
    sim_binary: Path, make_node: MakeNode, tmp_path: Path
) -> None:
    changed = make_node(tmp_path, height=H, rows=ROWS, migrate_keys=MID, diverge="storage")
    clean = make_node(tmp_path, height=H, rows=ROWS, migrate_keys=MID)
    before, after = _flatkv_rows(clean), _flatkv_rows(changed)
    (truth,) = [key for key in before if after.get(key) != before[key]]  # the one slot the fixture changed
    node_a = f"mid=composite:{changed.flatkv_dir},{changed.memiavl_dir}"
    node_b = f"ref=memiavl:{changed.reference_memiavl_dir}"
    sink = tmp_path / "sink"
    args = ["localize", "--height", str(H), "--node-a", node_a, "--node-b", node_b, "--sink", sink.as_uri()]
    for bucket in BUCKETS:
        args += ["--bucket", bucket]
    result = _cli(*args, sim_binary=sim_binary)
    assert result.returncode == 1, result.stderr
    assert "A = mid (composite), B = ref (memiavl/semantic): 1 key(s), complete" in result.stdout
    report = sink / "mid" / f"node-divergence-{H}-vs-ref.ndjson.gz"
    verified = _cli("verify", str(report), sim_binary=sim_binary)
    assert verified.returncode == 0 and json.loads(verified.stdout)["status"] == "ok"
    lines = [json.loads(line) for line in gzip.decompress(report.read_bytes()).decode().splitlines()]
    header, keys = lines[0], lines[1:]
    assert header["type"] == "node_header" and header["a"]["boundary"]["status"] == "in_progress"
    assert {b["bucket"]: (b["status"], b["keys_found"]) for b in header["buckets"]} == {
        "account": ("complete", 0), "code": ("complete", 0), "storage": ("complete", 1), "misc": ("complete", 0)
    }  # fmt: skip
    assert [(k["bucket"], k["key"], k["change"], k["a"], k["b"]) for k in keys] == [
        ("storage", truth, "changed", after[truth], before[truth])
    ]
    again = _cli(*args, sim_binary=sim_binary)
    assert again.returncode == 1 and "(already sealed)" in again.stdout


def test_a_row_on_both_stores_of_the_composite_node_is_named_as_such(
    sim_binary: Path, make_node: MakeNode, tmp_path: Path
) -> None:
    doubled = make_node(tmp_path, height=H, rows=ROWS, migrate_keys=MID, duplicate_unmigrated=1)
    flatkv = _flatkv_rows(doubled)
    leaves = iter_kvs(str(doubled.memiavl_dir / snapshot_dir_name(H) / "evm" / "kvs"))
    memiavl = {(EVM_PREFIX + key).hex().upper(): value.hex().upper() for key, value in leaves}
    (truth,) = flatkv.keys() & memiavl.keys()  # the row the fixture left on both stores
    found = localize_nodes(runner(sim_binary), _composite(doubled), _reference(doubled), H)
    (key,) = found.keys
    assert (key.bucket, key.key, key.change) == ("storage", truth, NodeChange.ON_BOTH_STORES)
    assert key.both_stores is not None and key.both_stores.node == "mid"
    assert (key.both_stores.flatkv, key.both_stores.memiavl, key.a, key.b) == (flatkv[truth],) * 2 + (
        memiavl[truth],
    ) * 2
    storage = {b.bucket: b for b in found.buckets}["storage"]
    assert storage.status is Status.COMPLETE and storage.keys_found == 1 and "both stores" in storage.note
    assert storage.a is not None and storage.b is not None and storage.a.count == storage.b.count + 1


def test_a_clean_composite_node_agrees_with_its_reference_exit_0(
    sim_binary: Path, make_node: MakeNode, tmp_path: Path
) -> None:
    mid = make_node(tmp_path, height=H, rows=ROWS, migrate_keys=MID)
    args = ["localize", "--height", str(H), "--bucket", "storage", "--bucket", "account", "--bucket", "misc"]
    args += ["--node-a", f"mid=composite:{mid.flatkv_dir},{mid.memiavl_dir}"]
    result = _cli(*args, "--node-b", f"ref=memiavl:{mid.reference_memiavl_dir}", sim_binary=sim_binary)
    assert result.returncode == 0, result.stderr
    assert "0 key(s), complete" in result.stdout and "storage: complete, 0 key(s)" in result.stdout


@pytest.mark.parametrize("reference", ["flatkv", "pair"])
def test_composite_against_a_migrated_or_pair_node_either_way_round(
    sim_binary: Path, make_node: MakeNode, tmp_path: Path, reference: str
) -> None:
    changed = make_node(tmp_path, height=H, rows=ROWS, migrate_keys=MID, diverge="storage")
    clean = make_node(tmp_path, height=H, rows=ROWS, migrate_keys=MID)
    (truth,) = [k for k, v in _flatkv_rows(clean).items() if _flatkv_rows(changed).get(k) != v]
    if reference == "flatkv":  # migrated: FlatKV holds migration/migration-version, taken out like the digest does
        other = make_node(tmp_path, height=H, rows=ROWS, migrate_keys="all")
        ref = NodeSpec(name="ref", kind=NodeKind.FLATKV, flatkv_dir=other.flatkv_dir)
    else:
        other = make_node(tmp_path, height=H, rows=ROWS)
        ref = NodeSpec(name="ref", kind=NodeKind.PAIR, flatkv_dir=other.flatkv_dir, memiavl_dir=other.memiavl_dir)
    for a, b, change_side in ((_composite(changed), ref, "a"), (ref, _composite(changed), "b")):
        found = localize_nodes(runner(sim_binary), a, b, H, limits=Limits(list_rows=50))
        assert [(k.bucket, k.key, k.change) for k in found.keys] == [("storage", truth, NodeChange.CHANGED)]
        assert all(b.status is Status.COMPLETE and b.error is None for b in found.buckets), change_side


def test_account_fields_split_across_the_boundary_are_merged_like_composite(
    sim_binary: Path, make_node: MakeNode, tmp_path: Path
) -> None:
    # 290 leaves moved: code hashes migrated, nonces partly not: composite merges both stores' fields
    changed = make_node(tmp_path, height=H, rows=ROWS, migrate_keys=290, diverge="account")
    clean = make_node(tmp_path, height=H, rows=ROWS, migrate_keys=290)
    (truth,) = [k for k, v in _flatkv_rows(clean).items() if _flatkv_rows(changed).get(k) != v]
    found = localize_nodes(runner(sim_binary), _composite(changed), _reference(changed), H, ("account",))
    (key,) = found.keys
    assert (key.bucket, key.key, key.change) == ("account", truth, NodeChange.CHANGED)
    assert key.account_diff is not None and set(key.account_diff) == {"nonce"}
    # the merge needs every account row listed: over the listing bound the bucket fails alone, keys unnamed
    capped = localize_nodes(
        runner(sim_binary),
        _composite(changed),
        _reference(changed),
        H,
        ("account", "storage"),
        limits=Limits(list_rows=10),
    )
    account, storage = capped.buckets
    assert account.error is not None and "needs every row listed" in account.error and not capped.keys
    assert storage.error is None and storage.status is Status.COMPLETE


def test_node_specs() -> None:
    assert parse_node_spec("m=composite:/f,/m") == NodeSpec(
        name="m", kind=NodeKind.COMPOSITE, flatkv_dir=Path("/f"), memiavl_dir=Path("/m")
    )
    assert parse_node_spec("p=/f,/m").kind is NodeKind.PAIR
    assert parse_node_spec("r=memiavl:/m") == NodeSpec(name="r", kind=NodeKind.MEMIAVL, memiavl_dir=Path("/m"))
    assert parse_node_spec("r=flatkv:/f").flatkv_dir == Path("/f")
    for bad in ("nodir", "m=composite:/f", "r=memiavl:/a,/b", "=flatkv:/f"):
        with pytest.raises(ValueError, match="write NAME="):
            parse_node_spec(bad)


def test_published_node_divergence_schema_is_current() -> None:
    from evmdigest.localize.cross import node_divergence_json_schema_text

    published = (Path(__file__).resolve().parents[2] / "schema" / "node-divergence.schema.json").read_text()
    assert published == node_divergence_json_schema_text(), "regenerate: evm-digest schema --node-divergence > ..."


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--node-a", "a=flatkv:/x"], "give both --node-a and --node-b"),
        (["--node-a", "a=flatkv:/x", "--node-b", "b=memiavl:/y", "--flatkv-dir", "/x"], "drop --flatkv-dir"),
        (["--node-a", "a=flatkv:/x", "--node-b", "a=memiavl:/y"], "--node-b: both nodes are named 'a'"),
        (
            ["--node-a", "a=composite:/x", "--node-b", "b=memiavl:/y"],
            "--node-a: 'a=composite:/x': write NAME=composite:FLATKV_DIR,MEMIAVL_DIR",
        ),
        (["--node-a", "a=flatkv:/nonexistent", "--node-b", "b=memiavl:/y"], "--node-a: a's flatkv_dir"),
        ([], "give --flatkv-dir and --memiavl-dir (one node), or --node-a and --node-b (two nodes)"),
    ],
)
def test_bad_two_node_arguments_are_one_line_exit_2(sim_binary: Path, extra: list[str], said: str) -> None:
    result = _cli("localize", "--height", str(H), "--bucket", "storage", *extra, sim_binary=sim_binary)
    assert result.returncode == 2 and said in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
