"""compare_fleet: the majority per endpoint, odd nodes, the tie rule, own mismatches and incomplete fleets."""

from __future__ import annotations

import pytest

from evmdigest.fleet.compare import RecordsDisagree, compare_fleet, pair_endpoints
from evmdigest.fleet.verdict import COMPOSITE, FLATKV, NodeState
from evmdigest.models import NodeKind, Normalization
from tests.fleet.records import BOTH, HEIGHT, entry, failed, kind_entry, record, state_digest

COMPOSITE_KIND, MEMIAVL, FLATKV_KIND = NodeKind.COMPOSITE, NodeKind.MEMIAVL, NodeKind.FLATKV


def test_three_equal_nodes_agree_with_a_majority_on_every_endpoint() -> None:
    verdict = compare_fleet(HEIGHT, BOTH, [entry("a"), entry("b"), entry("c")])
    assert verdict.agree and verdict.all_match and verdict.complete and verdict.clean
    assert verdict.odd_nodes == [] and verdict.odd_reasons == {}
    assert list(verdict.majority) == ["flatkv", "memiavl/semantic", "memiavl/translator"]
    assert all(d is not None and d.same(state_digest("s")) for d in verdict.majority.values())


def test_a_node_whose_whole_state_differs_is_the_odd_one_on_every_endpoint() -> None:
    verdict = compare_fleet(HEIGHT, BOTH, [entry("a"), entry("b", state="other"), entry("c")])
    assert verdict.odd_nodes == ["b"] and not verdict.agree
    assert verdict.all_match  # b's own stores agree with each other: only the fleet shows b is wrong
    assert verdict.majority[FLATKV] == state_digest("s")
    assert len(verdict.odd_reasons["b"]) == 3
    assert "flatkv differs from the majority (account, code, storage, misc)" in verdict.odd_reasons["b"]


def test_a_diverged_flatkv_is_odd_against_the_majority_and_against_its_own_memiavl() -> None:
    verdict = compare_fleet(HEIGHT, BOTH, [entry("a"), entry("b"), entry("c", changed={FLATKV: "storage"})])
    assert verdict.odd_nodes == ["c"] and not verdict.agree and not verdict.all_match
    assert verdict.odd_reasons["c"] == [
        "flatkv differs from the majority (storage)",
        "own stores differ (flatkv vs memiavl/semantic; flatkv vs memiavl/translator)",
    ]


def test_tie_rule_one_against_one_has_no_majority_and_both_nodes_are_odd() -> None:
    verdict = compare_fleet(HEIGHT, BOTH, [entry("a"), entry("b", state="other")])
    assert verdict.majority == {ep: None for ep in verdict.majority}
    assert verdict.odd_nodes == ["a", "b"] and not verdict.agree
    assert verdict.odd_reasons["a"][0] == "flatkv: no majority (2 digests among 2 nodes)"


@pytest.mark.parametrize(
    ("states", "odd"),
    [
        (["s", "s", "t", "t"], ["a", "b", "c", "d"]),  # 2-2: a tie, nobody cleared
        (["s", "s", "t", "t", "u"], ["a", "b", "c", "d", "e"]),  # 2-2-1: a plurality of 2 of 5 is no majority
        (["s", "s", "s", "t", "t"], ["d", "e"]),  # 3 of 5 is a majority
        (["s", "t", "u"], ["a", "b", "c"]),  # all different
    ],
)
def test_majority_means_more_than_half_of_the_nodes_that_report(states: list[str], odd: list[str]) -> None:
    names = "abcde"[: len(states)]
    verdict = compare_fleet(HEIGHT, BOTH, [entry(n, state=s) for n, s in zip(names, states, strict=True)])
    assert verdict.odd_nodes == odd
    assert (verdict.majority[FLATKV] is not None) == (len(odd) < len(states))


def test_count_alone_differing_makes_a_node_odd() -> None:
    bigger = entry("c").model_copy(
        update={"endpoints": {ep: d.model_copy(update={"count": 101}) for ep, d in entry("c").endpoints.items()}}
    )
    verdict = compare_fleet(HEIGHT, BOTH, [entry("a"), entry("b"), bigger])
    assert verdict.odd_nodes == ["c"]
    assert verdict.odd_reasons["c"][0] == "flatkv differs from the majority (count)"


def test_a_failed_node_makes_the_fleet_incomplete_while_the_others_are_still_compared() -> None:
    verdict = compare_fleet(HEIGHT, BOTH, [entry("a"), entry("b"), failed("c", NodeState.TIMED_OUT)])
    assert not verdict.complete and verdict.agree and verdict.all_match and not verdict.clean
    assert verdict.unfinished() == ["c"] and verdict.odd_nodes == []
    assert verdict.majority[FLATKV] == state_digest("s")


def test_with_no_sealed_node_nothing_agrees() -> None:
    verdict = compare_fleet(HEIGHT, BOTH, [failed("a"), failed("b")])
    assert not verdict.agree and not verdict.complete
    assert verdict.majority == {ep: None for ep in ("flatkv", "memiavl/semantic", "memiavl/translator")}


