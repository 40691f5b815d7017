"""seidb-sim as real subprocesses: real digests, divergences, generations, faults, the runner contract."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import subprocess
import time
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

import pytest

from evmdigest.models import Backend, DigestReport, Generation, Normalization
from evmdigest.seidb import DigestRequest, ReportError, SeidbRunner, SeidbTimeout, parse_report
from evmdigest.seidb.procs import RUN_TAG_ENV, pids_tagged
from evmdigest.sim import write_node
from tests.golden import GOLDEN
from tests.plugins.sim import MakeNode, SimNode

NAMES = ("account", "code", "storage", "misc")
MARKERS = {b"migration/migration-version", b"migration/migration-boundary"}


def independent_digest(rows_bin: Path, skip_keys: AbstractSet[bytes] = frozenset()) -> dict[str, tuple[int, str]]:
    """The contract's algorithm in a few lines of hashlib, straight from rows.bin (no evmdigest code)."""
    data, pos = rows_bin.read_bytes(), 0
    accs, counts = [0, 0, 0, 0], [0, 0, 0, 0]
    while pos < len(data):
        bucket, klen = data[pos], int.from_bytes(data[pos + 1 : pos + 5], "big")
        key, pos = data[pos + 5 : pos + 5 + klen], pos + 5 + klen
        vlen = int.from_bytes(data[pos : pos + 4], "big")
        value, pos = data[pos + 4 : pos + 4 + vlen], pos + 4 + vlen
        if key in skip_keys:
            continue
        entry = hashlib.sha256(len(key).to_bytes(4, "big") + key + len(value).to_bytes(4, "big") + value).digest()
        accs[bucket] ^= int.from_bytes(entry, "big")
        counts[bucket] += 1
    raw = [acc.to_bytes(32, "big") for acc in accs]
    out = {name: (counts[i], raw[i].hex().upper()) for i, name in enumerate(NAMES)}
    out["final"] = (sum(counts), hashlib.sha256(b"".join(raw)).hexdigest().upper())
    return out


def digests(report: DigestReport) -> dict[str, tuple[int, str]]:
    return {name: (report.bucket(name).count, report.bucket(name).digest) for name in (*NAMES, "final")}


