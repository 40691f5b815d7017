"""Benchmark: does the gate run its three scans in parallel, and what does orchestration cost?

Against a running Prefect server (PREFECT_API_URL; if unset, this script starts `prefect server start`
on loopback and stops it after). Three simulated scans of equal length (seidb-sim `slow`, which sleeps:
I/O-bound) run through the real flow into a folder sink. Prints, as medians over --runs runs:
  wall / slowest scan   (goal <= 1.10; the seed's sequential design is 3.0)
  overhead = wall - slowest scan   (goal <= 1.5 s)
where wall is the flow call's wall time and a scan is its seidb process's lifetime as the runner saw it.
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

from tests.plugins.server import start_prefect_server, stop_prefect_server

BIN = Path(sys.executable).parent


def _bench(work: Path, scan_seconds: float, runs: int, rows: int) -> None:
    from prefect.client.orchestration import get_client

    from evmdigest.sim.fixture import make_fixture
    from evmdigest.sim.store import read_config, write_config
    from flows.evm_logical_digest import evm_logical_digest

    summary = make_fixture(work / "node", height=1000, rows=rows)
    stores = [Path(summary["flatkv_dir"]), Path(summary["memiavl_dir"]) / "snapshot-00000000000000001000"]
    for store in stores:
        write_config(store / "sim-store.json", {**read_config(store), "faults": {"slow": scan_seconds}})
    results = []
    for index in range(runs + 1):  # run 0 warms imports, the client and the server's caches
        called = time.time()
        state: Any = evm_logical_digest(
            flatkv_dir=summary["flatkv_dir"], memiavl_dir=summary["memiavl_dir"], height=1000,
            seidb_path=str(BIN / "seidb-sim"), sink_url=(work / f"sealed-{index}").as_uri(), node="bench",
            return_state=True,
        )  # fmt: skip
        returned = time.time()
        assert state.is_completed(), state.message
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(state.state_details.flow_run_id)
        server_wall = (
            (run.end_time - run.start_time).total_seconds() if run.end_time and run.start_time else float("nan")
        )
        # A scan is its whole seidb process as the runner saw it: exec to exit, interpreter start included.
        scans = state.result().scans
        slowest = max(scan.seconds for scan in scans)
        first_start = min(scan.started_at for scan in scans)
        last_end = max(scan.finished_at for scan in scans)
        if index:
            results.append(
                {
                    "wall": returned - called,
                    "server_wall": server_wall,
                    "slowest": slowest,
                    "scan_span": last_end - first_start,
                    "sum": sum(scan.seconds for scan in scans),
                    "before_scans": first_start - called,
                    "after_scans": returned - last_end,
                }
            )
    med = {key: statistics.median(r[key] for r in results) for key in results[0]}
    ratio = statistics.median(r["wall"] / r["slowest"] for r in results)
    overhead = statistics.median(r["wall"] - r["slowest"] for r in results)
    overlap = statistics.median(r["scan_span"] / r["slowest"] for r in results)
    server_ratio = statistics.median(r["server_wall"] / r["slowest"] for r in results)
    per_run = [{k: round(v, 3) for k, v in r.items()} for r in results]
    print(
        json.dumps(
            {"runs": runs, "scan_seconds": scan_seconds, "rows": rows, "cpus": os.cpu_count(), "per_run": per_run}
        )
    )
    print(f"median flow wall            {med['wall']:.2f} s")
    print(f"median slowest single scan  {med['slowest']:.2f} s")
    print(f"median sum of the 3 scans   {med['sum']:.2f} s  (what the seed's sequential design waits)")
    print(f"wall / slowest scan         {ratio:.3f}  (goal <= 1.10; sequential = 3.0)")
    print(f"overhead = wall - slowest   {overhead:.2f} s  (goal <= 1.5 s)")
    print(f"scan span / slowest scan    {overlap:.3f}  (1.0 = the three scans fully overlapped)")
    print(f"server-recorded run / slowest scan  {server_ratio:.3f}  (flow run start_time..end_time)")
    print(f"median before first scan    {med['before_scans']:.2f} s;  after last scan {med['after_scans']:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scan-seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rows", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="evm-digest-bench-") as tmp:
        work = Path(tmp)
        server = None
        if not os.environ.get("PREFECT_API_URL"):
            (work / "prefect-home").mkdir()
            server = start_prefect_server(work / "prefect-home")
            os.environ["PREFECT_API_URL"] = server.api_url
            print(f"started prefect server at {server.api_url}")
        try:
            _bench(work, args.scan_seconds, args.runs, args.rows)
        finally:
            if server is not None:
                stop_prefect_server(server)


if __name__ == "__main__":
    main()
