"""The ledger's pandas table and the views derived from it: missing heights, disagreements, unverifiable.

- Missing heights, per node: each height a node should have sealed (every `interval` blocks between its
  first and last sealed height, and/or each snapshot in its memIAVL dir) for each normalization the
  node seals, that has no record. A node that seals only one normalization is not asked for the other.
- Disagreements: at one height and normalization, nodes whose FlatKV final digests differ. The
  majority digest is the most common one; a tie has no majority and names every node.
- Unverifiable: every row with a problem (unreadable, bad or missing seal, tampered, not a record).
Rows with a problem never take part in a disagreement: their content is not trusted.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from evmdigest.ledger.rows import COLUMNS
from evmdigest.models import Normalization

# An interval this fine would ask for more heights than anyone means to check: refuse, say why.
MAX_EXPECTED_HEIGHTS = 1_000_000
MISSING_COLUMNS = ("node", "height", "normalization", "expected_by")
DISAGREEMENT_COLUMNS = ("height", "normalization", "majority_digest", "odd_nodes", "digests")
UNVERIFIABLE_COLUMNS = ("kind", "height", "node", "normalization", "problem", "detail", "uri")


def ledger_table(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per object, ordered by height, then fleet verdicts after endpoint records, node, normalization."""

    def order(row: Mapping[str, Any]) -> tuple[Any, ...]:
        return (row["height"], row["kind"] != "endpoint", row["node"] or "", row["normalization"] or "", row["uri"])

    ordered: list[Mapping[str, Any]] = sorted(rows, key=order)
    table = pd.DataFrame(ordered, columns=list(COLUMNS))
    table["height"] = table["height"].astype("int64")
    table["generated_at"] = pd.to_datetime(table["generated_at"], utc=True, errors="coerce", format="ISO8601")
    return table


def _endpoints(table: pd.DataFrame) -> pd.DataFrame:
    return table[(table["kind"] == "endpoint") & table["node"].notna()]


def missing_heights(
    table: pd.DataFrame,
    *,
    interval: int | None = None,
    snapshots: Mapping[str, Sequence[int]] | None = None,
    nodes: Sequence[str] | None = None,
) -> pd.DataFrame:
    """(node, height, normalization, expected_by) for each expected record that is not there."""
    if interval is not None and interval < 1:
        raise ValueError(f"interval: {interval} must be a positive number of blocks")
    snapshots = snapshots or {}
    endpoints = _endpoints(table)
    present: dict[str, set[tuple[int, str]]] = defaultdict(set)
    norms_of: dict[str, set[str]] = defaultdict(set)
    for node, height, norm in zip(endpoints["node"], endpoints["height"], endpoints["normalization"], strict=True):
        present[node].add((int(height), norm))
        norms_of[node].add(norm)
    everywhere = set().union(*norms_of.values()) or {n.value for n in Normalization}
    missing: list[tuple[str, int, str, str]] = []
    for node in sorted(set(nodes) if nodes else set(present) | set(snapshots)):
        expected: dict[int, str] = {}
        heights = sorted(h for h, _ in present[node])
        if interval is not None and heights:
            if (heights[-1] - heights[0]) // interval > MAX_EXPECTED_HEIGHTS:
                raise ValueError(
                    f"interval: {interval} expects over {MAX_EXPECTED_HEIGHTS} heights on node {node} "
                    f"({heights[0]}..{heights[-1]}); pass the segment interval, e.g. the memIAVL snapshot interval"
                )
            expected.update(dict.fromkeys(range(heights[0], heights[-1] + 1, interval), f"interval {interval}"))
        expected.update(dict.fromkeys(snapshots.get(node, ()), "snapshot"))
        for height in sorted(expected):
            for norm in sorted(norms_of[node] or everywhere):
                if (height, norm) not in present[node]:
                    missing.append((node, height, norm, expected[height]))
    return pd.DataFrame(missing, columns=list(MISSING_COLUMNS))


def nodes_without_records(table: pd.DataFrame, nodes: Sequence[str] | None) -> list[str]:
    """The asked-for nodes that have no endpoint record at all (a typo, or a node never sealed)."""
    seen = set(_endpoints(table)["node"])
    return sorted(set(nodes or ()) - seen)


def disagreements(table: pd.DataFrame) -> pd.DataFrame:
    """Heights/normalizations where trusted records of different nodes carry different FlatKV digests."""
    trusted = _endpoints(table)
    trusted = trusted[trusted["problem"].isna() & trusted["flatkv_digest"].notna()]
    groups: dict[tuple[int, str], dict[str, str]] = defaultdict(dict)
    for node, height, norm, digest in zip(
        trusted["node"], trusted["height"], trusted["normalization"], trusted["flatkv_digest"], strict=True
    ):
        groups[(int(height), norm)][node] = digest
    found = []
    for (height, norm), digests in sorted(groups.items()):
        counts = Counter(digests.values()).most_common()
        if len(counts) < 2:
            continue
        majority = counts[0][0] if counts[0][1] > counts[1][1] else None
        odd = sorted(node for node, digest in digests.items() if digest != majority)
        found.append((height, norm, majority, odd, dict(sorted(digests.items()))))
    return pd.DataFrame(found, columns=list(DISAGREEMENT_COLUMNS))


def unverifiable(table: pd.DataFrame) -> pd.DataFrame:
    return table.loc[table["problem"].notna(), list(UNVERIFIABLE_COLUMNS)].reset_index(drop=True)


def mismatches(table: pd.DataFrame) -> pd.DataFrame:
    """Readable endpoint records whose own stores differ (FlatKV vs memIAVL on one node)."""
    return table[(table["kind"] == "endpoint") & (table["match"] == False)].reset_index(drop=True)  # noqa: E712


def fleet_issues(table: pd.DataFrame) -> pd.DataFrame:
    """Fleet verdicts that say the nodes disagree or that the fleet run was incomplete."""
    fleet = table[table["kind"] == "fleet"]
    return fleet[(fleet["agree"] == False) | (fleet["complete"] == False)].reset_index(drop=True)  # noqa: E712
