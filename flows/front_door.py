"""`evm-digest run` and `evm-digest demo`: run the flow once and print what an operator needs.

Exit codes: 0 every normalization matches (or nothing to seal), 1 mismatch (records published),
2 anything else (gate, seidb, sink or parameter error; the gate publishes nothing).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from blocks import DigestSink
from evmdigest.localize.report import divergence_lines
from evmdigest.request import DemoRequest, RunRequest
from evmdigest.verdict.outcome import GateOutcome

EXIT_MATCH, EXIT_MISMATCH, EXIT_ERROR = 0, 1, 2
DEMO_HEIGHT = 213200000


def run(request: RunRequest) -> int:
    """Run the flow once for a checked request; print the outcome; return the exit code."""
    if not os.environ.get("PREFECT_API_URL"):
        # The ephemeral server's telemetry races its own SQLite file and prints a harmless traceback.
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Imported here: loading Prefect (and an ephemeral server when no API is configured) is slow.
    from flows.evm_logical_digest import evm_logical_digest

    sink = None
    if request.sink_url is not None:
        sink = DigestSink(url=request.sink_url, endpoint_url=request.endpoint_url, region=request.region)
    state: Any = evm_logical_digest(
        flatkv_dir=str(request.flatkv_dir.resolve()),
        memiavl_dir=str(request.memiavl_dir.resolve()),
        height=request.height,
        normalizations=request.normalizations,
        memiavl_open_mode=request.open_mode,
        seidb_path=request.seidb_path,
        sink=sink,
        node=request.node,
        scan_timeout=request.timeout,
        localize=request.localize,
        localize_max_keys=request.localize_max_keys,
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
    for line in divergence_lines(outcome.divergences):
        print(line)


def demo(request: DemoRequest) -> int:
    """Seal a simulated node (or, with a real seidb, the given stores) into a local folder."""
    if request.seidb_path:
        assert request.flatkv_dir is not None and request.memiavl_dir is not None  # DemoRequest checks it
        flatkv_dir, memiavl_dir, seidb = request.flatkv_dir, request.memiavl_dir, request.seidb_path
        sink_url = request.sink_url or (request.dir / "sealed-real").resolve().as_uri()
        height = request.height  # None: seal the newest unsealed snapshot
    else:
        height = request.height or DEMO_HEIGHT
        node_dir = (request.dir / (request.diverge or "clean")).resolve()
        seidb = _simulator()
        if not (node_dir / "flatkv").is_dir():
            command = [seidb, "make-fixture", str(node_dir), "--height", str(height), "--rows", str(request.rows)]
            command += ["--diverge", request.diverge] if request.diverge else []
            print(f"making a simulated node: {' '.join(command[1:])}")
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        flatkv_dir, memiavl_dir = node_dir / "flatkv", node_dir / "memiavl"
        sink_url = request.sink_url or (node_dir / "sealed").as_uri()
    print(f"sealing into {sink_url}")
    run_request = RunRequest.create(
        flatkv_dir=flatkv_dir,
        memiavl_dir=memiavl_dir,
        height=height,
        seidb_path=seidb,
        sink_url=sink_url,
        node="demo-node",
        timeout=600,
    )
    return run(run_request)


def _simulator() -> str:
    beside = Path(sys.executable).parent / "seidb-sim"
    found = str(beside) if beside.exists() else shutil.which("seidb-sim")
    if found is None:
        print("evm-digest demo: seidb-sim is not installed; run `make venv` first", file=sys.stderr)
        raise SystemExit(EXIT_ERROR)
    return found
