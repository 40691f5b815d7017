"""`evm-digest` as people and scripts use it: real subprocesses, real exit codes, real output."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evmdigest.cli import build_parser
from evmdigest.emit import open_sink
from evmdigest.models import Generation
from evmdigest.seidb import parse_report
from evmdigest.seidb.render import render_text
from tests.console import CLOSED_API, cli
from tests.golden import as_printed, golden_json_line, golden_reports
from tests.plugins.sim import MakeNode

HEIGHT = 213200000
_cli = cli


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
    divergence = _cli("schema", "--divergence")
    assert divergence.stdout == (published.parent / "endpoint-divergence.schema.json").read_text()


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
        (
            ["run", "--kind", "composite", "--flatkv-dir", "."],
            "evm-digest run: --memiavl-dir is required: a composite node reads its memIAVL store",
        ),
        (
            ["run", "--kind", "memiavl", "--flatkv-dir", ".", "--memiavl-dir", "."],
            "evm-digest run: --flatkv-dir: a memiavl node has no FlatKV store; drop --flatkv-dir",
        ),
        (["run", "--kind", "flatkv", "--flatkv-dir", "."], "evm-digest run: --height is required: a flatkv node"),
        (["run", "--kind", "mixed", "--flatkv-dir", "."], "usage: "),
    ],
)
def test_a_bad_parameter_is_refused_naming_its_flag(args: list[str], message: str) -> None:
    # The request is checked before Prefect is imported, so no server is needed (none is configured here).
    done = _cli(*args, env={**os.environ, "PREFECT_API_URL": CLOSED_API})
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(message)


def _options(parser: argparse.ArgumentParser, path: str) -> list[tuple[str, argparse.Action]]:
    found = [(path, action) for action in parser._actions if not isinstance(action, argparse._SubParsersAction)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += _options(child, f"{path} {name}")
    return found


def test_every_option_of_every_command_has_help_text() -> None:
    options = _options(build_parser(), "evm-digest")
    commands = {path for path, _ in options}
    assert {"evm-digest run", "evm-digest verify", "evm-digest parse", "evm-digest demo"} <= commands
    missing = [f"{path} {action.option_strings or action.dest}" for path, action in options if not action.help]
    assert missing == []


def test_help_documents_the_exit_codes() -> None:
    for args in (["--help"], ["run", "--help"]):
        done = _cli(*args)
        assert done.returncode == 0
        text = " ".join(done.stdout.split())
        for line in ("0 every normalization matches, or nothing to seal", "1 digests differ",
                     "2 nothing published", "3 orchestration unavailable", "retry later"):  # fmt: skip
            assert line in text, (args, line)
    assert "1 mismatch, missing seal or tampered object" in " ".join(_cli("verify", "--help").stdout.split())


def test_parse_takes_pretty_printed_json(tmp_path: Path) -> None:
    line = golden_json_line("digest/flatkv-h2")
    pretty = json.dumps(json.loads(line), indent=2)
    done = _cli("parse", "-", stdin=f"narration before\n{pretty}\nnarration after\n")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads(parse_report(line).model_dump_json())
    cut = _cli("parse", "-", stdin=pretty[: len(pretty) // 2])
    assert cut.returncode == 2 and "no JSON report" in cut.stderr


def test_verify_takes_plain_relative_and_absolute_paths(tmp_path: Path) -> None:
    sink = open_sink(str(tmp_path / "sealed"))
    emitted = sink.emit_json("endpoint-digest-7-semantic.json.gz", {"height": 7})
    for target, cwd in (("sealed/endpoint-digest-7-semantic.json.gz", tmp_path),
                        (str(tmp_path / "sealed" / "endpoint-digest-7-semantic.json.gz"), None)):  # fmt: skip
        done = _cli("verify", target, cwd=cwd)
        assert done.returncode == 0, done.stdout + done.stderr
        outcome = json.loads(done.stdout)
        assert outcome["status"] == "ok" and outcome["actual"] == emitted.uncompressed_sha256


def test_importing_the_cli_loads_neither_prefect_nor_boto3() -> None:
    heavy = "('prefect', 'boto3', 'botocore', 'pandas')"
    code = f"import sys, evmdigest.cli; print(sorted(m for m in {heavy} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def _localize(node_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    common = ["--flatkv-dir", str(node_dir / "flatkv"), "--memiavl-dir", str(node_dir / "memiavl")]
    return _cli("localize", "--height", str(HEIGHT), *common, *args, env={**os.environ, "SEI_LOG_OUTPUT": "stderr"})


def test_localize_prints_the_keys_seals_the_report_and_exits_1(
    tmp_path: Path, make_node: MakeNode, sim_binary: Path
) -> None:
    node = make_node(tmp_path, height=HEIGHT, rows=600, diverge="account")
    sink = (tmp_path / "sealed").as_uri()
    args = ["--bucket", "account", "--bucket", "storage", "--seidb", str(sim_binary), "--sink", sink]
    done = _localize(node.root, *args, "--node", "n1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"Diverging keys at height {HEIGHT} (semantic) on n1: 1 key(s), complete" in done.stdout
    assert "| account  | changed  | 0a account |" in done.stdout and "| nonce " in done.stdout
    assert "storage: complete, 0 key(s), 1 pass(es) - the bucket matches" in done.stdout
    report = f"{sink}/n1/endpoint-divergence-{HEIGHT}-semantic.ndjson.gz"
    assert f"report  {report}\n" in done.stdout
    verified = _cli("verify", report)
    assert verified.returncode == 0, verified.stdout
    again = _localize(node.root, *args, "--node", "n1")
    assert again.returncode == 1 and f"report  {report} (already sealed)" in again.stdout


def test_localize_exit_codes_no_divergence_and_failure(tmp_path: Path, make_node: MakeNode, sim_binary: Path) -> None:
    clean = make_node(tmp_path, height=HEIGHT, rows=300)
    done = _localize(clean.root, "--bucket", "storage", "--seidb", str(sim_binary))
    assert done.returncode == 0, done.stdout + done.stderr
    assert ": 0 key(s), complete" in done.stdout
    missing = _localize(clean.root, "--bucket", "storage", "--seidb", str(tmp_path / "no-seidb"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert str(tmp_path / "no-seidb") in missing.stderr and missing.stdout == ""
    bad = _localize(clean.root, "--bucket", "storage", "--seidb", str(sim_binary), "--max-keys", "0")
    assert bad.returncode == 2 and bad.stderr.startswith("evm-digest localize: --max-keys:")
    dirs = ["--flatkv-dir", str(clean.flatkv_dir), "--memiavl-dir", str(clean.memiavl_dir)]
    wrong_height = _cli("localize", "--height", str(HEIGHT + 7), *dirs, "--bucket", "code", "--seidb", str(sim_binary))
    assert wrong_height.returncode == 2 and "Traceback" not in wrong_height.stderr
    first = wrong_height.stderr.splitlines()[0]
    assert first.startswith("evm-digest localize: seidb exited with code 1: open flatkv read-only: failed to open")
