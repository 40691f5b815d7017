"""The inspect parser on every real inspect / find-hash output (73f917b) and every golden inspect entry,
and the fail-closed cases. Expected values were typed from the files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evmdigest.models import BucketDigest, FoundHash, InspectList, InspectShards
from evmdigest.seidb import ReportError
from evmdigest.seidb.inspect import found_hashes, parse_found_hash, parse_inspect
from tests.golden import GOLDEN

REAL = Path(__file__).resolve().parents[1] / "data" / "seidb-reports" / "real-73f917b"
MUTATED = (
    "65766D2F033AE81C80DED9604A32933F97762799AF1F42A2748D78BAB205C3D394735BF016C5DEED38A389CF4587BB7078C153B8C370222982"
)
SAME_SHARDS = {
    "0f": "9FD5C333D492461B50C5E5950D9DAA7FF36E8E548DA3B0DA7A75671D14416476",
    "3c": "D108D97048143E797CA9F1EF082C10A2595ACB7E260601F31A1E76276870CC10",
    "83": "5D399263EDF68593F73022A671CEAE1E3DDB00F8F05B7766DB06C8B355C855EB",
    "96": "CABBAADC582C055C637E924EF6D84C28A4477D36F046CC66DC53FF6133D464B5",
    "ac": "D137F932E108EF943B75076E209BE43680DAABBD32E96F1A7E44DCB7DC5CB551",
}
# stem -> matched, shard 3a (count, digest), total leaves line
SHARD_FILES = {
    "flatkv-storage-changed.flatkv": (
        228,
        38,
        "C8394A5820A4891ABFE068801A8597089DF572769D70CD5A48CFBF5E2F7AE3A1",
        None,
    ),
    "flatkv-storage-changed.memiavl-semantic": (
        228,
        38,
        "9EB423FC54F36C088E2EBC123A87A279FFDFCC140F142CD55E80FC79533B7556",
        306,
    ),
    "flatkv-storage-missing.flatkv": (
        227,
        37,
        "C6192D13ADC842CAB6A1BFDB32BF02636A621FFCDDB69C281AE171CDD2F594C1",
        None,
    ),
    "flatkv-storage-missing.memiavl-semantic": (
        228,
        38,
        "9EB423FC54F36C088E2EBC123A87A279FFDFCC140F142CD55E80FC79533B7556",
        306,
    ),
}
# the mutated slot's logical value on each side
LIST_FILES = {
    "flatkv-storage-changed.flatkv": ("2CD9F1B43FB0ED8F5FC5BD162BB8B52218A3AC8B0BCE6211C72A7DA9B7FF3922", None),
    "flatkv-storage-changed.memiavl-semantic": (
        "2CD9F1B43FB0ED8F5FC5BD162BB8B52218A3AC8B0BCE6211C72A7DA9B7FF3978",
        306,
    ),
}


def test_every_real_inspect_output_is_covered() -> None:
    stems = {p.name.removesuffix(".stdout") for p in REAL.glob("*.inspect-*.stdout")}
    expected = {f"{s}.inspect-shards" for s in SHARD_FILES} | {f"{s}.inspect-list" for s in LIST_FILES}
    assert stems == expected


@pytest.mark.parametrize("stem", sorted(SHARD_FILES))
def test_real_shard_outputs(stem: str) -> None:
    matched, count, digest, leaves = SHARD_FILES[stem]
    report = parse_inspect((REAL / f"{stem}.inspect-shards.stdout").read_bytes())
    assert isinstance(report, InspectShards) and report.form == "text"
    assert (report.version, report.bucket, report.key_offset, report.key_prefix) == (213200000, "storage", 5, "")
    assert (report.matched, report.total_leaves) == (matched, leaves)
    expected = {name: BucketDigest(count=38, digest=d) for name, d in SAME_SHARDS.items()}
    assert report.shards == {**expected, "3a": BucketDigest(count=count, digest=digest)}


@pytest.mark.parametrize("stem", sorted(LIST_FILES))
def test_real_list_outputs(stem: str) -> None:
    mutated_value, leaves = LIST_FILES[stem]
    text = (REAL / f"{stem}.inspect-list.stdout").read_text()
    report = parse_inspect(text)
    assert isinstance(report, InspectList)
    assert (report.key_offset, report.key_prefix, report.matched, report.listed, report.list_limit) == (
        5,
        "3A",
        38,
        38,
        1000,
    )
    assert report.total_leaves == leaves and len(report.entries) == 38
    assert report.entries[MUTATED].logical == mutated_value and report.entries[MUTATED].meta is None
    first = text.split("\n")[0].split(" ")
    assert report.entries[first[0].removeprefix("key=")].logical == first[1].removeprefix("logical=")


def test_the_two_real_listings_differ_in_exactly_the_mutated_key() -> None:
    flatkv = parse_inspect((REAL / "flatkv-storage-changed.flatkv.inspect-list.stdout").read_text())
    memiavl = parse_inspect((REAL / "flatkv-storage-changed.memiavl-semantic.inspect-list.stdout").read_text())
    assert isinstance(flatkv, InspectList) and isinstance(memiavl, InspectList)
    assert flatkv.entries.keys() == memiavl.entries.keys()
    assert [k for k in flatkv.entries if flatkv.entries[k] != memiavl.entries[k]] == [MUTATED]


def test_real_find_hash_output() -> None:
    text = (REAL / "flatkv-storage-missing.memiavl-semantic.find-hash.stdout").read_text()
    value = "2CD9F1B43FB0ED8F5FC5BD162BB8B52218A3AC8B0BCE6211C72A7DA9B7FF3978"
    assert found_hashes(text) == [FoundHash(bucket="storage", key=MUTATED, logical=value, raw=value)]
    missing = parse_inspect((REAL / "flatkv-storage-missing.flatkv.inspect-shards.stdout").read_text())
    full = parse_inspect((REAL / "flatkv-storage-missing.memiavl-semantic.inspect-shards.stdout").read_text())
    assert isinstance(missing, InspectShards) and isinstance(full, InspectShards)
    xor = int(missing.shards["3a"].digest, 16) ^ int(full.shards["3a"].digest, 16)
    assert f"{xor:064X}" == "58AD0EEFF93B2EC2388F03C90838A01A95BDD3E8D2A2B0FD44618DB481CEE197"  # the --find-hash arg


def _golden_inspect() -> dict[str, dict[str, object]]:
    cases = json.loads(GOLDEN.read_text())
    return {key: value for key, value in cases.items() if key.startswith("inspect/")}


@pytest.mark.parametrize("case", sorted(_golden_inspect()))
def test_golden_inspect_entries(case: str) -> None:
    raw = _golden_inspect()[case]
    report = parse_inspect(json.dumps(raw))
    assert report.form == "json" and report.version == raw["version"] and report.matched == raw["matched"]
    assert (report.bucket, report.key_offset, report.key_prefix) == (
        raw["inspect_bucket"],
        raw["key_offset"],
        raw["key_prefix"],
    )
    assert report.backend is not None and report.backend.value == raw["backend"]
    if raw["list"]:
        assert isinstance(report, InspectList)
        entries = raw["entries"]
        assert isinstance(entries, list) and report.listed == raw["listed"] == len(entries)
        assert {e["key"]: (e["logical"], e.get("meta")) for e in entries} == {
            k: (v.logical, v.meta) for k, v in report.entries.items()
        }
    else:
        assert isinstance(report, InspectShards)
        shards = raw["shards"]
        assert isinstance(shards, list)
        assert {s["shard"]: (s["count"], s["digest"]) for s in shards} == {
            k: (v.count, v.digest) for k, v in report.shards.items()
        }


def _lines(stem: str) -> list[str]:
    return (REAL / f"{stem}.stdout").read_text().split("\n")


@pytest.mark.parametrize(
    "stem",
    ["flatkv-storage-changed.memiavl-semantic.inspect-list", "flatkv-storage-changed.flatkv.inspect-shards"],
)
def test_removing_any_line_fails_closed(stem: str) -> None:
    lines = _lines(stem)
    checked = 0
    for index, line in enumerate(lines):
        if not line or line.startswith("  memiavl inspect total leaves"):
            continue
        with pytest.raises(ReportError):
            parse_inspect("\n".join(lines[:index] + lines[index + 1 :]))
        checked += 1
    assert checked == len([line for line in lines if line and "total leaves" not in line])


@pytest.mark.parametrize(
    ("stem", "old", "new", "field"),
    [
        ("flatkv-storage-changed.flatkv.inspect-shards", "shard=3a count=38", "shard=3a count=39", "shards"),
        ("flatkv-storage-changed.flatkv.inspect-shards", "shard=3a count=38", "shard=4b count=38", None),
        ("flatkv-storage-changed.flatkv.inspect-shards", "bucket=storage", "bucket=balance", "bucket"),
        ("flatkv-storage-changed.flatkv.inspect-shards", "version: 213200000", "version: x", "version"),
        ("flatkv-storage-changed.flatkv.inspect-list", "key_prefix=3A", "key_prefix=3B", "entries"),
        ("flatkv-storage-changed.flatkv.inspect-list", "listed=38", "listed=37", "listed"),
        ("flatkv-storage-changed.flatkv.inspect-list", "logical=8478F9F6", "logical=8478F9F", "entries"),
        ("flatkv-storage-changed.flatkv.inspect-list", "list_limit=1000", "list_limit=10", "listed"),
    ],
)
def test_corrupt_inspect_output_names_its_field(stem: str, old: str, new: str, field: str | None) -> None:
    text = (REAL / f"{stem}.stdout").read_text()
    assert old in text
    corrupt = text.replace(old, new, 1)
    if field is None:  # a renamed shard still parses: its digest is what the pipeline compares
        assert isinstance(parse_inspect(corrupt), InspectShards)
        return
    with pytest.raises(ReportError) as err:
        parse_inspect(corrupt)
    assert err.value.field.startswith(field)


def test_duplicate_key_and_shard_lines_fail() -> None:
    lines = _lines("flatkv-storage-changed.flatkv.inspect-list")
    with pytest.raises(ReportError, match="listed twice"):
        parse_inspect("\n".join([lines[0], *lines]))
    shards = _lines("flatkv-storage-changed.flatkv.inspect-shards")
    with pytest.raises(ReportError, match="printed twice"):
        parse_inspect("\n".join([*shards, shards[-2]]))


def test_golden_json_with_a_missing_entry_fails() -> None:
    raw = json.loads(json.dumps(_golden_inspect()["inspect/flatkv-h2/list-storage"]))
    raw["entries"].pop()
    with pytest.raises(ReportError, match="listed"):
        parse_inspect(json.dumps(raw))


def test_found_hash_lines() -> None:
    account = parse_found_hash("FOUND-HASH bucket=account keyhex=65766D2F0A11 logicalhex=00FF rawhex=")
    assert account == FoundHash(bucket="account", key="65766D2F0A11", logical="00FF", raw="")
    assert parse_found_hash("  progress backend=flatkv") is None
    for bad in ("FOUND-HASH bucket=storage keyhex=0G logicalhex=00 rawhex=00", "FOUND-HASH bucket=storage"):
        with pytest.raises(ReportError):
            parse_found_hash(bad)
