"""Sealed records for ledger tests, written through the real publish path (`publish` + `segments.record_key`).

Two node states from sei-chain's golden reports, relabelled to any height: STATE_A (FlatKV h4 = memIAVL
h4) and STATE_B (FlatKV h2 = memIAVL h2); MISMATCH pairs FlatKV h4 with a memIAVL h2 (own stores differ).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from evmdigest.emit import Sink
from evmdigest.models import DigestReport, Normalization
from evmdigest.segments import record_key
from evmdigest.seidb import parse_report
from evmdigest.verdict.outcome import PublishedRecord
from evmdigest.verdict.publish import publish
from evmdigest.verdict.records import compare
from tests.golden import golden_json_line

State = Literal["a", "b", "mismatch"]
BOTH = (Normalization.SEMANTIC, Normalization.TRANSLATOR)
CASES: dict[str, tuple[str, str]] = {
    "a": ("digest/flatkv-h4", "digest/memiavl-semantic-replay-h4"),
    "b": ("digest/flatkv-h2", "digest/memiavl-semantic-snapshot-h2"),
    "mismatch": ("digest/flatkv-h4", "digest/memiavl-semantic-snapshot-h2"),
}


def _report(case: str, height: int) -> DigestReport:
    return parse_report(golden_json_line(case)).model_copy(update={"version": height, "requested_height": height})


def final_digest(state: State) -> str:
    return parse_report(golden_json_line(CASES[state][0])).final.digest


def seal(
    sink: Sink,
    node: str | None,
    heights: Iterable[int],
    *,
    state: State = "a",
    normalizations: Iterable[Normalization] = BOTH,
    label: str | None = None,
) -> list[PublishedRecord]:
    """Publish records of `node` (None: the flat layout, labelled `label`) at `heights` in the given state."""
    flatkv_case, memiavl_case = CASES[state]
    published = []
    for height in heights:
        for normalization in normalizations:
            record = compare(
                height, normalization, _report(flatkv_case, height), _report(memiavl_case, height),
                node=node or label,
            )  # fmt: skip
            published.append(publish(sink, record_key(height, normalization, node), record))
    return published
