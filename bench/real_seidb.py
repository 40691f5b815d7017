"""Benchmark the real seidb (not a test): the gate's three scans one after another, then all at once.

    .venv/bin/python bench/real_seidb.py [NODE_DIR] [--seidb PATH] [--min-rows 1000000] [--no-warmup]

NODE_DIR is one real fixture node holding flatkv/, memiavl/ and height.txt (layout:
tests/real_seidb/conftest.py) with at least --min-rows rows; default $EVMDIGEST_REAL_BENCH_NODE, else
$EVMDIGEST_REAL_FIXTURES/clean. The binary: --seidb, else $EVMDIGEST_REAL_SEIDB, else the path
`scripts/build-seidb --print-path` prints.

Prints seconds per scan (flatkv, memiavl semantic, memiavl translator) run sequentially, their sum,
the wall time of the same three scans as three concurrent seidb processes (via SeidbRunner, as the
flow runs them), concurrent/sequential, and os.cpu_count(). One untimed warm-up pass first puts both
phases on a warm page cache (--no-warmup skips it). Exit 3 when no real binary or no big-enough
fixture exists (it says which), 1 when a scan fails or the two phases disagree.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from evmdigest.models import Backend, DigestReport, Normalization
from evmdigest.seidb import DigestRequest, ScanResult, SeidbError, SeidbRunner
from evmdigest.verdict.gate import VersionGateError, check_versions
from tests.real_seidb.locate import ConfiguredBinaryMissing, locate_binary, read_node

EXIT_UNAVAILABLE = 3
SCAN_TIMEOUT_S = 7200.0


class Unavailable(Exception):
    """No real binary or fixture: the benchmark cannot run here (exit 3)."""


def find_binary(explicit: str | None) -> Path:
    try:
        found = locate_binary(explicit)
    except ConfiguredBinaryMissing as exc:
        raise Unavailable(str(exc)) from exc
    if isinstance(found, str):
        raise Unavailable(found)
    return found


def find_node(explicit: str | None) -> tuple[Path, int]:
    raw = explicit or os.environ.get("EVMDIGEST_REAL_BENCH_NODE")
    if raw is None and os.environ.get("EVMDIGEST_REAL_FIXTURES"):
        raw = str(Path(os.environ["EVMDIGEST_REAL_FIXTURES"]) / "clean")
    if raw is None:
        raise Unavailable("no fixture node: pass NODE_DIR or set EVMDIGEST_REAL_BENCH_NODE / EVMDIGEST_REAL_FIXTURES")
    node = read_node(Path(raw))
    if isinstance(node, str):
        raise Unavailable(f"fixture node {raw}: {node} (layout: tests/real_seidb/conftest.py)")
    return node.root, node.height


def requests(node: Path, height: int) -> list[DigestRequest]:
    return [
        DigestRequest(Backend.FLATKV, node / "flatkv", height),
        DigestRequest(Backend.MEMIAVL, node / "memiavl", height, Normalization.SEMANTIC),
        DigestRequest(Backend.MEMIAVL, node / "memiavl", height, Normalization.TRANSLATOR),
    ]


def checked(result: ScanResult) -> DigestReport:
    check_versions(result.request.height, {result.request.label: result.report})
    return result.report


def big_enough(result: ScanResult, min_rows: int) -> None:
    rows = checked(result).final.count
    if result.request.backend is Backend.FLATKV and rows < min_rows:
        raise Unavailable(f"the fixture has {rows} rows; this benchmark needs >= {min_rows} (--min-rows)")


def run(binary: Path, node: Path, height: int, min_rows: int, warmup: bool) -> int:
    runner = SeidbRunner(binary, timeout=SCAN_TIMEOUT_S)
    scans = requests(node, height)
    print(f"seidb {binary}  node {node}  height {height}  --json {runner.supports_json()}", flush=True)

    if warmup:
        print("warm-up pass (untimed) ...", flush=True)
        for request in scans:
            big_enough(runner.run_digest(request), min_rows)

    sequential: list[ScanResult] = []
    for request in scans:
        result = runner.run_digest(request)
        big_enough(result, min_rows)
        sequential.append(result)
        print(f"  sequential {request.label:<20} {result.finished_at - result.started_at:9.2f} s", flush=True)

    with ThreadPoolExecutor(max_workers=len(scans)) as pool:
        wall_start = time.time()
        concurrent = list(pool.map(runner.run_digest, scans))
        wall = time.time() - wall_start
    for result in concurrent:
        checked(result)
        print(f"  concurrent {result.request.label:<20} {result.finished_at - result.started_at:9.2f} s")

    for seq, conc in zip(sequential, concurrent, strict=True):
        if seq.report.final != conc.report.final:
            print(f"FAIL: {seq.request.label} digests differ between the two phases", file=sys.stderr)
            return 1

    seq_sum = sum(r.finished_at - r.started_at for r in sequential)
    rows = sequential[0].report.final.count
    print()
    print(f"rows (flatkv final count)      {rows}")
    for result in sequential:
        print(f"{result.request.label + ' s':<30} {result.finished_at - result.started_at:.2f}")
    print(f"{'sequential sum s':<30} {seq_sum:.2f}")
    print(f"{'concurrent wall s':<30} {wall:.2f}")
    print(f"{'concurrent / sequential':<30} {wall / seq_sum:.3f}   (1.0: no overlap; 0.333: perfect 3-way)")
    print(f"{'os.cpu_count()':<30} {os.cpu_count()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("node", nargs="?", help="fixture node dir (flatkv/, memiavl/, height.txt)")
    parser.add_argument("--seidb", help="real seidb binary (default $EVMDIGEST_REAL_SEIDB, else build-seidb's)")
    parser.add_argument("--min-rows", type=int, default=1_000_000, help="smallest fixture worth timing")
    parser.add_argument("--no-warmup", dest="warmup", action="store_false", help="skip the untimed warm-up pass")
    args = parser.parse_args(argv)
    try:
        binary = find_binary(args.seidb)
        node, height = find_node(args.node)
        return run(binary, node, height, args.min_rows, args.warmup)
    except Unavailable as exc:
        print(f"bench/real_seidb: cannot run: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except (SeidbError, VersionGateError) as exc:
        print(f"bench/real_seidb: scan failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
