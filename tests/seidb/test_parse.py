"""parse_report over every shared real report in all three forms, and the fail-closed matrix."""

from __future__ import annotations

import json

import pytest

from evmdigest.models import BUCKETS, DigestReport, Generation
from evmdigest.seidb import ReportError, parse_report
from evmdigest.seidb.render import render_json, render_text
from tests.golden import as_printed, golden_json_line, golden_reports, with_narration

CASES = sorted(golden_reports())
TEXT_GENERATIONS = [Generation.LEGACY, Generation.MISC]


def _comparable(report: DigestReport, generation: Generation) -> dict[str, object]:
    # The seed-era form has no census block.
    exclude = {"generation"}
    if generation is Generation.LEGACY:
        exclude.add("zero_census")
    return report.model_dump(exclude=exclude)


def _failing_lines(text: str) -> list[int]:
    return [i for i, line in enumerate(text.split("\n")) if line]


@pytest.mark.parametrize("case", CASES)
def test_golden_json_parses_with_every_field(case: str) -> None:
    raw = golden_reports()[case]
    report = parse_report(golden_json_line(case))
    assert report.generation is Generation.JSON
    assert report.backend.value == raw["backend"]
    assert report.version == raw["version"]
    assert report.requested_height == raw["requested_height"]
    for name in (*BUCKETS, "final"):
        assert report.bucket(name).count == raw[name]["count"]
        assert report.bucket(name).digest == raw[name]["digest"]
    assert list(report.marker_adjustments) == raw["marker_adjustments"]


@pytest.mark.parametrize("generation", TEXT_GENERATIONS, ids=lambda g: g.value)
@pytest.mark.parametrize("case", CASES)
def test_golden_round_trips_through_text_generation(case: str, generation: Generation) -> None:
    from_json = as_printed(parse_report(golden_json_line(case)))
    text = with_narration(from_json, generation, banner_version=from_json.version + 7)
    from_text = parse_report(text)
    assert from_text.generation is generation
    assert _comparable(from_text, generation) == _comparable(from_json, generation)
    crlf = parse_report(text.replace("\n", "\r\n").encode())
    assert crlf == from_text


def test_verbatim_seed_era_text_matches_contract_line_formats() -> None:
    """A literal report written from the contract's formats, independent of our renderer."""
    raw = golden_reports()["digest/flatkv-h4"]
    text = f"""EVM logical digest report
backend: flatkv
mode: native
db_dir: /data/flatkv
source: flatkv clone version=4
requested_height: 4
version: 4
normalization: native flatkv physical keys

flatkv_marker_adjustment: omitted migration/migration-version from legacy bucket in final result

Bucket digests (final digest inputs)
account  count=4 bucket_digest={raw["account"]["digest"]}
code     count=1 bucket_digest={raw["code"]["digest"]}
storage  count=5 bucket_digest={raw["storage"]["digest"]}
legacy   count=2 bucket_digest={raw["misc"]["digest"]}

FINAL_DIGEST account+code+storage+legacy count=12 digest={raw["final"]["digest"]}
"""
    report = parse_report(text)
    assert report.generation is Generation.LEGACY
    assert report.marker_adjustments == ("migration/migration-version",)
    assert report.db_dir == "/data/flatkv"
    assert render_text(report, Generation.LEGACY) == text


def test_hex_is_case_insensitive_and_stored_uppercase() -> None:
    text = render_text(parse_report(golden_json_line("digest/flatkv-h2")), Generation.MISC)
    lowered = "\n".join(
        line.lower() if line.startswith(("account", "code", "storage", "misc", "FINAL")) else line
        for line in text.split("\n")
    ).replace("final_digest", "FINAL_DIGEST")
    report = parse_report(lowered)
    assert report.final.digest == golden_reports()["digest/flatkv-h2"]["final"]["digest"]


def test_lines_over_one_mebibyte_are_tolerated() -> None:
    report = parse_report(golden_json_line("digest/flatkv-h2"))
    huge = "  progress " + "x" * (1 << 21)
    text = with_narration(report, Generation.MISC).replace("Scan progress:", huge + "\nScan progress:")
    assert parse_report(text).final == report.final
    assert parse_report(huge + "\n" + render_json(report)).final == report.final


def test_structured_log_lines_around_json_are_narration() -> None:
    report = parse_report(golden_json_line("digest/flatkv-h2"))
    noisy = '{"level":"info","msg":"opening flatkv"}\nnot json at all\n' + render_json(report) + "{broken log\n"
    assert parse_report(noisy) == report


