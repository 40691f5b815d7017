"""`build_ledger`: list, read and verify every record under a sink, then the table, its views and a summary.

Exit codes (`Ledger.exit_code`, shared by `evm-digest ledger` and the flow's state):
0 every record verified and consistent; 1 a mismatch, a disagreement (across nodes or in a fleet
verdict), a missing height or an unverifiable object was found. (2, the sink could not be read, is
the caller's: `LedgerError`.)
"""

from __future__ import annotations

import json
import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from evmdigest.emit import Sink
from evmdigest.ledger import views
from evmdigest.ledger.scan import DEFAULT_WORKERS, list_entries, read_rows

EXIT_OK, EXIT_FINDINGS = 0, 1
SHORT = 16  # hex characters of a digest shown in tables (as the gate's terminal table does)
_LIST_COLUMNS = ("mismatched_buckets", "odd_nodes")


@dataclass
class Ledger:
    """Every sealed record under one sink, and what is wrong with the set."""

    where: str
    table: pd.DataFrame
    missing: pd.DataFrame
    disagreements: pd.DataFrame
    unverifiable: pd.DataFrame
    verified: bool
    ignored: int = 0
    nodes_without_records: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def mismatches(self) -> pd.DataFrame:
        return views.mismatches(self.table)

    @property
    def fleet_issues(self) -> pd.DataFrame:
        return views.fleet_issues(self.table)

    def findings(self) -> dict[str, int]:
        """What makes the ledger fail, counted (all zero: exit 0)."""
        return {
            "unverifiable": len(self.unverifiable),
            "disagreements": len(self.disagreements) + int((self.fleet_issues["agree"] == False).sum()),  # noqa: E712
            "mismatches": len(self.mismatches),
            "missing": len(self.missing) + len(self.nodes_without_records),
            "incomplete_fleet": int((self.fleet_issues["complete"] == False).sum()),  # noqa: E712
        }

    @property
    def exit_code(self) -> int:
        return EXIT_FINDINGS if any(self.findings().values()) else EXIT_OK

    @property
    def failed(self) -> bool:
        """Integrity is in doubt: an object cannot be trusted, or nodes disagree (the flow fails on these)."""
        found = self.findings()
        return bool(found["unverifiable"] or found["disagreements"])

    def headline(self) -> str:
        endpoints = self.table[self.table["kind"] == "endpoint"]
        counts = (
            f"{len(endpoints)} endpoint record(s), {len(self.table) - len(endpoints)} fleet verdict(s) "
            f"on {endpoints['node'].nunique()} node(s)"
        )
        if len(self.table):
            counts += f", heights {self.table['height'].min()}..{self.table['height'].max()}"
        found = {name: n for name, n in self.findings().items() if n}
        verdict = "LEDGER OK" if not found else "LEDGER: " + ", ".join(f"{n} {name}" for name, n in found.items())
        sealed = "seals verified" if self.verified else "seals NOT verified (--no-verify)"
        return f"{verdict} — {counts} in {self.where}; {sealed}"

    def summary_lines(self, limit: int = 20) -> list[str]:
        """The headline, then one line per finding (at most `limit` per kind)."""
        lines = [self.headline()]

        def section(title: str, items: list[str]) -> None:
            if items:
                lines.append(f"{title} ({len(items)}):")
                lines.extend(f"  {item}" for item in items[:limit])
                if len(items) > limit:
                    lines.append(f"  … and {len(items) - limit} more")

        section("unverifiable", [f"{r['uri']}: {r['problem']}: {r['detail']}" for r in _records(self.unverifiable)])
        section(
            "cross-node disagreements",
            [
                f"height {r['height']} {r['normalization']}: odd {', '.join(r['odd_nodes'])} — "
                + ", ".join(f"{node}={digest[:SHORT]}" for node, digest in r["digests"].items())
                for r in _records(self.disagreements)
            ],
        )
        section(
            "fleet verdicts not agreeing/complete",
            [
                f"height {r['height']}: agree={r['agree']} complete={r['complete']} "
                f"odd {', '.join(r['odd_nodes'] or []) or '-'}"
                for r in _records(self.fleet_issues)
            ],
        )
        section(
            "mismatches",
            [
                f"{r['node']} height {r['height']} {r['normalization']}: "
                f"{', '.join(r['mismatched_buckets'] or [])} ({r['uri']})"
                for r in _records(self.mismatches)
            ],
        )
        section("nodes without any record", list(self.nodes_without_records))
        section(
            "missing heights",
            [
                f"{r['node']} height {r['height']} {r['normalization']} (by {r['expected_by']})"
                for r in _records(self.missing)
            ],
        )
        return lines

    def summary_markdown(self) -> str:
        head, *rest = self.summary_lines()
        body = [f"- {line.strip()}" if line.startswith("  ") else f"\n**{line}**\n" for line in rest]
        return "\n".join([f"# {head}", *body, ""])

    def display(self) -> pd.DataFrame:
        """The table for people: short digests, lists joined, blanks for missing values; no URIs or details
        (the summary has those), and the fleet columns only when there are fleet verdicts."""
        drop = ["uri", "detail", "layout", "agree"]
        if not (self.table["kind"] == "fleet").any():
            drop += ["complete", "odd_nodes"]
        shown = flat_table(self.table).drop(columns=drop)
        for column in ("flatkv_digest", "memiavl_digest"):
            shown[column] = shown[column].map(lambda d: f"{d[:SHORT]}…" if isinstance(d, str) else d)
        shown["generated_at"] = self.table["generated_at"].dt.strftime("%Y-%m-%d %H:%M")
        shown = shown.astype(object).where(shown.notna(), "")
        return shown.rename(columns={"normalization": "norm", "mismatched_buckets": "mismatched"})

    def rows_json(self) -> str:
        """Every row as one JSON array (lists stay lists, times are ISO 8601, missing values null)."""
        rows = json.loads(self.table.to_json(orient="records", date_format="iso"))
        return json.dumps(rows, indent=1)

    def write_csv(self, path: Path) -> None:
        flat_table(self.table).to_csv(path, index=False)

    def write_parquet(self, path: Path) -> None:
        self.table.to_parquet(path, index=False)


