"""`evm-digest fleet` through the console script, local mode: three simulated nodes, node gates as
subflows of one fleet run on a real Prefect API, real seidb-sim subprocesses, a folder sink."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from evmdigest.emit import open_sink
from evmdigest.fleet.verdict import FleetVerdict, NodeState
from evmdigest.models import Normalization
from evmdigest.segments import fleet_key, node_digest_key, record_key
from tests.plugins.server import free_port
from tests.plugins.sim import MakeNode, SimNode

EVM_DIGEST = str(Path(sys.executable).parent / "evm-digest")
HEIGHT = 1000


def _fleet(
    nodes: dict[str, SimNode | str], sim_binary: Path, sink: Path, env: dict[str, str], *extra: str
) -> subprocess.CompletedProcess[str]:
    """`nodes`: name -> a pair node, or the rest of its --node value (`composite:F,M`, `memiavl:M`, ...)."""
    argv = [EVM_DIGEST, "fleet", "--height", str(HEIGHT), "--sink", sink.as_uri(), "--seidb", str(sim_binary)]
    for name, node in nodes.items():
        argv += [
            "--node",
            f"{name}={node}" if isinstance(node, str) else f"{name}={node.flatkv_dir},{node.memiavl_dir}",
        ]
    return subprocess.run([*argv, *extra], capture_output=True, text=True, timeout=600, check=False, env=env)


def _env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}, **extra}


def _verdict(sink: Path) -> FleetVerdict:
    return FleetVerdict.model_validate(open_sink(sink.as_uri()).read_json(fleet_key(HEIGHT)))


def test_a_diverged_flatkv_node_is_odd_exit_1_and_every_record_is_sealed(
    prefect_api: str, tmp_path: Path, make_node: MakeNode, sim_binary: Path
) -> None:
    nodes = {"a": make_node(tmp_path, rows=400), "b": make_node(tmp_path, rows=400)}
    nodes["c"] = make_node(tmp_path, rows=400, diverge="storage")
    sink = tmp_path / "sealed"
    done = _fleet(nodes, sim_binary, sink, _env(PREFECT_API_URL=prefect_api))
    assert done.returncode == 1, done.stdout + done.stderr[-3000:]
    assert done.stdout.splitlines()[-1] == f"fleet at {HEIGHT}: odd nodes: c"
    assert "c            odd: flatkv differs from the majority (storage)" in done.stdout
    verdict = _verdict(sink)
    assert verdict.odd_nodes == ["c"] and not verdict.agree and not verdict.all_match and verdict.complete
    assert verdict.nodes["c"].own_match is False and verdict.nodes["a"].own_match is True
    assert all(entry.state is NodeState.SEALED for entry in verdict.nodes.values())
    for name in nodes:
        for normalization in Normalization:
            key = record_key(HEIGHT, normalization, name)
            assert (sink / key).is_file() and (sink / f"{key}.seal.json").is_file()
            assert verdict.nodes[name].records[normalization.value].uri == (sink / key).as_uri()
    majority = verdict.majority["flatkv"]
    assert majority is not None and majority.digest == nodes["a"].expected("flatkv")["final"]["digest"]


def test_clean_nodes_agree_exit_0_and_a_rerun_is_already_sealed(
    prefect_api: str, tmp_path: Path, make_node: MakeNode, sim_binary: Path
) -> None:
    nodes = {name: make_node(tmp_path, rows=400) for name in ("a", "b", "c")}
    sink = tmp_path / "sealed"
    env = _env(PREFECT_API_URL=prefect_api)
    first = _fleet(nodes, sim_binary, sink, env)
    assert first.returncode == 0, first.stdout + first.stderr[-3000:]
    assert first.stdout.splitlines()[-1] == f"fleet at {HEIGHT}: 3 nodes agree and every node's stores match"
    assert _verdict(sink).clean
    again = _fleet(nodes, sim_binary, sink, env)
    assert again.returncode == 0, again.stdout + again.stderr[-3000:]
    assert f"fleet verdict already sealed: {(sink / fleet_key(HEIGHT)).as_uri()}" in again.stdout


def _kinds(make_node: MakeNode, root: Path, **composite: object) -> dict[str, SimNode | str]:
    """A mid-migration node, an unmigrated node (its reference memIAVL) and a migrated node: one logical state."""
    mid = make_node(root, rows=300, migrate_keys=195, **composite)
    migrated = make_node(root, rows=300, migrate_keys="all")
    return {
        "mid": f"composite:{mid.flatkv_dir},{mid.memiavl_dir}",
        "old": f"memiavl:{mid.reference_memiavl_dir}",
        "new": f"flatkv:{migrated.flatkv_dir}@rack-3",
    }


def test_a_mid_migration_node_agrees_with_an_unmigrated_and_a_migrated_node_exit_0(
    prefect_api: str, tmp_path: Path, make_node: MakeNode, sim_binary: Path
) -> None:
    sink = tmp_path / "sealed"
    done = _fleet(_kinds(make_node, tmp_path), sim_binary, sink, _env(PREFECT_API_URL=prefect_api))
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert done.stdout.splitlines()[-1] == (
        f"fleet at {HEIGHT}: 3 nodes agree on the logical state (1 composite, 1 memiavl, 1 flatkv)"
    )
    verdict = _verdict(sink)
    assert verdict.clean and [e.kind.value for e in verdict.nodes.values()] == ["composite", "memiavl", "flatkv"]
    assert verdict.nodes["mid"].boundary is not None and verdict.nodes["mid"].boundary.status.value == "in_progress"
    assert verdict.nodes["new"].work_queue == "rack-3"
    assert (sink / node_digest_key(HEIGHT, "composite", "mid")).is_file()
    assert (sink / node_digest_key(HEIGHT, "memiavl/semantic", "old")).is_file()


def test_a_missing_boundary_marker_is_exit_2_naming_the_marker_and_nothing_published_for_that_node(
    prefect_api: str, tmp_path: Path, make_node: MakeNode, sim_binary: Path
) -> None:
    sink = tmp_path / "sealed"
    nodes = _kinds(make_node, tmp_path, boundary_marker=False)
    done = _fleet(nodes, sim_binary, sink, _env(PREFECT_API_URL=prefect_api))
    assert done.returncode == 2, done.stdout + done.stderr[-3000:]
    assert done.stdout.splitlines()[-1] == f"fleet at {HEIGHT}: incomplete (mid failed)"
    (failed,) = [line for line in done.stdout.splitlines() if line.startswith("mid          failed: ")]
    assert "status=not_started" in failed and "migration/migration-boundary" in failed
    assert "Traceback" not in done.stderr
    assert list(sink.rglob("node-digest-*")) and not list((sink / "mid").rglob("node-digest-*"))
    assert not (sink / fleet_key(HEIGHT)).exists()  # incomplete: sealed at its own attempt key


def test_bad_input_is_one_line_exit_2_before_prefect_starts(tmp_path: Path, make_node: MakeNode) -> None:
    node = make_node(tmp_path, rows=50)
    good = f"a={node.flatkv_dir},{node.memiavl_dir}"
    cases = {
        (
            "--node",
            good,
            "--node",
            "b=/nowhere/flatkv",
        ): "--node 'b=/nowhere/flatkv': write NAME=",
        ("--node", good, "--node", "b=/nowhere/f,/nowhere/m"): "--node b: FLATKV_DIR: '/nowhere/f' does not exist",
        ("--node", good): "--node: a fleet compares nodes; name at least two",
        (
            "--node",
            good,
            "--node",
            "b=memiavl:/m,/f",
        ): "--node 'b=memiavl:/m,/f': write NAME=memiavl:MEMIAVL_DIR[@QUEUE]",
        ("--node", good, "--node", "b=flatkv:/nowhere"): "--height is required: node b is a flatkv node",
        ("--node", good, "--node", "b=composite:/nowhere/f,/nowhere/m", "--height", "5"): (
            "--node b: FLATKV_DIR: '/nowhere/f' does not exist"
        ),
        ("--node", good, "--node", good.replace("a=", "b="), "--pool", "p"): "--height: required with --pool",
    }
    for args, says in cases.items():
        done = subprocess.run([EVM_DIGEST, "fleet", *args], capture_output=True, text=True, timeout=120, check=False,
                              env=_env(PREFECT_API_URL="http://127.0.0.1:9/api"))  # fmt: skip
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.startswith("evm-digest fleet: ") and says in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and done.stdout == ""


def test_orchestration_unavailable_is_exit_3(tmp_path: Path, make_node: MakeNode, sim_binary: Path) -> None:
    nodes = {"a": make_node(tmp_path, rows=50), "b": make_node(tmp_path, rows=50)}
    sink = tmp_path / "sealed"
    dead = _fleet(nodes, sim_binary, sink, _env(PREFECT_API_URL=f"http://127.0.0.1:{free_port()}/api"))
    assert dead.returncode == 3 and "is unreachable" in dead.stderr and "Traceback" not in dead.stderr
    no_api = _fleet(nodes, sim_binary, sink, _env(), "--pool", "evm-digest")
    assert no_api.returncode == 3 and "--pool needs PREFECT_API_URL" in no_api.stderr
    assert not sink.exists()