@pytest.mark.parametrize("indent", [2, 4, "\t"])
@pytest.mark.parametrize("case", CASES)
def test_pretty_printed_json_reports_parse_like_one_line_json(case: str, indent: int | str) -> None:
    line = golden_json_line(case)
    pretty = json.dumps(json.loads(line), indent=indent)
    assert parse_report(f"narration\n{pretty}\n  progress backend=x input_physical_rows=1\n") == parse_report(line)


def test_a_brace_line_that_opens_no_json_report_is_read_as_ordinary_output() -> None:
    report = parse_report(golden_json_line("digest/flatkv-h2"))
    text = with_narration(report, Generation.MISC)
    assert parse_report("{\nnot json\n}\n" + text) == parse_report(text)  # closed, but not JSON
    assert parse_report(text + "{\nstill open at the end\n").final == report.final  # never closed


def test_a_cut_pretty_printed_report_fails_closed() -> None:
    pretty = json.dumps(json.loads(golden_json_line("digest/flatkv-h4")), indent=2).split("\n")
    for cut in range(1, len(pretty)):
        with pytest.raises(ReportError):
            parse_report("\n".join(pretty[:cut]))


# ---- fail closed -------------------------------------------------------------------------------

REQUIRED_PREFIXES = ("backend:", "requested_height:", "version:", "account ", "code ", "storage ", "FINAL_DIGEST")


@pytest.mark.parametrize("generation", TEXT_GENERATIONS, ids=lambda g: g.value)
@pytest.mark.parametrize("case", CASES)
def test_each_required_text_line_removed_fails(case: str, generation: Generation) -> None:
    report = parse_report(golden_json_line(case))
    full = with_narration(report, generation)
    lines = full.split("\n")
    report_start = lines.index("EVM logical digest report")
    fourth = "legacy " if generation is Generation.LEGACY else "misc "
    removed = 0
    for index in range(report_start, len(lines)):
        if lines[index].startswith((*REQUIRED_PREFIXES, fourth)):
            mutilated = "\n".join(lines[:index] + lines[index + 1 :])
            with pytest.raises(ReportError):
                parse_report(mutilated)
            removed += 1
    assert removed == len(REQUIRED_PREFIXES) + 1


@pytest.mark.parametrize("key", ["backend", "requested_height", "version", *BUCKETS, "final"])
def test_each_required_json_key_removed_fails(key: str) -> None:
    obj = json.loads(golden_json_line("digest/memiavl-translator-snapshot-h2"))
    del obj[key]
    with pytest.raises(ReportError) as err:
        parse_report(json.dumps(obj))
    assert key in str(err.value)


@pytest.mark.parametrize("generation", TEXT_GENERATIONS, ids=lambda g: g.value)
def test_truncation_at_every_line_boundary_fails(generation: Generation) -> None:
    report = parse_report(golden_json_line("digest/memiavl-semantic-replay-h4"))
    lines = with_narration(report, generation).rstrip("\n").split("\n")
    for cut in range(len(lines)):
        with pytest.raises(ReportError):
            parse_report("\n".join(lines[:cut]))
    assert parse_report("\n".join(lines)).final == report.final


def test_truncated_json_fails_at_every_byte() -> None:
    line = golden_json_line("digest/flatkv-h4")
    for cut in range(len(line)):
        with pytest.raises(ReportError):
            parse_report(line[:cut])


def test_final_line_cut_mid_digest_fails() -> None:
    text = render_text(parse_report(golden_json_line("digest/flatkv-h4")), Generation.MISC).rstrip("\n")
    for chop in (1, 10, 63):
        with pytest.raises(ReportError, match="final"):
            parse_report(text[:-chop])


FLIP = {"0": "1", "1": "0"}


def _flip(hex_digest: str, position: int) -> str:
    char = hex_digest[position]
    replacement = FLIP.get(char, "0")
    return hex_digest[:position] + replacement + hex_digest[position + 1 :]


