"""`evm-digest run` and `evm-digest demo`: run the flow once and print what an operator needs.

Exit codes are evmdigest/exits.py's table: 0 every normalization matches (or nothing to seal), 1 digests
differ (records published), 2 nothing published (parameter, gate, seidb, sink), 3 orchestration
unavailable. The request arrives checked and resolved (cli.py); Prefect is imported only after the
orchestration preflight, so a dead API answers in about a second.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from evmdigest.exits import ExitCode, Failure, exit_code_of, one_line
from evmdigest.models import NodeKind
from evmdigest.request import DemoRequest, RunRequest
from evmdigest.verdict.outcome import GateOutcome
from flows import orchestration

DEMO_HEIGHT = 213200000


def run(request: RunRequest) -> int:
    """Run the flow once for a checked request; print the outcome; return the exit code.

    Raises OrchestrationUnavailable when Prefect cannot be reached or started (the CLI prints it, exit 3).
    """
    state = orchestration.run_flow(lambda: _run_flow(request))
    outcome = _outcome_of(state)
    if outcome is None:
        raise failure_of(state)
    print_outcome(outcome)
    if outcome.nothing_to_seal:
        print("nothing to seal: every memiavl snapshot already has its records")
        return ExitCode.OK
    if state.is_completed():
        return ExitCode.OK
    print(f"evm-digest: {state.message}", file=sys.stderr)
    return ExitCode.MISMATCH


def _run_flow(request: RunRequest) -> Any:
    # Imported here: loading Prefect (and an ephemeral server when no API is configured) is slow.
    from blocks import DigestSink
    from flows.evm_logical_digest import evm_logical_digest

    orchestration.quiet_console_tracebacks()
    sink = None
    if request.sink_url is not None and (request.endpoint_url or request.region):
        sink = DigestSink(url=request.sink_url, endpoint_url=request.endpoint_url, region=request.region)

    def absolute(path: Path | None) -> str | None:
        return None if path is None else str(path.expanduser().resolve())

    return evm_logical_digest(
        flatkv_dir=absolute(request.flatkv_dir),
        memiavl_dir=absolute(request.memiavl_dir),
        height=request.height,
        kind=request.kind,
        normalizations=request.normalizations,
        memiavl_open_mode=request.open_mode,
        seidb_path=request.seidb_path,
        sink=sink,
        sink_url=None if sink is not None else request.sink_url,
        node=request.node,
        scan_timeout=request.timeout,
        allow_overwriting_store=request.allow_overwriting_store,
        localize=request.localize,
        localize_max_keys=request.localize_max_keys,
        return_state=True,
    )


def failure_of(state: Any) -> Failure:
    """What a failed run ended with, as one line + hint; the run's stored logs keep the detail."""
    try:
        error = state.result(raise_on_failure=False)
    except Exception as exc:  # the result could not be read back: the exception says why
        error = exc
    if not isinstance(error, BaseException):
        error = Failure(f"run {state.name}: {state.message or 'no message'}")
    unavailable = orchestration.unavailable(error)
    if unavailable is not None:
        return unavailable
    if isinstance(error, Failure) and error.hint:
        return error
    logs = f"prefect flow-run logs {state.state_details.flow_run_id}"
    hint = getattr(error, "hint", None) or f"the run's log has the details: {logs}"
    return Failure(one_line(error), hint=hint, exit_code=exit_code_of(error))


def _outcome_of(state: Any) -> GateOutcome | None:
    try:
        data = state.result(raise_on_failure=False)
    except Exception:  # a result that cannot be read is an error outcome, reported by the caller
        return None
    return data if isinstance(data, GateOutcome) else None


def print_outcome(outcome: GateOutcome) -> None:
    if not (outcome.published or outcome.node_digests):
        return
    from evmdigest.localize.report import divergence_lines  # pandas: only once there is a table to show
    from evmdigest.tables import display_table

    kind = "" if outcome.kind is NodeKind.PAIR else f", {outcome.kind.value} node"
    print(f"\nEVM logical digest at height {outcome.height} on {outcome.node}{kind} (digests abbreviated)\n")
    print(display_table(outcome.table).to_markdown(index=False))
    print()
    for digest in outcome.node_digests:
        sealed = " already sealed" if digest.already_sealed else ""
        boundary = digest.record.boundary
        print(f"{digest.record.endpoint:<18} SEALED{sealed}  FINAL {digest.record.digest} count={digest.record.count}")
        if boundary is not None:
            print(f"  boundary {boundary.boundary_text()}")
        print(f"  object  {digest.uri}")
        print(f"  sha256  {digest.uncompressed_sha256}  (uncompressed payload; `evm-digest verify <object>`)")
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
    return run(run_request.resolve())


def _simulator() -> str:
    beside = Path(sys.executable).parent / "seidb-sim"
    found = str(beside) if beside.exists() else shutil.which("seidb-sim")
    if found is None:
        raise Failure("seidb-sim is not installed", hint="run `make venv` first")
    return found
