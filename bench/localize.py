"""Benchmark: what localizing a mismatch costs, as a multiple of the digest pass it follows.

A 1M-row simulated node (seidb-sim make-fixture), and FlatKV variants of it with 1, 10 and 1000 storage
values changed (spread over the bucket). Per variant and run:
  digest pass   the gate's three scans at once (flatkv, memiavl semantic + translator), parsed
  localization  every mismatched normalization localized as the flow does (one after the other, sharing
                FlatKV passes), default limits (max_keys 1000, max_passes 32, list_rows 100000)
Prints medians over --runs: localization wall / digest wall (goal <= 2.0 for one key), passes of the
search (the second normalization reuses it: same bucket digests) and seidb processes, keys found and
status, and peak RSS of the pipeline (this process; the fixture is made in a child).
Core only (no Prefect): orchestration overhead is bench/gate.py's subject.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from evmdigest.localize.model import Limits
from evmdigest.localize.passes import PassCache
from evmdigest.localize.run import localize_record
from evmdigest.models import Backend, Normalization
from evmdigest.seidb import DigestRequest, ScanResult, SeidbRunner
from evmdigest.sim.rows import iter_rows, write_rows
from evmdigest.sim.store import ROWS_NAME
from evmdigest.verdict.outcome import PublishedRecord
from evmdigest.verdict.records import compare

HEIGHT = 1000
BIN = Path(sys.executable).parent


def _variant(clean: Path, target: Path, keys: int, storage_rows: int) -> None:
    """A FlatKV dir like `clean` with `keys` storage values changed in their last byte, evenly spaced."""
    shutil.copytree(clean, target, ignore=shutil.ignore_patterns(ROWS_NAME, ".seidb-flatkv-tool-*"))
    step, seen = max(1, storage_rows // keys), 0

    def rows() -> Any:
        nonlocal seen
        for bucket, key, value in iter_rows(clean / ROWS_NAME):
            if bucket == 2:
                if seen % step == step // 2 and seen // step < keys:
                    value = value[:-1] + bytes((value[-1] ^ 0x01,))
                seen += 1
            yield bucket, key, value

    write_rows(target / ROWS_NAME, rows())


def _digest_pass(runner: SeidbRunner, flatkv: Path, memiavl: Path) -> tuple[float, list[ScanResult]]:
    requests = [
        DigestRequest(Backend.FLATKV, flatkv, HEIGHT),
        *(DigestRequest(Backend.MEMIAVL, memiavl, HEIGHT, n) for n in Normalization),
    ]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=3) as pool:
        scans = list(pool.map(runner.run_digest, requests))
    return time.monotonic() - started, scans


def _one(runner: SeidbRunner, flatkv: Path, memiavl: Path) -> dict[str, Any]:
    digest_wall, (flat, *memiavl_scans) = _digest_pass(runner, flatkv, memiavl)
    records = [compare(HEIGHT, n, flat.report, s.report) for n, s in zip(Normalization, memiavl_scans, strict=True)]
    cache, started, results = PassCache(), time.monotonic(), []
    for record in records:
        if not record.match:
            published = PublishedRecord(record=record, uri="bench", uncompressed_sha256="0" * 64)
            results.append(localize_record(runner, published, flatkv, memiavl, limits=Limits(), cache=cache))
    wall = time.monotonic() - started
    return {
        "digest_s": digest_wall,
        "localize_s": wall,
        "ratio": wall / digest_wall,
        "passes": sum(r.passes for r in results[:1]),  # the search; the other normalization reuses it
        "seidb_runs": sum(r.seidb_runs for r in results),
        "keys_found": [len(r.keys) for r in results],
        "status": [r.status.value for r in results],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, nargs="+", default=[1, 10, 1000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runner = SeidbRunner(BIN / "seidb-sim", timeout=3600, env={"SEI_LOG_OUTPUT": "stderr"})
    with tempfile.TemporaryDirectory(prefix="bench-localize-") as tmp:
        work = Path(tmp)
        made = time.monotonic()
        # in a child: the fixture generator's memory is not the pipeline's
        command = [str(BIN / "seidb-sim"), "make-fixture", str(work / "node"), "--height", str(HEIGHT)]
        done = subprocess.run([*command, "--rows", str(args.rows)], capture_output=True, text=True, check=True)
        summary = json.loads(done.stdout)
        clean, memiavl = Path(summary["flatkv_dir"]), Path(summary["memiavl_dir"])
        print(f"fixture: {args.rows} rows in {time.monotonic() - made:.1f}s", file=sys.stderr)
        report: dict[str, Any] = {"rows": args.rows, "cpus": os.cpu_count(), "runs": args.runs, "variants": {}}
        for keys in args.keys:
            flatkv = work / f"flatkv-{keys}"
            _variant(clean, flatkv, keys, summary["rows"]["storage"])
            runs = [_one(runner, flatkv, memiavl) for _ in range(args.runs)]
            print(f"{keys} key(s): {[round(r['ratio'], 2) for r in runs]}", file=sys.stderr)
            med = {k: statistics.median(r[k] for r in runs) for k in ("digest_s", "localize_s", "ratio", "passes")}
            report["variants"][str(keys)] = {
                **{k: round(v, 3) for k, v in med.items()},
                "seidb_runs": runs[0]["seidb_runs"],
                "keys_found": runs[0]["keys_found"],
                "status": runs[0]["status"],
            }
        report["peak_rss_mb"] = {
            "pipeline": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            # seidb-sim is Python, not seidb (real: ~2 GB for a 1M-row FlatKV scan); make-fixture included
            "largest_child": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        }
    print(json.dumps(report, indent=2))
    for keys, row in report["variants"].items():
        goal = "  (goal <= 2.0)" if keys == "1" else ""
        print(
            f"{keys:>5} key(s): localization / digest pass = {row['ratio']:.2f}{goal}; {row['passes']} passes, "
            f"{row['seidb_runs']} seidb runs; keys {row['keys_found']} {row['status']}"
        )


if __name__ == "__main__":
    main()
