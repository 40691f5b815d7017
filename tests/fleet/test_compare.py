"""compare_fleet: the majority per endpoint, odd nodes, the tie rule, own mismatches and incomplete fleets."""

from __future__ import annotations

import pytest

from evmdigest.fleet.compare import RecordsDisagree, compare_fleet, pair_endpoints
from evmdigest.fleet.verdict import FLATKV, NodeState
from evmdigest.models import Normalization
from tests.fleet.records import BOTH, HEIGHT, entry, failed, record, state_digest


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
