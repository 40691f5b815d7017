"""`evm-digest run` and `evm-digest demo`: run the flow once and print what an operator needs.

Exit codes: 0 every normalization matches (or nothing to seal), 1 mismatch (records published),
2 anything else (gate, seidb, sink or parameter error; the gate publishes nothing).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from blocks import DigestSink
from evmdigest.models import Normalization, OpenMode
from evmdigest.outcome import GateOutcome

EXIT_MATCH, EXIT_MISMATCH, EXIT_ERROR = 0, 1, 2
DEMO_HEIGHT = 213200000


def main(args: argparse.Namespace) -> int:
    if args.command == "demo":
        return _demo(args)
    if args.sink is None and (args.endpoint_url or args.region):
        print(
            "evm-digest run: --endpoint-url/--region configure an S3 sink; add --sink s3://bucket/prefix",
            file=sys.stderr,
        )
        return EXIT_ERROR
    return _run_flow(
        flatkv_dir=args.flatkv_dir,
        memiavl_dir=args.memiavl_dir,
        height=args.height,
        normalizations=args.normalization,
        open_mode=args.memiavl_open_mode,
        seidb_path=args.seidb,
        sink=_sink(args.sink, args.endpoint_url, args.region),
        node=args.node,
        timeout=args.timeout,
        allow_overwriting_store=args.allow_overwriting_store,
    )


def _sink(url: str | None, endpoint_url: str | None, region: str | None) -> DigestSink | None:
    if url is None:
        return None
    return DigestSink(url=url, endpoint_url=endpoint_url, region=region)


def _run_flow(
    *,
    flatkv_dir: Path,
    memiavl_dir: Path,
    height: int | None,
    normalizations: list[str] | None,
    open_mode: str,
    seidb_path: str | None,
    sink: DigestSink | None,
    node: str | None,
    timeout: float | None,
    allow_overwriting_store: bool = False,
) -> int:
    if not os.environ.get("PREFECT_API_URL"):
        # The ephemeral server's telemetry races its own SQLite file and prints a harmless traceback.
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Imported here: loading Prefect (and an ephemeral server when no API is configured) is slow.
    from flows.evm_logical_digest import evm_logical_digest

    chosen = tuple(Normalization(n) for n in dict.fromkeys(normalizations or ["semantic", "translator"]))
    state: Any = evm_logical_digest(
        flatkv_dir=str(flatkv_dir.resolve()),
        memiavl_dir=str(memiavl_dir.resolve()),
        height=height,
        normalizations=chosen,
        memiavl_open_mode=OpenMode(open_mode),
        seidb_path=seidb_path,
        sink=sink,
        node=node,
        scan_timeout=timeout,
        allow_overwriting_store=allow_overwriting_store,
        return_state=True,
    )
    outcome = _outcome_of(state)
    if outcome is None:
        print(f"evm-digest: run {state.name}: {state.message}", file=sys.stderr)
        return EXIT_ERROR
    print_outcome(outcome)
    if outcome.nothing_to_seal:
        print("nothing to seal: every memiavl snapshot already has its records")
        return EXIT_MATCH
    if state.is_completed():
        return EXIT_MATCH
    print(f"evm-digest: {state.message}", file=sys.stderr)
    return EXIT_MISMATCH


def _outcome_of(state: Any) -> GateOutcome | None:
    try:
        data = state.result(raise_on_failure=False)
    except Exception:  # a result that cannot be read is an error outcome, reported by the caller
        return None
    return data if isinstance(data, GateOutcome) else None


def print_outcome(outcome: GateOutcome) -> None:
    if not outcome.published:
        return
    table = pd.DataFrame(outcome.table)
    for column in table.columns:
        if column.endswith("_digest"):
            table[column] = table[column].str[:16] + "…"
    print(f"\nEVM logical digest at height {outcome.height} on {outcome.node} (digests abbreviated)\n")
    print(table.to_markdown(index=False))
    print()
    for item in outcome.published:
        record = item.record
        verdict = "MATCH" if record.match else f"MISMATCH ({', '.join(record.mismatched_buckets)})"
        sealed = " already sealed" if item.already_sealed else ""
        print(f"{record.normalization.value:<10} {verdict}{sealed}")
        print(f"  object  {item.uri}")
        print(f"  sha256  {item.uncompressed_sha256}  (uncompressed payload; `evm-digest verify <object>`)")


def _demo(args: argparse.Namespace) -> int:
    if args.seidb:
        if args.flatkv_dir is None or args.memiavl_dir is None:
            print("evm-digest demo: --seidb needs --flatkv-dir and --memiavl-dir of a real node", file=sys.stderr)
            return EXIT_ERROR
        flatkv_dir, memiavl_dir, seidb = args.flatkv_dir, args.memiavl_dir, args.seidb
        sink_url = args.sink or (args.dir / "sealed-real").resolve().as_uri()
        height = args.height  # None: seal the newest unsealed snapshot
    else:
        height = args.height or DEMO_HEIGHT
        node_dir = (args.dir / (args.diverge or "clean")).resolve()
        seidb = _simulator()
        if not (node_dir / "flatkv").is_dir():
            command = [seidb, "make-fixture", str(node_dir), "--height", str(height), "--rows", str(args.rows)]
            command += ["--diverge", args.diverge] if args.diverge else []
            print(f"making a simulated node: {' '.join(command[1:])}")
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        flatkv_dir, memiavl_dir = node_dir / "flatkv", node_dir / "memiavl"
        sink_url = args.sink or (node_dir / "sealed").as_uri()
    print(f"sealing into {sink_url}")
    return _run_flow(
        flatkv_dir=flatkv_dir,
        memiavl_dir=memiavl_dir,
        height=height,
        normalizations=None,
        open_mode="snapshot",
        seidb_path=seidb,
        sink=DigestSink(url=sink_url),
        node="demo-node",
        timeout=600,
    )


def _simulator() -> str:
    beside = Path(sys.executable).parent / "seidb-sim"
    found = str(beside) if beside.exists() else shutil.which("seidb-sim")
    if found is None:
        print("evm-digest demo: seidb-sim is not installed; run `make venv` first", file=sys.stderr)
        raise SystemExit(EXIT_ERROR)
    return found