def test_pair_endpoints_read_flatkv_once_and_memiavl_per_normalization() -> None:
    records = {n: record(n) for n in BOTH}
    endpoints = pair_endpoints(records)
    assert endpoints["flatkv"] == endpoints["memiavl/semantic"] == state_digest("s")
    diverged = pair_endpoints({n: record(n, flatkv_change="storage") for n in BOTH})
    assert diverged["flatkv"] == state_digest("s", "storage") and diverged["memiavl/translator"] == state_digest("s")


def test_records_from_two_flatkv_states_are_refused() -> None:
    records = {Normalization.SEMANTIC: record(Normalization.SEMANTIC), Normalization.TRANSLATOR: record(
        Normalization.TRANSLATOR, flatkv_change="code")}  # fmt: skip
    with pytest.raises(RecordsDisagree, match="different store states"):
        pair_endpoints(records)


def test_the_verdict_projection_leaves_out_time_and_provenance() -> None:
    one = compare_fleet(HEIGHT, BOTH, [entry("a"), entry("b")])
    two = compare_fleet(HEIGHT, BOTH, [entry("a").model_copy(update={"flow_run_id": "x", "message": "m"}), entry("b")])
    assert one.verdict() == two.verdict()
    assert one.verdict() != compare_fleet(HEIGHT, BOTH, [entry("a"), entry("b", state="t")]).verdict()


def test_nodes_of_every_kind_vote_on_one_logical_state() -> None:
    nodes = [kind_entry("mid", COMPOSITE_KIND), kind_entry("old", MEMIAVL), kind_entry("new", FLATKV_KIND), entry("p")]
    verdict = compare_fleet(HEIGHT, BOTH, nodes)
    assert verdict.clean and verdict.odd_nodes == [] and verdict.logical_majority == state_digest("s")
    assert list(verdict.majority) == ["flatkv", "memiavl/semantic", "memiavl/translator", "composite"]
    assert verdict.nodes["mid"].own_match is None and verdict.all_match  # one logical view: nothing of its own to match


def test_a_composite_node_is_compared_with_the_others_not_alone_on_its_endpoint() -> None:
    """Per endpoint name the composite node would be a majority of one; on the logical key it is odd."""
    nodes = [kind_entry("mid", COMPOSITE_KIND, changed="storage"), kind_entry("old", MEMIAVL),
             kind_entry("new", FLATKV_KIND)]  # fmt: skip
    verdict = compare_fleet(HEIGHT, BOTH, nodes)
    assert verdict.odd_nodes == ["mid"] and not verdict.agree and verdict.all_match
    assert verdict.odd_reasons["mid"] == ["composite differs from the majority (storage)"]
    assert verdict.majority[COMPOSITE] == state_digest("s", "storage")  # detail only: it decides nothing


def test_a_row_on_both_sides_of_a_composite_node_is_odd_by_count() -> None:
    nodes = [kind_entry("mid", COMPOSITE_KIND, extra=1), kind_entry("old", MEMIAVL), entry("p")]
    verdict = compare_fleet(HEIGHT, BOTH, nodes)
    assert verdict.odd_nodes == ["mid"]
    assert verdict.odd_reasons["mid"] == ["composite differs from the majority (storage count 26 vs 25)"]


def test_a_tie_across_kinds_has_no_majority_and_a_third_node_of_any_kind_breaks_it() -> None:
    verdict = compare_fleet(HEIGHT, BOTH, [kind_entry("mid", COMPOSITE_KIND), kind_entry("new", FLATKV_KIND, "t")])
    assert verdict.odd_nodes == ["mid", "new"] and verdict.logical_majority is None  # 1-1: a tie
    assert verdict.odd_reasons["mid"] == ["composite: no majority (2 digests among 2 nodes)"]
    verdict = compare_fleet(HEIGHT, BOTH, [kind_entry("mid", COMPOSITE_KIND), kind_entry("new", FLATKV_KIND, "t"),
                                           entry("p", "t")])  # fmt: skip
    assert verdict.odd_nodes == ["mid"] and verdict.logical_majority == state_digest("t")


def test_every_digest_of_a_node_must_equal_the_majority_not_only_its_vote() -> None:
    old = kind_entry("old", MEMIAVL)
    translator = old.endpoints["memiavl/translator"].model_copy(update={"digest": state_digest("x").digest})
    odd = old.model_copy(update={"endpoints": {**old.endpoints, "memiavl/translator": translator}})
    verdict = compare_fleet(HEIGHT, BOTH, [odd, kind_entry("mid", COMPOSITE_KIND), kind_entry("new", FLATKV_KIND)])
    assert verdict.odd_nodes == ["old"]
    assert verdict.odd_reasons["old"] == ["memiavl/translator differs from the majority (final)"]


def test_the_verdict_projection_holds_kinds_and_the_boundary() -> None:
    verdict = compare_fleet(HEIGHT, BOTH, [kind_entry("mid", COMPOSITE_KIND), kind_entry("old", MEMIAVL)])
    nodes = verdict.verdict()["nodes"]
    assert nodes["mid"]["kind"] == "composite" and nodes["old"]["boundary"] is None
    assert nodes["mid"]["boundary"] == {"status": "in_progress", "module": "evm", "key": "03ab"}
