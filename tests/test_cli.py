"""`evm-digest` as people and scripts use it: real subprocesses, real exit codes, real output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evmdigest.models import Generation
from evmdigest.seidb import parse_report
from evmdigest.seidb.render import render_text
from tests.golden import as_printed, golden_json_line, golden_reports
from tests.plugins.sim import MakeNode

EVM_DIGEST = str(Path(sys.executable).parent / "evm-digest")
HEIGHT = 213200000


def _cli(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EVM_DIGEST, *args], input=stdin, capture_output=True, text=True, timeout=300, check=False, env=env
    )


@pytest.mark.parametrize("form", ["json", "legacy", "misc"])
def test_parse_handles_every_shared_report_in_every_form(form: str, tmp_path: Path) -> None:
    for case in sorted(golden_reports()):
        expected = as_printed(parse_report(golden_json_line(case)))
        text = golden_json_line(case) if form == "json" else render_text(expected, Generation(form))
        path = tmp_path / f"{case.replace('/', '_')}.{form}"
        path.write_text("  progress backend=x input_physical_rows=1\n" + text)
        done = _cli("parse", str(path))
        assert done.returncode == 0, done.stderr
        printed = json.loads(done.stdout)
        assert printed["generation"] == form
        assert printed["final"] == expected.final.model_dump()
        assert printed["version"] == expected.version


def test_parse_fails_closed_with_exit_2_and_the_reason() -> None:
    truncated = render_text(parse_report(golden_json_line("digest/flatkv-h2")), Generation.MISC).rsplit("\n", 2)[0]
    done = _cli("parse", "-", stdin=truncated)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "FINAL_DIGEST" in done.stderr


def test_parse_names_an_unreadable_file(tmp_path: Path) -> None:
    done = _cli("parse", str(tmp_path / "missing.txt"))
    assert done.returncode == 2 and "cannot read" in done.stderr


def test_schema_command_prints_the_published_schema() -> None:
    done = _cli("schema")
    assert done.returncode == 0
    published = Path(__file__).resolve().parents[1] / "schema" / "endpoint-digest-record.schema.json"
    assert done.stdout == published.read_text()


def _env(prefect_api: str) -> dict[str, str]:
    return {**os.environ, "PREFECT_API_URL": prefect_api}


def test_run_exit_codes_match_mismatch_and_gate_failure(
    prefect_api: str, tmp_path: Path, make_node: MakeNode, sim_binary: Path
) -> None:
    env = _env(prefect_api)
    common = ["--height", str(HEIGHT), "--seidb", str(sim_binary)]

    clean = make_node(tmp_path, height=HEIGHT, rows=1000)
    sink = tmp_path / "sealed-clean"
    done = _cli("run", *common, "--flatkv-dir", str(clean.flatkv_dir), "--memiavl-dir", str(clean.memiavl_dir),
                "--sink", sink.as_uri(), "--node", "cli-node", env=env)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "semantic   MATCH" in done.stdout and "translator MATCH" in done.stdout
    assert f"endpoint-digest-{HEIGHT}-translator.json.gz" in done.stdout
    assert "| final" in done.stdout  # the per-bucket table

    diverged = make_node(tmp_path, height=HEIGHT, rows=1000, diverge="code")
    sink = tmp_path / "sealed-diverged"
    dirs = ["--flatkv-dir", str(diverged.flatkv_dir), "--memiavl-dir", str(diverged.memiavl_dir)]
    done = _cli("run", *common, *dirs, "--sink", sink.as_uri(), "--normalization", "translator", env=env)
    assert done.returncode == 1, done.stderr[-3000:]
    assert f"digest mismatch at {HEIGHT}: code (translator)" in done.stderr
    assert sorted(p.name for p in sink.iterdir() if p.is_file() and ".intent-" not in p.name) == [
        f"endpoint-digest-{HEIGHT}-translator.json.gz", f"endpoint-digest-{HEIGHT}-translator.json.gz.seal.json"
    ]  # fmt: skip

    clamped = make_node(tmp_path, height=HEIGHT, rows=1000)
    clamped.set_faults("memiavl", clamp_version=HEIGHT - 100)
    sink = tmp_path / "sealed-clamped"
    done = _cli("run", *common, "--flatkv-dir", str(clamped.flatkv_dir), "--memiavl-dir", str(clamped.memiavl_dir),
                "--sink", sink.as_uri(), env=env)  # fmt: skip
    assert done.returncode == 2
    assert f"memiavl/semantic opened version {HEIGHT - 100}, requested {HEIGHT}" in done.stderr
    assert not sink.exists() or list(sink.iterdir()) == []


def test_demo_runs_on_embedded_defaults(prefect_api: str, tmp_path: Path) -> None:
    done = _cli("demo", "--dir", str(tmp_path / "demo"), "--rows", "500", env=_env(prefect_api))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "semantic   MATCH" in done.stdout
    again = _cli("demo", "--dir", str(tmp_path / "demo"), "--rows", "500", env=_env(prefect_api))
    assert again.returncode == 0 and "already sealed" in again.stdout


def test_s3_options_without_a_sink_are_refused_with_exit_2(tmp_path: Path) -> None:
    done = _cli("run", "--flatkv-dir", str(tmp_path), "--memiavl-dir", str(tmp_path), "--endpoint-url", "http://x")
    assert done.returncode == 2
    assert "--sink s3://" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--flatkv-dir", ".", "--memiavl-dir", ".", "--height", "0"], "evm-digest run: --height: "),
        (["run", "--flatkv-dir", ".", "--memiavl-dir", ".", "--timeout", "-1"], "evm-digest run: --timeout: "),
        (["demo", "--seidb", "/bin/true"], "evm-digest demo: --seidb needs --flatkv-dir and --memiavl-dir"),
    ],
)
def test_a_bad_parameter_is_refused_naming_its_flag(args: list[str], message: str) -> None:
    # The request is checked before Prefect is imported, so no server is needed (none is configured here).
    done = _cli(*args, env={**os.environ, "PREFECT_API_URL": "http://127.0.0.1:9/api"})
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(message)
