"""`evm-digest fleet`: run the fleet-seal flow once for a checked FleetRequest and print the verdict.

Exit codes are evmdigest/exits.py's fleet table: 0 all agree and match, 1 disagreement or mismatch (odd
nodes on the last line), 2 incomplete or failed (nothing to compare, bad setup), 3 orchestration
unavailable. Orchestration is checked and recognised exactly as for `run` (flows/orchestration.py);
failures are raised as one line + hint for the CLI to print (evmdigest.exits).
"""

from __future__ import annotations

import os
from typing import Any

from evmdigest.exits import OrchestrationUnavailable
from evmdigest.fleet.nodes import FleetRequest
from evmdigest.fleet.publish import FleetOutcome
from evmdigest.fleet.report import exit_code, fleet_rows, headline
from flows import orchestration
from flows.front_door import failure_of


def run_fleet(request: FleetRequest) -> int:
    """Run the fleet flow once; print the verdict; return its exit code.

    Raises OrchestrationUnavailable when Prefect cannot be reached or started (the CLI prints it, exit 3)."""
    if request.pool and not os.environ.get(orchestration.API_URL_ENV):
        raise OrchestrationUnavailable(
            f"--pool needs {orchestration.API_URL_ENV}: the Prefect server the node workers poll",
            hint=f"set {orchestration.API_URL_ENV} to that server's API, or drop --pool to run the gates here",
        )
    state = orchestration.run_flow(lambda: _run_flow(request))
    outcome = _outcome_of(state)
    if outcome is None:
        raise failure_of(state)
    print_outcome(outcome)
    return exit_code(outcome.verdict)


def _run_flow(request: FleetRequest) -> Any:
    # Imported here: loading Prefect (and an ephemeral server when no API is configured) is slow.
    from blocks import DigestSink
    from flows.fleet import fleet_seal

    orchestration.quiet_console_tracebacks()
    sink = None
    if request.sink_url is not None and (request.endpoint_url or request.region):
        sink = DigestSink(url=request.sink_url, endpoint_url=request.endpoint_url, region=request.region)
    return fleet_seal(
        height=request.height, nodes=list(request.nodes), normalizations=request.normalizations,
        pool=request.pool, seidb_path=request.seidb_path, sink=sink,
        sink_url=None if sink is not None else request.sink_url, node_timeout=request.node_timeout,
        scan_timeout=request.scan_timeout, return_state=True,
    )  # fmt: skip


def _outcome_of(state: Any) -> FleetOutcome | None:
    try:
        data = state.result(raise_on_failure=False)
    except Exception:  # a result that cannot be read is an error outcome, reported by the caller
        return None
    return data if isinstance(data, FleetOutcome) else None


def print_outcome(outcome: FleetOutcome) -> None:
    import pandas as pd  # only once there is a table to show

    verdict = outcome.verdict
    marks = "against the logical majority: ✓ equal, ✗ differs, ? no majority"
    print(f"\nFleet at height {verdict.height} (digests abbreviated; {marks})\n")
    print(pd.DataFrame(fleet_rows(verdict)).to_markdown(index=False))
    print()
    for name, entry in verdict.nodes.items():
        if entry.message and entry.state.value != "sealed":
            print(f"{name:<12} {entry.state.value}: {entry.message}")
        for reason in verdict.odd_reasons.get(name, []):
            print(f"{name:<12} odd: {reason}")
    sealed = "already sealed" if outcome.already_sealed else "sealed"
    print(f"fleet verdict {sealed}: {outcome.uri}")
    print(f"  sha256  {outcome.uncompressed_sha256}  (uncompressed payload; `evm-digest verify <object>`)")
    print(headline(verdict))
