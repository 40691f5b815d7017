"""compare() and EndpointDigestRecord: seed field names, per-bucket verdicts, axes, fail-closed heights."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from evmdigest.models import DigestReport, Generation, Normalization
from evmdigest.seidb import parse_report
from evmdigest.seidb.render import render_text
from evmdigest.verdict.gate import VersionGateError
from evmdigest.verdict.records import EndpointDigestRecord, compare, record_json_schema_text
from tests.golden import golden_json_line

SEED_FIELDS = {
    "height", "normalization", "flatkv_digest", "memiavl_digest", "per_bucket", "match", "axes_proved",
    "generated_at",
}  # fmt: skip
REPO = Path(__file__).resolve().parents[2]


def _report(case: str) -> DigestReport:
    return parse_report(golden_json_line(case))


def test_matching_pair_keeps_seed_field_names_and_proves_every_axis_but_balance() -> None:
    record = compare(
        2, Normalization.TRANSLATOR, _report("digest/flatkv-h2"), _report("digest/memiavl-translator-snapshot-h2")
    )
    dumped = record.model_dump(mode="json")
    assert set(dumped) >= SEED_FIELDS
    assert record.match is True
    assert set(record.per_bucket) == {"account", "code", "storage", "misc"}
    assert all(set(v) >= {"flatkv", "memiavl", "match"} for v in dumped["per_bucket"].values())
    assert record.axes_proved == ["nonce", "code_hash", "code", "storage", "misc"]
    assert "balance" not in record.axes_proved
    assert record.flatkv_digest == record.memiavl_digest == _report("digest/flatkv-h2").final.digest
    assert record.mismatched_buckets == []


def test_mismatch_names_the_buckets_and_drops_their_axes() -> None:
    # h4 flatkv against h2 memiavl, both relabelled to height 4: account, storage and misc differ.
    memiavl = _report("digest/memiavl-semantic-snapshot-h2").model_copy(update={"version": 4, "requested_height": 4})
    record = compare(4, Normalization.SEMANTIC, _report("digest/flatkv-h4"), memiavl)
    assert record.match is False
    assert record.mismatched_buckets == ["account", "storage", "misc"]
    assert record.per_bucket["code"].match is True
    assert record.per_bucket["storage"].flatkv_count == 5
    assert record.axes_proved == ["code"]
    assert record.mismatch_summary() == "account, storage, misc (semantic)"


def test_seed_era_pair_keys_the_fourth_bucket_legacy() -> None:
    def legacy(case: str) -> DigestReport:
        return parse_report(render_text(_report(case), Generation.LEGACY))

    record = compare(
        2, Normalization.SEMANTIC, legacy("digest/flatkv-h2"), legacy("digest/memiavl-semantic-snapshot-h2")
    )
    assert set(record.per_bucket) == {"account", "code", "storage", "legacy"}
    assert record.seidb_generation == {"flatkv": Generation.LEGACY, "memiavl": Generation.LEGACY}


@pytest.mark.parametrize("side", ["flatkv", "memiavl"])
def test_wrong_opened_height_never_becomes_a_match(side: str) -> None:
    flatkv, memiavl = _report("digest/flatkv-h2"), _report("digest/memiavl-semantic-snapshot-h2")
    asked = 3  # both stores hold identical digests, but neither opened 3
    with pytest.raises(VersionGateError) as err:
        compare(asked, Normalization.SEMANTIC, flatkv, memiavl)
    assert "opened version 2, requested 3" in str(err.value)
    assert side in str(err.value)


def test_backends_must_be_on_their_own_side() -> None:
    with pytest.raises(ValueError, match="memiavl"):
        compare(2, Normalization.SEMANTIC, _report("digest/flatkv-h2"), _report("digest/flatkv-h2"))


def test_verdict_ignores_time_and_provenance() -> None:
    args = (2, Normalization.SEMANTIC, _report("digest/flatkv-h2"), _report("digest/memiavl-semantic-snapshot-h2"))
    a = compare(*args, node="a", generated_at=datetime(2026, 1, 1, tzinfo=UTC))
    b = compare(*args, node="b")
    assert a.verdict() == b.verdict()
    assert a != b


def test_record_round_trips_through_json() -> None:
    record = compare(
        2, Normalization.SEMANTIC, _report("digest/flatkv-h2"), _report("digest/memiavl-semantic-snapshot-h2")
    )
    assert EndpointDigestRecord.model_validate_json(record.model_dump_json()) == record


def test_a_seed_era_record_still_validates() -> None:
    seed = {
        "height": 213200000, "normalization": "translator", "flatkv_digest": "AB" * 32, "memiavl_digest": "AB" * 32,
        "per_bucket": {"legacy": {"flatkv": "CD" * 32, "memiavl": "CD" * 32, "match": True, "flatkv_count": 1,
                                  "memiavl_count": 1}},
        "match": True, "axes_proved": ["misc"], "generated_at": "2026-01-01T00:00:00Z",
    }  # fmt: skip
    assert EndpointDigestRecord.model_validate(seed).height == 213200000


def test_published_schema_is_current() -> None:
    published = (REPO / "schema" / "endpoint-digest-record.schema.json").read_text()
    assert published == record_json_schema_text(), "regenerate with: .venv/bin/evm-digest schema > schema/..."
    schema = json.loads(published)
    assert set(schema["required"]) >= SEED_FIELDS
