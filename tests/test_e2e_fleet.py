"""The fleet end to end: one `prefect server start`, the node-gate and fleet-seal deployments from
prefect.yaml, three process workers on three work queues (one per simulated node), fleet-seal runs
triggered through the REST API the UI uses. A node's gate must run on its own worker, linked to the
fleet run; a stopped worker makes its node time out while the others are still sealed.

The deployments go to a pool of their own (`--pool` at deploy time), so a pool-wide worker started by
another e2e module in the same session cannot take the node runs meant for these workers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from evmdigest.emit import open_sink
from evmdigest.fleet.verdict import FleetVerdict, NodeState
from evmdigest.models import Normalization
from evmdigest.segments import fleet_key, node_digest_key, record_key
from tests.plugins.deployment import TERMINAL, wait_state
from tests.plugins.server import REPO, PrefectServer
from tests.plugins.sim import MakeNode, SimNode

pytestmark = [pytest.mark.server]
POOL = "evm-digest-fleet-e2e"
HEIGHT = 1000
NODES = ("a", "b", "c")


@pytest.fixture(scope="module")
def fleet(prefect_server: PrefectServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("e2e-fleet")
    server = prefect_server
    server.cli("block", "register", "-m", "blocks")
    server.cli("work-pool", "create", POOL, "--type", "process", "--overwrite")
    for name in ("node-gate", "fleet-seal"):
        server.cli("deploy", "--name", name, "--pool", POOL, PWD=str(REPO))
    workers: dict[str, subprocess.Popen[bytes]] = {}
    for node in NODES:
        # A worker polling several queues gets nothing while one of them does not exist (Prefect 3.9).
        server.cli("work-queue", "create", f"evm-digest-{node}", "--pool", POOL)
        queues = ["--work-queue", f"evm-digest-{node}"] + (["--work-queue", "default"] if node == "a" else [])
        log = work / f"worker-{node}.log"
        workers[node] = server.start(
            "worker", "start", "--pool", POOL, *queues, log=log, PREFECT_WORKER_QUERY_SECONDS="2"
        )
    deployments = {d["name"]: d for d in server.api("POST", "/deployments/filter", json={})}
    return {"work": work, "workers": workers, "fleet_seal": deployments["fleet-seal"]}


def _nodes(root: Path, make_node: MakeNode, diverged: str | None = None) -> dict[str, SimNode]:
    return {n: make_node(root, rows=400, diverge="storage" if n == diverged else None) for n in NODES}


def _run_fleet(
    server: PrefectServer,
    fleet: dict[str, Any],
    nodes: dict[str, SimNode] | list[dict[str, str]],
    sink: Path,
    sim: Path,
    timeout: float,
) -> dict[str, Any]:
    specs = nodes if isinstance(nodes, list) else [
        {"name": n, "flatkv_dir": str(s.flatkv_dir), "memiavl_dir": str(s.memiavl_dir)} for n, s in nodes.items()
    ]  # fmt: skip
    parameters = {
        "height": HEIGHT, "nodes": specs, "pool": POOL, "seidb_path": str(sim), "sink_url": sink.as_uri(),
        "node_timeout": timeout,
    }  # fmt: skip
    path = f"/deployments/{fleet['fleet_seal']['id']}/create_flow_run"
    run = server.api("POST", path, json={"parameters": parameters})
    return wait_state(server, run["id"], TERMINAL, timeout=timeout + 300)


def _node_runs(server: PrefectServer, fleet_run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The node-gate runs linked to the fleet run (as the UI shows them), by node."""
    tasks = server.api("POST", "/task_runs/filter", json={"flow_runs": {"id": {"any_": [fleet_run["id"]]}}})
    children = server.api(
        "POST", "/flow_runs/filter", json={"flow_runs": {"parent_task_run_id": {"any_": [t["id"] for t in tasks]}}}
    )
    return {run["parameters"]["node"]: run for run in children}


def _verdict(sink: Path, key: str) -> FleetVerdict:
    return FleetVerdict.model_validate(open_sink(sink.as_uri()).read_json(key))


def _assert_sealed(sink: Path, node: str) -> None:
    for normalization in Normalization:
        key = record_key(HEIGHT, normalization, node)
        assert (sink / key).is_file() and (sink / f"{key}.seal.json").is_file(), key


