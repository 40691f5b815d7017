"""seidb-sim faults and pacing as real subprocesses: clamp, exit errors, garbage, the translator split,
slow scans, replay's slowdown, and a hang with a grandchild the runner must kill."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import time
from pathlib import Path

import pytest

from evmdigest.models import Backend, InspectList, Normalization
from evmdigest.seidb import DigestRequest, ReportError, SeidbRunner, SeidbTimeout, parse_report
from evmdigest.seidb.inspect import parse_inspect
from evmdigest.seidb.procs import RUN_TAG_ENV, pids_tagged
from tests.plugins.sim import MakeNode
from tests.simtools import digests, run, scan


def test_clamp_exit_error_and_unknown_fault(sim_binary: Path, make_node: MakeNode, tmp_path: Path) -> None:
    node = make_node(tmp_path, rows=50)
    node.set_faults("memiavl", clamp_version=900)
    clamped = scan(sim_binary, node, "memiavl", json=True)
    assert (clamped.requested_height, clamped.version) == (1000, 900)
    node.set_faults("flatkv", exit_error="pebble: corrupt WAL segment 000042.log")
    failed = run(node.digest_argv(sim_binary, "flatkv"))
    assert failed.returncode == 1 and failed.stdout.endswith("pebble: corrupt WAL segment 000042.log\n")
    assert "Error: pebble: corrupt WAL segment 000042.log" in failed.stderr
    node.set_faults("flatkv", exit_error=None, clamp=1)
    typo = run(node.digest_argv(sim_binary, "flatkv"))
    assert typo.returncode == 1 and "unknown fault key(s) clamp" in typo.stderr


@pytest.mark.parametrize("kind", [True, "truncated", "corrupt"])
@pytest.mark.parametrize("as_json", [False, True])
def test_garbage_never_parses(
    sim_binary: Path, make_node: MakeNode, tmp_path: Path, kind: bool | str, as_json: bool
) -> None:
    node = make_node(tmp_path, rows=50)
    node.set_faults("flatkv", garbage=kind)
    done = run(node.digest_argv(sim_binary, "flatkv", json=as_json))
    assert done.returncode == 0
    with pytest.raises(ReportError):
        parse_report(done.stdout)


def test_translator_diverge_splits_the_decoders(sim_binary: Path, make_node: MakeNode, tmp_path: Path) -> None:
    node = make_node(tmp_path, rows=80)
    node.set_faults("memiavl", translator_diverge="account")
    semantic = digests(scan(sim_binary, node, "memiavl"))
    translator = scan(sim_binary, node, "memiavl", normalization="translator")
    assert translator.zero_census is None
    changed = {n for n, v in digests(translator).items() if v != semantic[n]}
    assert changed == {"account", "final"}
    assert digests(scan(sim_binary, node, "flatkv")) == semantic


@pytest.mark.parametrize("bucket", ["account", "storage"])
def test_translator_diverge_alters_the_same_row_in_every_scan_and_inspect(
    sim_binary: Path, make_node: MakeNode, tmp_path: Path, bucket: str
) -> None:
    """The smallest key, not the first emitted: accounts come out in map order, and a digest scan, a second
    scan and an inspect listing must all alter the same row (a re-run must not flip; localization finds it)."""
    node = make_node(tmp_path, rows=120)
    node.set_faults("memiavl", translator_diverge=bucket)
    first, again = (digests(scan(sim_binary, node, "memiavl", normalization="translator")) for _ in range(2))
    assert first == again

    def listing(normalization: str) -> dict[str, str]:
        argv = node.inspect_argv(sim_binary, "memiavl", bucket, listing=True, list_limit=0, normalization=normalization)
        done = run(argv, env={"SEI_LOG_OUTPUT": "stderr"})
        report = parse_inspect(done.stdout)
        assert isinstance(report, InspectList)
        return {key: entry.logical for key, entry in report.entries.items()}

    semantic, translator = listing("semantic"), listing("translator")
    assert [key for key in semantic if semantic[key] != translator[key]] == [min(semantic)]


def test_slow_scans_sleep_and_overlap(sim_binary: Path, make_node: MakeNode, tmp_path: Path) -> None:
    node = make_node(tmp_path, rows=2000, slow=1.0, progress_every=400)
    log = tmp_path / "scans.jsonl"
    env = {**os.environ, "SEIDB_SIM_SCAN_LOG": str(log)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    procs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for argv in (
            node.digest_argv(sim_binary, "flatkv", json=True),
            node.digest_argv(sim_binary, "memiavl", json=True),
            node.digest_argv(sim_binary, "memiavl", normalization="translator", json=True),
        )
    ]
    outputs = [proc.communicate(timeout=60) for proc in procs]
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert all(proc.returncode == 0 for proc in procs)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"three slow scans: wall {wall:.2f}s, children cpu {cpu:.2f}s")
    assert wall >= 1.0 and cpu < 2.4  # mostly sleeping (interpreter start-up is most of the CPU), not burning
    assert all(err.count("  progress backend=") >= 4 for _, err in outputs)  # every 400 rows, on stderr (--json)
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert sorted(e["normalization"] or "" for e in entries) == ["", "semantic", "translator"]
    assert all(e["end"] - e["start"] >= 1.0 and e["height"] == 1000 for e in entries)
    assert max(e["start"] for e in entries) < min(e["end"] for e in entries)  # all three intervals overlap


def test_replay_is_ten_times_slower(sim_binary: Path, make_node: MakeNode, tmp_path: Path) -> None:
    node = make_node(tmp_path, rows=100, slow=0.1)
    started = time.monotonic()
    assert scan(sim_binary, node, "memiavl", open_mode="replay").version == node.height
    assert time.monotonic() - started >= 1.0


def test_hang_holds_a_grandchild_until_the_runner_kills_the_group(
    sim_binary: Path, make_node: MakeNode, tmp_path: Path
) -> None:
    node = make_node(tmp_path, rows=50)
    node.set_faults("memiavl", hang=True)
    proc = subprocess.Popen(
        node.digest_argv(sim_binary, "memiavl"), stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # ends (and the assert below fails) if the sim exits instead of hanging
            if "waiting on lock" in line:
                break
        time.sleep(0.3)
        group = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _pgid(int(p.name)) == proc.pid]
        assert any(Path(f"/proc/{pid}/cmdline").read_bytes() == b"sleep\x003600\x00" for pid in group)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    request = DigestRequest(Backend.MEMIAVL, node.memiavl_dir, node.height, Normalization.SEMANTIC)
    with pytest.raises(SeidbTimeout):
        SeidbRunner(sim_binary, timeout=2, run_tag=f"sim-hang-{os.getpid()}").run_digest(request)
    assert pids_tagged(RUN_TAG_ENV, f"sim-hang-{os.getpid()}") == []


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None