def run(argv: list[str], env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def scan(binary: Path, node: SimNode, side: str, **kwargs: Any) -> DigestReport:
    done = run(node.digest_argv(binary, side, **kwargs))
    assert done.returncode == 0, done.stdout + done.stderr
    return parse_report(done.stdout)


@pytest.mark.parametrize("marker", ["none", "version", "boundary"])
def test_digests_equal_an_independent_computation(
    sim_binary: Path, make_node: MakeNode, tmp_path: Path, marker: str
) -> None:
    node = make_node(tmp_path, height=1200, rows=400, migration_marker=marker)
    expected = independent_digest(node.memiavl_dir / "snapshot-00000000000000001200" / "rows.bin")
    assert independent_digest(node.flatkv_dir / "rows.bin", MARKERS) == expected
    flatkv = scan(sim_binary, node, "flatkv", json=True)
    assert digests(flatkv) == expected
    assert flatkv.marker_adjustments == (() if marker == "none" else (f"migration/migration-{marker}",))
    assert (flatkv.version, flatkv.mode) == (1200, "native")
    for normalization in ("semantic", "translator"):
        report = scan(sim_binary, node, "memiavl", normalization=normalization, json=True)
        assert digests(report) == expected and report.mode == normalization and report.marker_adjustments == ()
    assert node.expected("flatkv")["final"]["digest"] == expected["final"][1]


def test_golden_rows_reproduce_seidbs_own_digests(sim_binary: Path, tmp_path: Path) -> None:
    golden = json.loads(GOLDEN.read_text())
    rows = [
        (bucket, bytes.fromhex(e["key"]), bytes.fromhex(e["logical"]))
        for bucket in NAMES
        for e in golden[f"inspect/flatkv-h2/list-{bucket}"]["entries"]
    ]
    flatkv_dir, memiavl_dir = write_node(tmp_path / "golden", height=2, rows=rows)
    argv = [str(sim_binary), "evm-logical-digest", "--height", "2", "--json"]
    for case, extra in (
        ("digest/flatkv-h2", ["--backend", "flatkv", "-d", str(flatkv_dir)]),
        ("digest/memiavl-semantic-snapshot-h2", ["--backend", "memiavl", "-d", str(memiavl_dir)]),
    ):
        done = run(argv + extra)
        want = golden[case]
        got = json.loads(done.stdout)
        assert {n: got[n] for n in (*NAMES, "final")} == {n: want[n] for n in (*NAMES, "final")}, case
        assert (got["version"], got["mode"]) == (want["version"], want["mode"])


@pytest.mark.parametrize("diverge", ["storage", "account", "code", "misc", "missing-key"])
def test_each_divergence_changes_exactly_its_bucket(
    sim_binary: Path, make_node: MakeNode, tmp_path: Path, diverge: str
) -> None:
    node = make_node(tmp_path, rows=300, diverge=diverge)
    flatkv, memiavl = digests(scan(sim_binary, node, "flatkv")), digests(scan(sim_binary, node, "memiavl"))
    bucket = "storage" if diverge == "missing-key" else diverge
    assert {name for name in flatkv if flatkv[name] != memiavl[name]} == {bucket, "final"}
    assert flatkv[bucket][0] == memiavl[bucket][0] - (diverge == "missing-key")
    assert flatkv == {k: (v["count"], v["digest"]) for k, v in node.expected("flatkv").items() if k in flatkv}
    if diverge == "missing-key":  # one row apart: the XOR of the two digests is the missing row's entry hash
        xor = int(flatkv["storage"][1], 16) ^ int(memiavl["storage"][1], 16)
        done = run(node.digest_argv(sim_binary, "memiavl", find_hash=f"{xor:064x}"))
        found = [line for line in done.stdout.splitlines() if line.startswith("FOUND-HASH ")]
        assert len(found) == 1 and found[0].startswith("FOUND-HASH bucket=storage keyhex=65766D2F03")
        assert digests(parse_report(done.stdout)) == memiavl  # the hit line does not disturb the report


@pytest.mark.parametrize("generation", ["legacy", "misc", "json"])
def test_text_and_json_parse_to_the_same_digests(
    sim_binary: Path, make_node: MakeNode, tmp_path: Path, generation: str
) -> None:
    node = make_node(tmp_path, rows=120, generation=generation, migration_marker="version")
    text = run(node.digest_argv(sim_binary, "flatkv"))
    report = parse_report(text.stdout)
    assert report.generation is (Generation.LEGACY if generation == "legacy" else Generation.MISC)
    assert ("legacy   count=" in text.stdout) == (generation == "legacy")
    assert report.marker_adjustments == ("migration/migration-version",)
    with_json = run(node.digest_argv(sim_binary, "flatkv", json=True))
    if generation != "json":  # older builds: cobra rejects the flag, message on both streams
        assert with_json.returncode == 1
        assert with_json.stdout.strip() == "unknown flag: --json"
        assert with_json.stderr.startswith("Error: unknown flag: --json")
        return
    assert with_json.stdout.count("\n") == 1 and "EVM logical digest start" in with_json.stderr
    json_report = parse_report(with_json.stdout)
    assert json_report.generation is Generation.JSON and digests(json_report) == digests(report)


@pytest.mark.parametrize("generation", ["legacy", "misc", "json"])
def test_help_mentions_json_only_for_json_builds(sim_binary: Path, generation: str) -> None:
    done = run([str(sim_binary), "evm-logical-digest", "--help"], env={"SEIDB_SIM_GENERATION": generation})
    assert done.returncode == 0 and "--memiavl-normalization" in done.stdout
    assert ("--json" in done.stdout + done.stderr) == (generation == "json")


def test_runner_drives_the_sim_in_every_generation(
    sim_binary_for: Callable[[str], Path], make_node: MakeNode, tmp_path: Path
) -> None:
    node = make_node(tmp_path, rows=100)
    request = DigestRequest(Backend.MEMIAVL, node.memiavl_dir, node.height, Normalization.TRANSLATOR)
    for generation in Generation:
        result = SeidbRunner(sim_binary_for(generation.value), timeout=60).run_digest(request)
        assert result.json_output == (generation is Generation.JSON)
        assert result.report.generation is generation and result.report.version == node.height
        assert result.report.final.digest == node.expected("memiavl")["final"]["digest"]


def test_make_fixture_is_deterministic(sim_binary: Path, tmp_path: Path) -> None:
    def make(name: str, seed: int) -> dict[str, Any]:
        args = [str(sim_binary), "make-fixture", str(tmp_path / name), "--height", "50", "--rows", "500"]
        done = run([*args, "--seed", str(seed), "--diverge", "account"])
        assert done.returncode == 0, done.stderr
        summary: dict[str, Any] = json.loads(done.stdout)
        return summary

    first, second, other = make("a", 7), make("b", 7), make("c", 8)
    assert first["expected"] == second["expected"] and first["expected"] != other["expected"]
    for side in ("flatkv", "memiavl/snapshot-00000000000000000050"):
        assert (tmp_path / "a" / side / "rows.bin").read_bytes() == (tmp_path / "b" / side / "rows.bin").read_bytes()
    assert first["rows"] == {"account": 50, "code": 5, "storage": 440, "misc": 5, "total": 500}


def test_heights_snapshots_and_current(sim_binary: Path, make_node: MakeNode, tmp_path: Path) -> None:
    node = make_node(tmp_path, height=300, rows=60, extra_snapshots=[100, 200])
    assert os.readlink(node.memiavl_dir / "current") == "snapshot-00000000000000000300"
    assert scan(sim_binary, node, "memiavl", height=0).version == 300
    assert scan(sim_binary, node, "memiavl", height=100, open_mode="replay").mode == "semantic-replay"
    assert scan(sim_binary, node, "flatkv", height=0).version == 300
    assert scan(sim_binary, node, "flatkv", height=250).version == 250
    beyond = run(node.digest_argv(sim_binary, "flatkv", height=301))
    assert beyond.returncode == 1 and beyond.stdout.strip() == "target version 301 is beyond latest version 300"
    assert "Error: target version 301 is beyond latest version 300" in beyond.stderr
    missing = run(node.digest_argv(sim_binary, "memiavl", height=250))
    assert missing.returncode == 1
    assert f"snapshot not found for height 250 under {node.memiavl_dir}" in missing.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "unknown flag: --bogus"),
        (["-x"], "unknown shorthand flag: 'x' in -x"),
        (["--height", "abc"], 'invalid argument "abc" for "--height" flag'),
        (["--height"], "flag needs an argument: --height"),
        (["--memiavl-normalization", "raw"], 'unsupported memiavl normalization "raw"'),
    ],
)
def test_flag_errors_look_like_cobra(sim_binary: Path, tmp_path: Path, args: list[str], message: str) -> None:
    done = run([str(sim_binary), "evm-logical-digest", "--backend", "memiavl", "-d", str(tmp_path), *args])
    assert done.returncode == 1 and message in done.stdout and f"Error: {message}" in done.stderr


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


def test_slow_scans_sleep_and_overlap(sim_binary: Path, make_node: MakeNode, tmp_path: Path) -> None:
    node = make_node(tmp_path, rows=2000, slow=1.0)
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
    assert all(err.count("  progress ") >= 4 for _, err in outputs)  # progress spread over the slow second
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


def test_two_hundred_thousand_rows(sim_binary: Path, tmp_path: Path) -> None:
    args = [str(sim_binary), "make-fixture", str(tmp_path / "big"), "--height", "7", "--rows", "200000"]
    made = run([*args, "--diverge", "misc"])
    summary = json.loads(made.stdout)
    flatkv_dir = Path(summary["flatkv_dir"])
    done = run([str(sim_binary), "evm-logical-digest", "--backend", "flatkv", "-d", str(flatkv_dir), "--height", "7"])
    report = parse_report(done.stdout)
    assert digests(report) == independent_digest(flatkv_dir / "rows.bin")
    assert done.stdout.count("  progress ") >= 2 and report.final.count == 200000
