"""Benchmark: does a fleet seal every node at once, so it takes about as long as its slowest node?

Starts `prefect server start` on loopback (stopped after). N simulated nodes (seidb-sim `slow`: each scan
sleeps --scan-seconds, I/O-bound) into a folder sink. Prints, as medians over --runs runs (after one
warm-up run), per mode:
  wall / slowest gate   (goal <= 1.15; sequential gates would be N)
  overhead = wall - slowest gate (seconds)
where wall is the fleet-seal call's wall time and a gate is a node's evm-logical-digest run as the
server recorded it (start_time..end_time).
Local mode: node gates are subflows in this process. Pool mode (--pool): node gates are node-gate
deployment runs taken by N process workers, one per queue (process start and queue polling included
in the wall, not in the gate).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.plugins.server import REPO, PrefectServer, start_prefect_server, stop_prefect_server

BIN = Path(sys.executable).parent
POOL = "evm-digest-bench"


def _nodes(work: Path, count: int, rows: int, scan_seconds: float) -> list[Any]:
    from evmdigest.fleet.nodes import parse_node_spec
    from evmdigest.sim.fixture import make_fixture
    from evmdigest.sim.store import read_config, write_config

    nodes = []
    for index in range(count):
        summary = make_fixture(work / f"node-{index}", height=1000, rows=rows)
        stores = [Path(summary["flatkv_dir"]), Path(summary["memiavl_dir"]) / "snapshot-00000000000000001000"]
        for store in stores:
            write_config(store / "sim-store.json", {**read_config(store), "faults": {"slow": scan_seconds}})
        nodes.append(parse_node_spec(f"n{index}={summary['flatkv_dir']},{summary['memiavl_dir']}"))
    return nodes


def _gate_seconds(run_ids: list[str]) -> list[float]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        runs = [client.read_flow_run(run_id) for run_id in run_ids]  # type: ignore[arg-type]
    return [(r.end_time - r.start_time).total_seconds() for r in runs if r.start_time and r.end_time]


def _measure(work: Path, nodes: list[Any], runs: int, pool: str | None) -> list[dict[str, float]]:
    from flows.fleet import fleet_seal

    results = []
    for index in range(runs + 1):  # run 0 warms imports, the client, the server and the workers
        sink = work / f"sealed-{pool or 'local'}-{index}"
        called = time.time()
        state: Any = fleet_seal(
            height=1000, nodes=nodes, pool=pool, seidb_path=str(BIN / "seidb-sim"), sink_url=sink.as_uri(),
            node_timeout=600, return_state=True,
        )  # fmt: skip
        wall = time.time() - called
        verdict = state.result().verdict
        assert verdict.clean, state.message
        gates = _gate_seconds([entry.flow_run_id for entry in verdict.nodes.values()])
        if index:
            results.append({"wall": wall, "slowest_gate": max(gates), "fastest_gate": min(gates)})
    return results


def _report(mode: str, results: list[dict[str, float]], nodes: int) -> None:
    med = {key: statistics.median(r[key] for r in results) for key in results[0]}
    ratio = statistics.median(r["wall"] / r["slowest_gate"] for r in results)
    overhead = statistics.median(r["wall"] - r["slowest_gate"] for r in results)
    print(json.dumps({"mode": mode, "per_run": [{k: round(v, 2) for k, v in r.items()} for r in results]}))
    print(f"[{mode}] median fleet wall          {med['wall']:.2f} s  ({nodes} nodes)")
    print(f"[{mode}] median slowest node gate   {med['slowest_gate']:.2f} s  (fastest {med['fastest_gate']:.2f} s)")
    print(f"[{mode}] wall / slowest gate        {ratio:.3f}  (goal <= 1.15; one node after another = {nodes})")
    print(f"[{mode}] overhead = wall - slowest  {overhead:.2f} s")


def _pool(server: PrefectServer, work: Path, nodes: list[Any], runs: int) -> list[dict[str, float]]:
    server.cli("work-pool", "create", POOL, "--type", "process", "--overwrite")
    server.cli("deploy", "--name", "node-gate", "--pool", POOL, PWD=str(REPO))
    for node in nodes:
        server.cli("work-queue", "create", node.queue, "--pool", POOL)
        log = work / f"worker-{node.name}.log"
        server.start("worker", "start", "--pool", POOL, "--work-queue", node.queue, log=log,
                     PREFECT_WORKER_QUERY_SECONDS="1")  # fmt: skip
    return _measure(work, nodes, runs, POOL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--scan-seconds", type=float, default=15.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--pool", action="store_true", help="also measure pool mode (N process workers)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="evm-digest-bench-fleet-") as tmp:
        work = Path(tmp)
        (work / "prefect-home").mkdir()
        server = start_prefect_server(work / "prefect-home", timeout=300)
        os.environ.update(PREFECT_API_URL=server.api_url, PREFECT_HOME=str(server.home))
        print(f"started prefect server at {server.api_url}; cpus={os.cpu_count()}")
        try:
            nodes = _nodes(work, args.nodes, args.rows, args.scan_seconds)
            _report("local", _measure(work, nodes, args.runs, None), args.nodes)
            if args.pool:
                _report("pool", _pool(server, work, nodes, args.runs), args.nodes)
        finally:
            stop_prefect_server(server)


if __name__ == "__main__":
    main()