@pytest.mark.parametrize("form", ["json", "legacy", "misc"])
@pytest.mark.parametrize("target", [*BUCKETS, "final"])
def test_one_hex_character_flipped_anywhere_is_caught(form: str, target: str) -> None:
    base = json.loads(golden_json_line("digest/memiavl-semantic-snapshot-h2"))
    for position in range(64):
        obj = json.loads(json.dumps(base))
        obj[target]["digest"] = _flip(obj[target]["digest"], position)
        assert obj[target]["digest"] != base[target]["digest"]
        text = json.dumps(obj)
        if form != "json":
            # Render the flipped report without validation, exactly as a garbled seidb would print it.
            unchecked = DigestReport.model_validate({**obj, "generation": "json"})
            text = render_text(unchecked, Generation(form))
        with pytest.raises(ReportError, match=r"final\.digest"):
            parse_report(text)


def test_count_that_does_not_sum_is_caught() -> None:
    obj = json.loads(golden_json_line("digest/flatkv-h2"))
    obj["storage"]["count"] += 1
    with pytest.raises(ReportError, match=r"final\.count"):
        parse_report(json.dumps(obj))


def _text(case: str = "digest/flatkv-h2", generation: Generation = Generation.MISC) -> str:
    return render_text(parse_report(golden_json_line(case)), generation)


def test_conflicting_duplicate_bucket_line_fails_identical_duplicate_passes() -> None:
    text = _text()
    storage_line = next(line for line in text.split("\n") if line.startswith("storage"))
    assert parse_report(text.replace(storage_line, storage_line + "\n" + storage_line)).storage.count == 5
    conflicting = storage_line.replace("count=5", "count=6")
    with pytest.raises(ReportError, match=r"storage.*conflicting"):
        parse_report(text.replace(storage_line, storage_line + "\n" + conflicting))


def test_conflicting_versions_in_report_section_fail() -> None:
    text = _text().replace("version: 2\n", "version: 2\nversion: 3\n")
    with pytest.raises(ReportError, match=r"version.*conflicting"):
        parse_report(text)


def test_conflicting_final_lines_fail() -> None:
    text = _text()
    final_line = text.rstrip("\n").split("\n")[-1]
    other = final_line.replace("count=10", "count=11")
    with pytest.raises(ReportError, match="final"):
        parse_report(text + other + "\n")


def test_conflicting_json_reports_fail() -> None:
    a = golden_json_line("digest/flatkv-h2")
    b = golden_json_line("digest/flatkv-h4")
    with pytest.raises(ReportError, match="conflicting JSON"):
        parse_report(a + "\n" + b)


def test_json_and_text_that_disagree_fail() -> None:
    with pytest.raises(ReportError, match="disagree"):
        parse_report(golden_json_line("digest/flatkv-h4") + "\n" + _text("digest/flatkv-h2"))


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("storage  count=5", "storage  count=five", "storage.count"),
        ("storage  count=5", "storage  count=-5", "storage.count"),
        ("bucket_digest=386191CE", "bucket_digest=386191CG", "storage.digest"),
        ("bucket_digest=386191CE", "bucket_digest=86191CE", "storage.digest"),
        ("requested_height: 2", "requested_height: two", "requested_height"),
        ("version: 2", "version: 2.0", "version"),
        ("backend: flatkv", "backend: rocksdb", "backend"),
        ("FINAL_DIGEST account+code+storage+misc", "FINAL_DIGEST account+code+storage+legacy", "final"),
    ],
)
def test_malformed_values_name_their_field(old: str, new: str, field: str) -> None:
    text = _text()
    assert old in text
    with pytest.raises(ReportError) as err:
        parse_report(text.replace(old, new))
    assert err.value.field.startswith(field)


def test_mixed_generations_fail() -> None:
    text = _text()
    misc_line = next(line for line in text.split("\n") if line.startswith("misc"))
    with pytest.raises(ReportError, match="legacy"):
        parse_report(text.replace(misc_line, misc_line + "\n" + misc_line.replace("misc  ", "legacy")))


@pytest.mark.parametrize(
    "output",
    ["", "\n\n", "EVM logical digest start\nversion: 2\n", "Error: open flatkv: no such file\n", "\x00\xff garbage"],
)
def test_outputs_without_a_report_fail(output: str) -> None:
    with pytest.raises(ReportError):
        parse_report(output)


def test_banner_version_alone_is_not_a_version() -> None:
    report = parse_report(golden_json_line("digest/flatkv-h2"))
    text = with_narration(report, Generation.MISC, banner_version=2)
    lines = text.split("\n")
    report_start = lines.index("EVM logical digest report")
    without = lines[:report_start] + [line for line in lines[report_start:] if not line.startswith("version:")]
    with pytest.raises(ReportError, match="version"):
        parse_report("\n".join(without))
