"""lines.py: every progress form sei-chain prints, the simulator's own lines, and the comparable row count."""

from __future__ import annotations

from pathlib import Path

import pytest

from evmdigest.progress.lines import Reference, parse_progress
from tests.plugins.sim import MakeNode
from tests.simtools import run

FLATKV = "  progress backend=flatkv input_physical_rows=40000000 digested account=5 code=6 storage=7 misc=8"
SEMANTIC = (
    "  progress backend=memiavl mode=semantic input_leaves=20000000 digested account=deferred_until_finalize "
    "account_buffered=4 code=1 storage=2 misc=3"
)
TRANSLATOR = (
    "  progress backend=memiavl mode=translator-replay input_leaves=20000000 digested "
    "account=deferred_until_finalize code=1 storage=2 misc=3"
)
COMPOSITE_FLATKV = (
    "  progress backend=composite source=flatkv input_physical_rows=20000000 account_buffered=9 code=1 storage=2 misc=3"
)
COMPOSITE_MEMIAVL = (
    "  progress backend=composite source=memiavl-replay input_leaves=20000000 consumed_unmigrated=11 "
    "account_buffered=9 code=1 storage=2 misc=3"
)
REFERENCE = Reference({"account": 100, "code": 10, "storage": 800, "misc": 90}, "test")


@pytest.mark.parametrize(
    ("line", "backend", "stage", "rows", "done", "expected"),
    [
        (FLATKV, "flatkv", "", 40000000, 26, 1000),
        (SEMANTIC, "memiavl", "semantic", 20000000, 10, 1000),
        (TRANSLATOR, "memiavl", "translator-replay", 20000000, 6, 900),  # no account number: left out on both sides
        (COMPOSITE_FLATKV, "composite", "flatkv", 20000000, 15, 1000),
        (COMPOSITE_MEMIAVL, "composite", "memiavl-replay", 20000000, 15, 1000),
        (FLATKV.replace("misc=", "legacy="), "flatkv", "", 40000000, 26, 1000),  # seed-era name of the fourth
    ],
)
def test_every_form_parses_to_a_comparable_count(
    line: str, backend: str, stage: str, rows: int, done: int, expected: int
) -> None:
    parsed = parse_progress(line)
    assert parsed is not None
    assert (parsed.backend, parsed.stage, parsed.input_rows) == (backend, stage, rows)
    assert parsed.rows_done() == done
    assert REFERENCE.rows_expected(parsed) == expected


@pytest.mark.parametrize(
    "line",
    [
        "  progress opening store (waiting on lock)",  # the simulator's hang fault
        "  ...memiavl inspect mode=semantic leaves=100 matched=3",  # inspect's progress
        "Scan progress: flatkv input_physical_rows -> normalized logical bucket counts",
        "  finalize backend=memiavl mode=semantic account=36 code=6 storage=228 misc=30",
        "  progress backend=flatkv digested account=1",  # no input count
    ],
)
def test_other_lines_are_not_progress(line: str) -> None:
    assert parse_progress(line) is None


def test_a_reference_without_a_line_counts_every_bucket() -> None:
    assert REFERENCE.rows_expected(None) == 1000


@pytest.mark.parametrize(
    ("side", "normalization"), [("flatkv", "semantic"), ("memiavl", "semantic"), ("memiavl", "translator")]
)
def test_simulated_progress_climbs_to_the_reports_count(
    side: str, normalization: str, sim_binary: Path, make_node: MakeNode, tmp_path: Path
) -> None:
    node = make_node(tmp_path, rows=1000, progress_every=50, generation="misc")
    done = run(node.digest_argv(sim_binary, side, normalization=normalization))
    assert done.returncode == 0, done.stderr
    parsed = [p for p in map(parse_progress, done.stdout.splitlines()) if p is not None]
    assert len(parsed) >= 19
    counts = [p.rows_done() for p in parsed]
    assert counts == sorted(counts) and counts[0] > 0
    planned = {name: node.summary["rows"][name] for name in ("account", "code", "storage", "misc")}
    expected = Reference(planned, "the fixture's plan").rows_expected(parsed[-1])
    assert 0.9 * expected <= counts[-1] <= expected  # the last line is near the end, in the same unit