def _records(frame: pd.DataFrame) -> list[dict[Hashable, Any]]:
    return frame.to_dict(orient="records")


def flat_table(table: pd.DataFrame) -> pd.DataFrame:
    """The table with list cells joined by commas (for CSV and text)."""
    flat = table.copy()
    for column in _LIST_COLUMNS:
        flat[column] = flat[column].map(lambda v: ",".join(v) if isinstance(v, list) else v)
    return flat


def build_ledger(
    sink: Sink,
    *,
    verify: bool = True,
    workers: int = DEFAULT_WORKERS,
    interval: int | None = None,
    snapshots: Mapping[str, Sequence[int]] | None = None,
    nodes: Sequence[str] | None = None,
) -> Ledger:
    """The ledger of `sink`. `nodes` restricts endpoint rows (and missing heights) to those nodes; fleet
    verdicts are always kept. Raises LedgerError if the sink cannot be listed, ValueError for a bad interval."""
    if interval is not None and interval < 1:
        raise ValueError(f"interval: {interval} must be a positive number of blocks")
    started = time.perf_counter()
    entries, ignored = list_entries(sink)
    table = views.ledger_table(read_rows(sink, entries, verify=verify, workers=workers))
    if nodes:
        table = table[(table["kind"] == "fleet") | table["node"].isin(list(nodes))].reset_index(drop=True)
    return Ledger(
        where=sink.describe(),
        table=table,
        missing=views.missing_heights(table, interval=interval, snapshots=snapshots, nodes=nodes),
        disagreements=views.disagreements(table),
        unverifiable=views.unverifiable(table),
        verified=verify,
        ignored=ignored,
        nodes_without_records=views.nodes_without_records(table, nodes),
        seconds=time.perf_counter() - started,
    )
