"""models.py: the legacy/misc naming rule (stated once) and bucket lookup by either name."""

from __future__ import annotations

import pytest

from evmdigest.models import BUCKETS, Generation, bucket_label, fourth_bucket_name
from evmdigest.seidb import parse_report
from tests.golden import golden_json_line


def test_the_fourth_bucket_is_legacy_only_in_seed_era_text() -> None:
    assert [fourth_bucket_name(g) for g in Generation] == ["legacy", "misc", "misc"]


@pytest.mark.parametrize(
    ("generations", "label"),
    [
        ((Generation.LEGACY, Generation.LEGACY), "legacy"),
        ((Generation.LEGACY, Generation.MISC), "misc"),  # mixed forms use today's name
        ((Generation.JSON,), "misc"),
    ],
)
def test_side_by_side_labels(generations: tuple[Generation, ...], label: str) -> None:
    assert bucket_label("misc", generations) == label
    assert [bucket_label(name, generations) for name in BUCKETS[:3]] == list(BUCKETS[:3])


def test_a_bucket_is_found_by_either_name_and_nothing_else() -> None:
    report = parse_report(golden_json_line("digest/flatkv-h2"))
    assert report.bucket("legacy") == report.bucket("misc") == report.misc
    with pytest.raises(KeyError, match="account, code, storage, misc, legacy, final"):
        report.bucket("balance")
