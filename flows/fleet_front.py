"""`evm-digest fleet`: run the fleet-seal flow once for a checked FleetRequest and print the verdict.

Exit codes (evmdigest.fleet.report): 0 all agree and match, 1 disagreement or mismatch (odd nodes on the
last line), 2 incomplete or failed (nothing to compare, bad setup), 3 orchestration unavailable.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import httpx
import pandas as pd

from blocks import DigestSink
from evmdigest.fleet.nodes import FleetRequest
from evmdigest.fleet.publish import FleetOutcome
from evmdigest.fleet.report import EXIT_INCOMPLETE, EXIT_ORCHESTRATION, exit_code, fleet_rows, headline

API_URL_ENV = "PREFECT_API_URL"
UNREACHABLE = ("Failed to reach API", "ephemeral Prefect API server")


def _fail(code: int, message: str) -> int:
    print(f"evm-digest fleet: {message}", file=sys.stderr)
    return code


def _api_down() -> str | None:
    """Why the configured Prefect API cannot orchestrate, or None (no API configured is fine locally)."""
    url = os.environ.get(API_URL_ENV)
    if not url:
        return None
    try:
        status = httpx.get(f"{url.rstrip('/')}/health", timeout=5).status_code
    except httpx.HTTPError as exc:
        return f"Prefect API {url} is unreachable ({type(exc).__name__}); start it or fix {API_URL_ENV}, then retry"
    return f"Prefect API {url} answered HTTP {status} to /health; retry later" if status >= 500 else None


def run_fleet(request: FleetRequest) -> int:
    if request.pool and not os.environ.get(API_URL_ENV):
        return _fail(EXIT_ORCHESTRATION, f"--pool needs {API_URL_ENV}: the Prefect server the node workers poll")
    down = _api_down()
    if down:
        return _fail(EXIT_ORCHESTRATION, down)
    if not os.environ.get(API_URL_ENV):
        # The ephemeral server's telemetry races its own SQLite file and prints a harmless traceback.
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    sink = None
    if request.sink_url is not None:
        sink = DigestSink(url=request.sink_url, endpoint_url=request.endpoint_url, region=request.region)
    try:
        from flows.fleet import fleet_seal  # Prefect (and maybe an ephemeral server) loads only now

        state: Any = fleet_seal(
            height=request.height, nodes=list(request.nodes), normalizations=request.normalizations,
            pool=request.pool, seidb_path=request.seidb_path, sink=sink, node_timeout=request.node_timeout,
            scan_timeout=request.scan_timeout, return_state=True,
        )  # fmt: skip
    except Exception as exc:  # Prefect could not start or reach its API: no traceback for an expected failure
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        orchestration = isinstance(exc, httpx.TransportError) or any(t in text for t in UNREACHABLE)
        return _fail(EXIT_ORCHESTRATION if orchestration else EXIT_INCOMPLETE, text)
    try:
        data = state.result(raise_on_failure=False)
    except Exception:  # a result that cannot be read is a failed run, reported below
        data = None
    if not isinstance(data, FleetOutcome):
        message = state.message or state.name
        code = EXIT_ORCHESTRATION if any(t in message for t in UNREACHABLE) else EXIT_INCOMPLETE
        return _fail(code, f"fleet run {state.name}: {message}")
    print_outcome(data)
    return exit_code(data.verdict)


def print_outcome(outcome: FleetOutcome) -> None:
    verdict = outcome.verdict
    print(f"\nFleet at height {verdict.height} (digests abbreviated; ✓ majority, ✗ differs, ? no majority)\n")
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
