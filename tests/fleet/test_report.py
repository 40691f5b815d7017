"""The fleet verdict for people and scripts: exit codes, headline, the node x endpoint table, markdown,
and the published JSON Schema kept current."""

from __future__ import annotations

import json
from pathlib import Path

from evmdigest.fleet.compare import compare_fleet
from evmdigest.fleet.report import exit_code, fleet_markdown, fleet_rows, headline
from evmdigest.fleet.verdict import FLATKV, NodeState, fleet_json_schema, fleet_json_schema_text
from evmdigest.models import NodeKind
from tests.fleet.records import BOTH, HEIGHT, entry, failed, kind_entry

REPO = Path(__file__).resolve().parents[2]


def test_exit_codes_clean_odd_and_incomplete() -> None:
    assert exit_code(compare_fleet(HEIGHT, BOTH, [entry("a"), entry("b"), entry("c")])) == 0
    assert exit_code(compare_fleet(HEIGHT, BOTH, [entry("a"), entry("b"), entry("c", state="t")])) == 1
    assert exit_code(compare_fleet(HEIGHT, BOTH, [entry("a"), entry("b"), entry("c", changed={FLATKV: "code"})])) == 1
    # incomplete wins: without every node the majority is not final
    assert exit_code(compare_fleet(HEIGHT, BOTH, [entry("a"), entry("b", state="t"), failed("c")])) == 2


def test_headline_names_odd_and_unfinished_nodes() -> None:
    clean = compare_fleet(HEIGHT, BOTH, [entry("a"), entry("b")])
    assert headline(clean) == f"fleet at {HEIGHT}: 2 nodes agree and every node's stores match"
    odd = compare_fleet(HEIGHT, BOTH, [entry("a"), entry("b"), entry("c", state="t")])
    assert headline(odd) == f"fleet at {HEIGHT}: odd nodes: c"
    gone = compare_fleet(HEIGHT, BOTH, [entry("a"), entry("b"), failed("c", NodeState.TIMED_OUT)])
    assert headline(gone) == f"fleet at {HEIGHT}: incomplete (c timed_out)"


def test_table_has_a_row_per_node_and_the_majority_with_marks_and_short_digests() -> None:
    verdict = compare_fleet(HEIGHT, BOTH, [entry("a"), entry("b"), entry("c", state="t"), failed("d")])
    rows = {row["node"]: row for row in fleet_rows(verdict)}
    assert list(rows) == ["a", "b", "c", "d", "majority"]
    majority = verdict.majority[FLATKV]
    assert majority is not None
    assert rows["a"][FLATKV] == f"✓ {majority.digest[:12]}…" and rows["a"]["odd"] == ""
    assert rows["c"][FLATKV].startswith("✗ ") and rows["c"]["odd"] == "odd"
    assert rows["d"][FLATKV] == "—" and rows["d"]["state"] == "failed"
    assert rows["majority"]["memiavl/translator"] == f"{majority.digest[:12]}…"


def test_markdown_summary_states_the_headline_table_and_reasons() -> None:
    verdict = compare_fleet(HEIGHT, BOTH, [entry("a"), entry("b"), entry("c", state="t"), failed("d")])
    text = fleet_markdown(verdict, "file:///s/fleet.json.gz")
    assert f"**{headline(verdict)}**" in text and "| node" in text
    assert "- **d** failed: worker gone" in text and "- **c** odd: flatkv differs from the majority" in text
    assert "sealed at `file:///s/fleet.json.gz`" in text


def test_published_fleet_schema_is_current() -> None:
    published = REPO / "schema" / "fleet-digest.schema.json"
    assert published.read_text() == fleet_json_schema_text(), "regenerate: evm-digest schema --fleet > " + str(
        published.relative_to(REPO)
    )
    properties = json.loads(published.read_text())["properties"]
    assert {"height", "nodes", "majority", "odd_nodes", "agree", "complete", "generated_at"} <= set(properties)
    assert fleet_json_schema()["$id"].endswith("fleet-digest.schema.json")


def test_nodes_of_other_kinds_show_their_kind_vote_and_boundary() -> None:
    nodes = [kind_entry("mid", NodeKind.COMPOSITE), kind_entry("old", NodeKind.MEMIAVL), entry("p")]
    verdict = compare_fleet(HEIGHT, BOTH, nodes)
    assert headline(verdict) == f"fleet at {HEIGHT}: 3 nodes agree on the logical state (1 composite, 1 memiavl, " \
        "1 pair); every pair node's stores match"  # fmt: skip
    rows = {row["node"]: row for row in fleet_rows(verdict)}
    logical = verdict.logical_majority
    assert logical is not None
    assert rows["mid"]["kind"] == "composite" and rows["mid"]["boundary"] == "in_progress evm"
    assert rows["mid"]["logical"] == rows["mid"]["composite"] == f"✓ {logical.digest[:12]}…"
    assert rows["mid"][FLATKV] == "—" and rows["old"]["own_match"] == "—" and rows["p"]["boundary"] == ""
    assert rows["majority"]["logical"] == f"{logical.digest[:12]}…"
    text = fleet_markdown(verdict)
    assert "- mid (composite) read at `MigrationBoundary{status=in_progress, module=evm, key=03ab}`" in text