def test_a_diverged_node_is_odd_the_fleet_run_fails_and_every_record_is_sealed(
    fleet: dict[str, Any], prefect_server: PrefectServer, make_node: MakeNode, sim_binary: Path
) -> None:
    work: Path = fleet["work"]
    sink = work / "diverged-sealed"
    finished = _run_fleet(prefect_server, fleet, _nodes(work / "diverged", make_node, "c"), sink, sim_binary, 300)
    assert finished["state"]["type"] == "FAILED", finished["state"]
    assert finished["state"]["message"] == f"fleet at {HEIGHT}: odd nodes: c"
    verdict = _verdict(sink, fleet_key(HEIGHT))
    assert verdict.odd_nodes == ["c"] and verdict.complete and not verdict.agree
    for node in NODES:
        _assert_sealed(sink, node)
    runs = _node_runs(prefect_server, finished)
    assert set(runs) == set(NODES)
    for node, run in runs.items():
        # Each gate ran on its node's queue, taken by that node's worker (whose log names the run).
        assert run["work_queue_name"] == f"evm-digest-{node}" and run["state"]["type"] in {"COMPLETED", "FAILED"}
        assert run["id"] in (work / f"worker-{node}.log").read_text(), node
        assert verdict.nodes[node].flow_run_id == run["id"]


def test_clean_nodes_agree_and_the_fleet_run_completes(
    fleet: dict[str, Any], prefect_server: PrefectServer, make_node: MakeNode, sim_binary: Path
) -> None:
    work: Path = fleet["work"]
    sink = work / "clean-sealed"
    finished = _run_fleet(prefect_server, fleet, _nodes(work / "clean", make_node), sink, sim_binary, 300)
    assert finished["state"]["type"] == "COMPLETED", finished["state"]
    verdict = _verdict(sink, fleet_key(HEIGHT))
    assert verdict.clean and verdict.odd_nodes == []
    artifacts = prefect_server.api(
        "POST", "/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [finished["id"]]}}}
    )
    table = next(a for a in artifacts if a["key"] == "evm-digest-fleet")
    assert [row["node"] for row in json.loads(table["data"])] == [*NODES, "majority"]


def test_nodes_of_every_kind_agree_each_gate_on_its_worker_with_its_kind(
    fleet: dict[str, Any], prefect_server: PrefectServer, make_node: MakeNode, sim_binary: Path
) -> None:
    work: Path = fleet["work"]
    mid = make_node(work / "kinds", rows=300, migrate_keys=195)
    migrated = make_node(work / "kinds", rows=300, migrate_keys="all")
    specs = [
        {"name": "a", "kind": "composite", "flatkv_dir": str(mid.flatkv_dir), "memiavl_dir": str(mid.memiavl_dir)},
        {"name": "b", "kind": "memiavl", "memiavl_dir": str(mid.reference_memiavl_dir)},
        {"name": "c", "kind": "flatkv", "flatkv_dir": str(migrated.flatkv_dir)},
    ]
    sink = work / "kinds-sealed"
    finished = _run_fleet(prefect_server, fleet, specs, sink, sim_binary, 300)
    assert finished["state"]["type"] == "COMPLETED", finished["state"]
    verdict = _verdict(sink, fleet_key(HEIGHT))
    assert verdict.clean and [verdict.nodes[n].kind.value for n in NODES] == ["composite", "memiavl", "flatkv"]
    runs = _node_runs(prefect_server, finished)
    assert {n: run["parameters"]["kind"] for n, run in runs.items()} == {
        "a": "composite",
        "b": "memiavl",
        "c": "flatkv",
    }
    assert "flatkv_dir" not in runs["b"]["parameters"] and "memiavl_dir" not in runs["c"]["parameters"]
    assert (sink / node_digest_key(HEIGHT, "composite", "a")).is_file()


def test_a_stopped_worker_times_out_its_node_and_the_others_are_still_sealed(
    fleet: dict[str, Any], prefect_server: PrefectServer, make_node: MakeNode, sim_binary: Path
) -> None:
    work: Path = fleet["work"]
    worker: subprocess.Popen[bytes] = fleet["workers"]["c"]
    os.killpg(worker.pid, signal.SIGKILL)  # node c goes down
    worker.wait(timeout=30)
    sink = work / "stopped-sealed"
    finished = _run_fleet(prefect_server, fleet, _nodes(work / "stopped", make_node), sink, sim_binary, 120)
    assert finished["state"]["type"] == "FAILED", finished["state"]
    assert finished["state"]["message"] == f"fleet at {HEIGHT}: incomplete (c timed_out)"
    assert not (sink / fleet_key(HEIGHT)).exists()
    (incomplete,) = sorted(sink.glob(f"fleet-digest-{HEIGHT}.incomplete-*.json.gz"))
    verdict = _verdict(sink, incomplete.name)
    assert not verdict.complete and verdict.unfinished() == ["c"]
    c = verdict.nodes["c"]
    assert c.state is NodeState.TIMED_OUT and c.message is not None and "evm-digest-c" in c.message
    for node in ("a", "b"):
        assert verdict.nodes[node].state is NodeState.SEALED
        _assert_sealed(sink, node)
    assert not (sink / "c").exists()
    # The timed-out run is cancelled: a worker coming back later does not scan a stale request.
    assert _node_runs(prefect_server, finished)["c"]["state"]["type"] == "CANCELLED"
