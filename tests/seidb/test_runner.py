"""SeidbRunner against real subprocesses: tiny scripts for each fault (the simulator has its own tests)."""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path

import pytest

from evmdigest.models import Backend, Generation, InspectList, InspectShards, Normalization
from evmdigest.seidb import (
    DigestRequest,
    FindHashRequest,
    InspectRequest,
    ReportError,
    SeidbFailed,
    SeidbNotFound,
    SeidbRunner,
    SeidbTimeout,
    parse_report,
)
from evmdigest.seidb.journal import stop_run
from evmdigest.seidb.procs import RUN_TAG_ENV, pids_tagged
from evmdigest.seidb.render import render_json, render_text
from tests.golden import golden_json_line
from tests.plugins.sim import MakeNode

FLATKV = DigestRequest(Backend.FLATKV, Path("/data/flatkv"), 2)
MEMIAVL = DigestRequest(Backend.MEMIAVL, Path("/data/memiavl"), 2, Normalization.TRANSLATOR)


def _script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


def test_missing_binary_names_path_and_fix(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "seidb"
    with pytest.raises(SeidbNotFound) as err:
        SeidbRunner(missing).run_digest(FLATKV)
    assert str(missing) in str(err.value)
    assert "--seidb" in str(err.value) and "SeidbCli" in str(err.value)


def test_non_executable_binary_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "seidb"
    plain.write_text("not a program")
    with pytest.raises(SeidbNotFound, match="not executable"):
        SeidbRunner(plain).run_digest(FLATKV)


def test_exit_one_keeps_the_tail_of_both_streams(tmp_path: Path) -> None:
    noise = "x" * 100
    binary = _script(
        tmp_path,
        "seidb",
        f"""for i in $(seq 1 200); do echo "narration $i {noise}"; done
echo "open flatkv: target version 9 is beyond latest version 4"
echo "Error: open flatkv: target version 9 is beyond latest version 4" >&2
exit 1
""",
    )
    with pytest.raises(SeidbFailed) as err:
        SeidbRunner(binary).run_digest(FLATKV, json_output=False)
    failure = err.value
    assert failure.exit_code == 1
    assert failure.stdout_tail.rstrip().endswith("beyond latest version 4")
    assert "Error: open flatkv" in failure.stderr_tail
    assert len(failure.stdout_tail.encode()) <= 4096
    assert "narration 1 " not in failure.stdout_tail  # only the tail is kept
    # one line for people: the scan, the first error line (not the tail), the hint; the rest in details
    assert (
        failure.one_line
        == "flatkv at 2: seidb failed (exit 1): open flatkv: target version 9 is beyond latest version 4"
    )
    assert "\n" not in str(failure) and failure.hint in str(failure)
    assert "--backend flatkv" in failure.details and "narration 200 " in failure.details


def test_timeout_kills_the_child_and_its_grandchild(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    binary = _script(
        tmp_path,
        "seidb",
        f"""sleep 3600 &
echo "$! grandchild" >> {pids}
echo "$$ child" >> {pids}
echo "scanning..."
sleep 3600
""",
    )
    started = time.monotonic()
    with pytest.raises(SeidbTimeout) as err:
        SeidbRunner(binary, timeout=2).run_digest(FLATKV, json_output=False)
    assert time.monotonic() - started < 30
    assert "scanning..." in err.value.stdout_tail
    recorded = {role: int(pid) for pid, role in (line.split() for line in pids.read_text().splitlines())}
    assert set(recorded) == {"child", "grandchild"}
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in recorded.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in recorded.values()), recorded


def test_a_grandchild_that_escapes_the_group_is_killed_by_its_scan_tag(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    binary = _script(
        tmp_path,
        "seidb",
        f"""setsid sleep 3600 &
echo "$!" >> {pids}
sleep 3600
""",
    )
    with pytest.raises(SeidbTimeout):
        SeidbRunner(binary, timeout=1.5).run_digest(FLATKV, json_output=False)
    escaped = int(pids.read_text().split()[0])
    deadline = time.monotonic() + 5
    while _alive(escaped) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(escaped)


def test_garbage_output_with_exit_zero_fails_closed(tmp_path: Path) -> None:
    binary = _script(tmp_path, "seidb", "head -c 4000 /dev/urandom | base64\nexit 0\n")
    with pytest.raises(ReportError) as err:
        SeidbRunner(binary).run_digest(FLATKV, json_output=False)
    assert "command:" in "\n".join(getattr(err.value, "__notes__", []))


def _report_script(tmp_path: Path, *, supports_json: bool, gate_file: Path | None = None) -> Path:
    report = parse_report(golden_json_line("digest/flatkv-h2"))
    (tmp_path / "report.txt").write_text(render_text(report, Generation.MISC))
    (tmp_path / "report.json").write_text(render_json(report))
    wait = f'while [ ! -e "{gate_file}" ]; do sleep 0.05; done\n' if gate_file else ""
    help_text = "  --json   print one JSON object" if supports_json else "  --height int"
    return _script(
        tmp_path,
        "seidb",
        f"""if [ "$2" = "--help" ]; then echo "{help_text}"; exit 0; fi
echo "$@" > {tmp_path}/argv
echo "EVM logical digest start"
echo "version: 99"
echo "  progress backend=flatkv input_physical_rows=1"
{wait}for a in "$@"; do if [ "$a" = "--json" ]; then echo "narration" >&2; cat {tmp_path}/report.json; exit 0; fi; done
cat {tmp_path}/report.txt
""",
    )


@pytest.mark.parametrize("supports_json", [True, False])
def test_json_is_requested_only_when_the_binary_supports_it(tmp_path: Path, supports_json: bool) -> None:
    binary = _report_script(tmp_path, supports_json=supports_json)
    result = SeidbRunner(binary).run_digest(FLATKV)
    assert result.json_output is supports_json
    assert ("--json" in (tmp_path / "argv").read_text()) is supports_json
    expected = Generation.JSON if supports_json else Generation.MISC
    assert result.report.generation is expected
    assert result.report.version == 2  # the report's, never the banner's 99


def test_lines_reach_the_callback_while_the_scan_runs(tmp_path: Path) -> None:
    """The script blocks until the callback has seen its progress line: batch delivery would time out."""
    gate = tmp_path / "gate"
    binary = _report_script(tmp_path, supports_json=False, gate_file=gate)
    seen: list[tuple[str, str]] = []

    def on_line(stream: str, line: str) -> None:
        seen.append((stream, line))
        if "progress" in line:
            gate.touch()

    result = SeidbRunner(binary, timeout=20).run_digest(FLATKV, on_line=on_line)
    assert result.report.final.count == 10
    assert ("stdout", "  progress backend=flatkv input_physical_rows=1") in seen
    assert seen[-1][1].startswith("FINAL_DIGEST")


def test_json_detection_runs_once_per_binary(tmp_path: Path) -> None:
    binary = _report_script(tmp_path, supports_json=True)
    counter = tmp_path / "help-count"
    text = binary.read_text().replace('then echo "', f'then echo x >> {counter}; echo "', 1)
    binary.write_text(text)
    os.utime(binary, ns=(1, 1))  # a new (mtime, size) key: this file has not been probed before
    runner = SeidbRunner(binary)
    for _ in range(3):
        runner.run_digest(FLATKV)
    assert counter.read_text().count("x") == 1


def _is_scan(pid: int) -> bool:
    try:  # the scan, not the runner's `--help` probe (which carries the same run tag)
        return b"--backend" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _environ_of_running_scan(runner: SeidbRunner, request: DigestRequest, run_tag: str) -> dict[str, str]:
    """Start the scan in a thread, read /proc/<pid>/environ of the live seidb, then stop it."""
    errors: list[BaseException] = []

    def scan() -> None:
        try:
            runner.run_digest(request)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=scan)
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while not (pids := [pid for pid in pids_tagged(RUN_TAG_ENV, run_tag) if _is_scan(pid)]):
            assert time.monotonic() < deadline and not errors, errors
            time.sleep(0.05)
        raw = Path(f"/proc/{pids[0]}/environ").read_bytes().split(b"\0")
        return dict(entry.decode().split("=", 1) for entry in raw if b"=" in entry)
    finally:
        stop_run(run_tag, grace=2)
        thread.join(60)


def test_seidb_never_sees_cloud_credentials_and_json_runs_log_to_stderr(
    sim_binary: Path, make_node: MakeNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = make_node(tmp_path, rows=2000, slow=600.0)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("PREFECT_API_KEY", "pnu_secret")
    monkeypatch.delenv("SEI_LOG_OUTPUT", raising=False)
    request = DigestRequest(Backend.FLATKV, node.flatkv_dir, node.height)
    tag = f"env-{os.getpid()}"
    seen = _environ_of_running_scan(SeidbRunner(sim_binary, run_tag=tag), request, tag)
    assert "AWS_SECRET_ACCESS_KEY" not in seen and "PREFECT_API_KEY" not in seen
    assert seen["SEI_LOG_OUTPUT"] == "stderr"  # the sim is a --json build: seilog must not share stdout
    assert seen[RUN_TAG_ENV] == tag and "PATH" in seen
    # a user's choice wins
    block_env = SeidbRunner(sim_binary, run_tag=tag + "b", env={"SEI_LOG_OUTPUT": "stdout", "SEI_X": "1"})
    seen = _environ_of_running_scan(block_env, request, tag + "b")
    assert seen["SEI_LOG_OUTPUT"] == "stdout" and seen["SEI_X"] == "1"


REAL = Path(__file__).resolve().parents[1] / "data" / "seidb-reports" / "real-73f917b"


def test_run_inspect_parses_the_real_shard_and_list_output(tmp_path: Path) -> None:
    """A stand-in binary that prints the real 73f917b inspect output for the command line it gets."""
    shards = REAL / "flatkv-storage-changed.memiavl-semantic.inspect-shards.stdout"
    listing = REAL / "flatkv-storage-changed.memiavl-semantic.inspect-list.stdout"
    binary = _script(
        tmp_path,
        "seidb",
        f'echo "$@" > {tmp_path}/argv\ncase "$*" in *--list*) cat {listing} ;; *) cat {shards} ;; esac\n',
    )
    runner = SeidbRunner(binary)
    common = {"backend": Backend.MEMIAVL, "db_dir": Path("memiavl"), "height": 213200000, "bucket": "storage"}
    report = runner.run_inspect(InspectRequest(**common, key_offset=5, shard_next_bytes=1), json_output=False)
    assert isinstance(report, InspectShards) and report.total_leaves == 306
    assert sorted(report.shards) == ["0f", "3a", "3c", "83", "96", "ac"]
    listed = runner.run_inspect(
        InspectRequest(**common, key_offset=5, key_prefix="3a", list_pairs=True, list_limit=0), json_output=False
    )
    assert isinstance(listed, InspectList) and len(listed.entries) == listed.listed == 38
    argv = (tmp_path / "argv").read_text().split()
    assert argv[argv.index("--key-prefix") + 1] == "3a" and argv[argv.index("--list-limit") + 1] == "0"


def test_run_find_hash_returns_the_report_and_the_real_hit(tmp_path: Path) -> None:
    found = REAL / "flatkv-storage-missing.memiavl-semantic.find-hash.stdout"
    binary = _script(tmp_path, "seidb", f'echo "$@" > {tmp_path}/argv\ncat {found}\n')
    entry = "58AD0EEFF93B2EC2388F03C90838A01A95BDD3E8D2A2B0FD44618DB481CEE197"
    scan = DigestRequest(Backend.MEMIAVL, Path("memiavl"), 213200000, Normalization.SEMANTIC)
    result = SeidbRunner(binary).run_find_hash(FindHashRequest(scan, entry), json_output=False)
    assert result.report.storage.count == 228
    (hit,) = result.hits
    assert hit.bucket == "storage" and hit.key.startswith("65766D2F033AE81C80")
    assert (tmp_path / "argv").read_text().split()[-2:] == ["--find-hash", entry]


def test_run_inspect_fails_closed_on_an_incomplete_listing(tmp_path: Path) -> None:
    listing = (REAL / "flatkv-storage-changed.flatkv.inspect-list.stdout").read_text().split("\n")
    cut = "\n".join(line for line in listing if not line.startswith("listed="))
    binary = _script(tmp_path, "seidb", f"cat <<'EOF'\n{cut}\nEOF\n")
    request = InspectRequest(Backend.FLATKV, Path("flatkv"), 213200000, "storage", list_pairs=True, list_limit=0)
    with pytest.raises(ReportError, match="listed") as err:
        SeidbRunner(binary).run_inspect(request, json_output=False)
    assert "command:" in "".join(getattr(err.value, "__notes__", []))


@pytest.mark.parametrize("json_output", [False, True], ids=["text", "json"])
def test_a_composite_scan_reads_its_counts_from_narration_on_either_stream(
    sim_binary: Path, make_node: MakeNode, tmp_path: Path, json_output: bool
) -> None:
    """Text builds narrate on stdout, --json builds on stderr: the migration check needs the counts either way."""
    node = make_node(tmp_path, height=5000, rows=300, migrate_keys=195)
    request = DigestRequest.composite(node.flatkv_dir, node.memiavl_dir, 5000)
    result = SeidbRunner(sim_binary).run_digest(request, json_output=json_output)
    assert result.argv[1:5] == ["evm-logical-digest", "--backend", "composite", "--flatkv-dir"]
    assert (result.report.generation is Generation.JSON) == json_output
    counts = result.report.composite_counts
    flatkv_rows = node.summary["flatkv_rows"]["total"]
    assert counts is not None and (counts.flatkv_rows, counts.memiavl_leaves) == (flatkv_rows, 111)
    assert result.report.final.digest == node.expected("reference")["final"]["digest"]
    assert not list(node.flatkv_dir.glob(".seidb-flatkv-tool-*"))  # the composite scan's FlatKV clone is gone
