"""parse_report on every real digest output of sei-chain 73f917b (tests/data/seidb-reports/real-73f917b),
and the composite report's migration boundary in every form.

The expected values below were typed from the files; the parser must read exactly them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evmdigest.models import Backend, CompositeCounts, Generation, MigrationBoundary, MigrationStatus
from evmdigest.seidb import ReportError, ReportParser, parse_report
from evmdigest.seidb.boundary import boundary_from_normalization, parse_boundary_text
from evmdigest.seidb.render import render_json, render_text
from tests.golden import golden_json_line, golden_reports

REAL = Path(__file__).resolve().parents[1] / "data" / "seidb-reports" / "real-73f917b"
H = 213200000
CLEAN = ((36, 6, 228, 30, 300), "96DCF832", "5BA9D17A")
MID_KEY = "0383b1542aba08db6a6f6327030ac6cfc2eb7c6e605dc13078b82255782cc9d488b87ab07584653e4c1efc38df40575888173bc926"

# file stem -> backend, mode, version, (account, code, storage, misc, final counts), storage digest[:8], final[:8]
EXPECTED: dict[str, tuple[str, str, int, tuple[int, int, int, int, int], str, str]] = {
    "clamp.memiavl-replay-above-latest": (
        "memiavl",
        "semantic-replay",
        H + 1,
        (37, 6, 227, 30, 300),
        "FE3623BC",
        "484AC1B2",
    ),
    "clean.composite": ("composite", "migrate_evm", H, (36, 12, 456, 60, 564), "00000000", "916F3C26"),
    "clean.flatkv.logs-on-stdout": ("flatkv", "native", H, *CLEAN),
    "clean.flatkv": ("flatkv", "native", H, *CLEAN),
    "clean.memiavl-semantic-replay": ("memiavl", "semantic-replay", H, *CLEAN),
    "clean.memiavl-semantic": ("memiavl", "semantic", H, *CLEAN),
    "clean.memiavl-translator": ("memiavl", "translator", H, *CLEAN),
    "flatkv-nonce-changed.flatkv": ("flatkv", "native", H, CLEAN[0], "96DCF832", "9C8A9F1D"),
    "flatkv-nonce-changed.memiavl-semantic": ("memiavl", "semantic", H, *CLEAN),
    "flatkv-nonce-changed.memiavl-translator": ("memiavl", "translator", H, *CLEAN),
    "flatkv-storage-changed.flatkv": ("flatkv", "native", H, CLEAN[0], "C0519196", "EA8F54B8"),
    "flatkv-storage-changed.memiavl-semantic": ("memiavl", "semantic", H, *CLEAN),
    "flatkv-storage-changed.memiavl-translator": ("memiavl", "translator", H, *CLEAN),
    "flatkv-storage-missing.flatkv": ("flatkv", "native", H, (36, 6, 227, 30, 299), "CE71F6DD", "4EC37973"),
    "flatkv-storage-missing.memiavl-semantic.find-hash": ("memiavl", "semantic", H, *CLEAN),
    "flatkv-storage-missing.memiavl-semantic": ("memiavl", "semantic", H, *CLEAN),
    "flatkv-storage-missing.memiavl-translator": ("memiavl", "translator", H, *CLEAN),
    "mid-migration-clean.composite": ("composite", "migrate_evm", H, *CLEAN),
    "mid-migration-clean.memiavl-semantic": ("memiavl", "semantic", H, *CLEAN),
    "mid-migration-storage-changed.composite": ("composite", "migrate_evm", H, CLEAN[0], "ACAD1692", "2DBEAE30"),
}
BOUNDARIES = {
    "clean.composite": MigrationBoundary(
        status=MigrationStatus.NOT_STARTED, version_known=False, migration_version=0, memiavl_version=H
    ),
    **{
        f"mid-migration-{kind}.composite": MigrationBoundary(
            status=MigrationStatus.IN_PROGRESS,
            module="evm",
            key=MID_KEY,
            version_known=False,
            migration_version=0,
            memiavl_version=H,
        )
        for kind in ("clean", "storage-changed")
    },
}


def test_every_real_digest_output_is_in_the_table() -> None:
    stems = {p.name.removesuffix(".stdout") for p in REAL.glob("*.stdout")}
    digests = {s for s in stems if ".inspect-" not in s and not s.startswith("error.")}
    assert digests == set(EXPECTED)


@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_real_digest_output_parses_to_the_values_in_the_file(stem: str) -> None:
    backend, mode, version, counts, storage, final = EXPECTED[stem]
    report = parse_report((REAL / f"{stem}.stdout").read_bytes())
    assert report.generation is Generation.MISC
    assert (report.backend, report.mode, report.requested_height, report.version) == (
        Backend(backend),
        mode,
        H + 5 if stem.startswith("clamp.") else H,
        version,
    )
    got = tuple(report.bucket(name).count for name in ("account", "code", "storage", "misc", "final"))
    assert got == counts
    assert (report.storage.digest[:8], report.final.digest[:8]) == (storage, final)
    assert report.zero_census is None
    assert report.migration_boundary == BOUNDARIES.get(stem)
    in_progress = stem.startswith("mid-migration-") and backend == "composite"
    assert report.marker_adjustments == (("migration/migration-boundary",) if in_progress else ())


@pytest.mark.parametrize("stem", ["error.flatkv-above-latest", "error.memiavl-no-snapshot"])
def test_real_error_outputs_hold_no_report(stem: str) -> None:
    for stream in ("stdout", "stderr"):
        with pytest.raises(ReportError, match="no 'EVM logical digest report'"):
            parse_report((REAL / f"{stem}.{stream}").read_text())


def test_logs_on_stdout_do_not_disturb_the_report() -> None:
    with_logs = parse_report((REAL / "clean.flatkv.logs-on-stdout.stdout").read_text())
    assert with_logs == parse_report((REAL / "clean.flatkv.stdout").read_text())


def test_composite_boundary_missing_from_normalization_fails() -> None:
    text = (REAL / "mid-migration-clean.composite.stdout").read_text()
    lines = text.split("\n")
    report_start = lines.index("EVM logical digest report")
    head, tail = lines[:report_start], lines[report_start:]
    tail = [
        "normalization: flatkv rows plus memiavl rows" if line.startswith("normalization:") else line for line in tail
    ]
    with pytest.raises(ReportError) as err:
        parse_report("\n".join(head + tail))
    assert err.value.field == "migration_boundary"


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("status=in_progress", "status=paused", "migration_boundary.status"),
        ("version_known=false", "version_known=maybe", "migration_boundary.version_known"),
        ("migration_version=0", "migration_version=-1", "migration_boundary.migration_version"),
        (", module=evm, key=0383", "", "migration_boundary"),
    ],
)
def test_malformed_boundary_names_its_field(old: str, new: str, field: str) -> None:
    text = (REAL / "mid-migration-clean.composite.stdout").read_text()
    assert old in text
    with pytest.raises(ReportError) as err:
        parse_report(text.replace(old, new))
    assert err.value.field == field


def test_golden_composite_json_boundary() -> None:
    report = parse_report(golden_json_line("digest/composite-snapshot-h2"))
    key = "0344444444444444444444444444444444444444440000000000000000000000000000000000000000000000000000000000000003"
    assert report.migration_boundary == MigrationBoundary(
        status=MigrationStatus.IN_PROGRESS, module="evm", key=key, memiavl_version=2
    )
    assert report.marker_adjustments == ("migration/migration-boundary",)
    # our renderer prints it back in the same JSON field
    assert (
        json.loads(render_json(report))["migration_boundary"]
        == golden_reports()["digest/composite-snapshot-h2"]["migration_boundary"]
    )


def test_json_boundary_is_completed_by_a_normalization_that_names_it() -> None:
    obj = json.loads(golden_json_line("digest/composite-snapshot-h2"))
    obj["normalization"] = (
        f"flatkv rows plus memiavl rows not migrated by boundary={obj['migration_boundary']} "
        "version_known=false migration_version=0 memiavl_version=2"
    )
    boundary = parse_report(json.dumps(obj)).migration_boundary
    assert boundary is not None and boundary.version_known is False and boundary.migration_version == 0
    obj["migration_boundary"] = "MigrationBoundary{status=complete}"
    with pytest.raises(ReportError, match="differs from the boundary in normalization"):
        parse_report(json.dumps(obj))


@pytest.mark.parametrize("value", [None, 7, "MigrationBoundary{status=in_progress}", "boundary"])
def test_composite_json_without_a_valid_boundary_fails(value: object) -> None:
    obj = json.loads(golden_json_line("digest/composite-snapshot-h2"))
    obj["migration_boundary"] = value
    with pytest.raises(ReportError) as err:
        parse_report(json.dumps(obj))
    assert err.value.field.startswith("migration_boundary")


@pytest.mark.parametrize("stem", sorted(BOUNDARIES))
def test_real_composite_text_round_trips_through_our_renderer(stem: str) -> None:
    report = parse_report((REAL / f"{stem}.stdout").read_text())
    rendered = render_text(report, Generation.MISC)
    assert rendered in (REAL / f"{stem}.stdout").read_text()  # the report section, byte for byte
    assert parse_report(render_json(report)).migration_boundary == report.migration_boundary


def test_boundary_texts() -> None:
    assert parse_boundary_text("MigrationBoundary{status=complete}").status is MigrationStatus.COMPLETE
    assert boundary_from_normalization("native FlatKV physical keyspace") is None
    with pytest.raises(ReportError):
        parse_boundary_text("MigrationBoundary{status=not_started, module=evm, key=0a}")
    with pytest.raises(ReportError):
        parse_boundary_text("MigrationBoundary{status=in_progress, module=evm, key=0a1}")


def test_composite_counts_come_from_narration_and_only_for_composite_reports() -> None:
    clean = parse_report((REAL / "clean.composite.stdout").read_text())
    assert clean.composite_counts == CompositeCounts(flatkv_rows=300, memiavl_leaves=306, consumed_unmigrated=306)
    assert parse_report((REAL / "clean.flatkv.stdout").read_text()).composite_counts is None
    # a --json build: the report on stdout, the narration on stderr, fed to the same parser
    parser = ReportParser()
    parser.feed(golden_json_line("digest/composite-snapshot-h2"))
    for line in (
        "Scan progress: composite ...",
        "  composite flatkv rows=6",
        "  composite memiavl leaves=4 consumed_unmigrated=3",
    ):
        parser.feed_narration(line)
    assert parser.finish().composite_counts == CompositeCounts(flatkv_rows=6, memiavl_leaves=4, consumed_unmigrated=3)
    twice = ReportParser()
    twice.feed_narration("  composite flatkv rows=6")
    with pytest.raises(ReportError) as err:
        twice.feed_narration("  composite flatkv rows=7")
    assert err.value.field == "composite_counts.flatkv_rows"
