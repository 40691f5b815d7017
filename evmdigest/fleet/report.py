"""How a fleet verdict reads: the node x endpoint table, a markdown summary, a headline and the exit code.

Exit codes (`evm-digest fleet`): 0 complete, all nodes agree and every node's own stores match;
1 a disagreement or a mismatch among a complete fleet; 2 incomplete (a node failed or timed out;
the others are still sealed and compared) or nothing could be compared; 3 orchestration unavailable.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd

from evmdigest.exits import ExitCode
from evmdigest.fleet.verdict import EndpointDigest, FleetVerdict, NodeState
from evmdigest.models import MigrationBoundary, NodeKind

# The fleet's rows of the one exit-code table (evmdigest/exits.py, FLEET_EXIT_CODES).
EXIT_CLEAN, EXIT_ODD, EXIT_INCOMPLETE = ExitCode.OK, ExitCode.MISMATCH, ExitCode.FAILED
SHORT = 12
AGREES, DIFFERS, NO_MAJORITY = "✓", "✗", "?"


def short(digest: str) -> str:
    return f"{digest[:SHORT]}…"


def exit_code(verdict: FleetVerdict) -> int:
    if not verdict.complete:
        return EXIT_INCOMPLETE
    return EXIT_CLEAN if verdict.agree and verdict.all_match else EXIT_ODD


def _cell(mine: EndpointDigest | None, majority: EndpointDigest | None) -> str:
    if mine is None:
        return "—"
    mark = NO_MAJORITY if majority is None else AGREES if mine.same(majority) else DIFFERS
    return f"{mark} {short(mine.digest)}"


def boundary_cell(boundary: MigrationBoundary | None) -> str:
    if boundary is None:
        return ""
    return boundary.status.value + (f" {boundary.module}" if boundary.module else "")


def fleet_rows(verdict: FleetVerdict) -> list[dict[str, Any]]:
    """One row per node (then the majority): kind, state, own match, its vote against the logical majority,
    and per endpoint a mark (against the logical majority) and a short digest; composite nodes' boundary."""
    logical = verdict.logical_majority
    boundaries = any(entry.boundary is not None for entry in verdict.nodes.values())
    rows = []
    for name, entry in verdict.nodes.items():
        row: dict[str, Any] = {
            "node": name,
            "kind": entry.kind.value,
            "state": entry.state.value,
            "own_match": "—" if entry.own_match is None else (AGREES if entry.own_match else DIFFERS),
            "logical": _cell(entry.endpoints.get(entry.logical_endpoint or ""), logical),
        }
        for endpoint in verdict.majority:
            row[endpoint] = _cell(entry.endpoints.get(endpoint), logical)
        if boundaries:
            row["boundary"] = boundary_cell(entry.boundary)
        row["odd"] = "odd" if name in verdict.odd_nodes else ""
        rows.append(row)
    majority_row: dict[str, Any] = {"node": "majority", "kind": "", "state": "", "own_match": ""}
    majority_row["logical"] = short(logical.digest) if logical else "no majority"
    for endpoint, majority in verdict.majority.items():
        majority_row[endpoint] = short(majority.digest) if majority else "no majority"
    if boundaries:
        majority_row["boundary"] = ""
    majority_row["odd"] = ""
    return [*rows, majority_row]


def headline(verdict: FleetVerdict) -> str:
    """One line: the fleet's state at the height (the CLI's and the flow state's message)."""
    nodes = len(verdict.nodes)
    if verdict.clean:
        kinds = Counter(entry.kind for entry in verdict.nodes.values())
        if set(kinds) == {NodeKind.PAIR}:
            return f"fleet at {verdict.height}: {nodes} nodes agree and every node's stores match"
        mix = ", ".join(f"{n} {kind.value}" for kind, n in kinds.items())
        pairs = "; every pair node's stores match" if NodeKind.PAIR in kinds else ""
        return f"fleet at {verdict.height}: {nodes} nodes agree on the logical state ({mix}){pairs}"
    parts = []
    unfinished = verdict.unfinished()
    if unfinished:
        states = ", ".join(f"{n} {verdict.nodes[n].state.value}" for n in unfinished)
        parts.append(f"incomplete ({states})")
    if verdict.odd_nodes:
        parts.append(f"odd nodes: {', '.join(verdict.odd_nodes)}")
    elif not unfinished:
        parts.append("no sealed node to compare")
    return f"fleet at {verdict.height}: " + "; ".join(parts)


def fleet_markdown(verdict: FleetVerdict, uri: str | None = None, *, already_sealed: bool = False) -> str:
    table = pd.DataFrame(fleet_rows(verdict)).to_markdown(index=False)
    lines = [f"# Fleet verdict at height {verdict.height}", "", f"**{headline(verdict)}**", "", table, ""]
    lines.append(f"complete: {verdict.complete} · agree: {verdict.agree} · all nodes match: {verdict.all_match}")
    if uri:
        lines += ["", f"sealed at `{uri}`" + (" (already sealed)" if already_sealed else "")]
    details = []
    for name, entry in verdict.nodes.items():
        if entry.state is not NodeState.SEALED:
            details.append(f"- **{name}** {entry.state.value}: {entry.message or 'no message'}")
        for reason in verdict.odd_reasons.get(name, []):
            details.append(f"- **{name}** odd: {reason}")
        if entry.boundary is not None:
            details.append(f"- {name} ({entry.kind.value}) read at `{entry.boundary.boundary_text()}`")
        for what, ref in entry.records.items():
            details.append(f"- {name} {what}: `{ref.uri}`")
    return "\n".join([*lines, "", *details, ""])
