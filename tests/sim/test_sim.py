"""seidb-sim as real subprocesses: real digests, divergences, generations, faults, the runner contract."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evmdigest.models import Backend, Generation, Normalization
from evmdigest.seidb import DigestRequest, SeidbRunner, parse_report
from evmdigest.sim import write_node
from tests.golden import GOLDEN
from tests.plugins.sim import MakeNode
from tests.simtools import (
    MARKERS,
    NAMES,
    digests,
    flatkv_rows,
    independent_flatkv,
    independent_memiavl,
    kvs_leaves,
    run,
    scan,
    snapshot_kvs,
)


@pytest.mark.parametrize("marker", ["none", "version", "boundary"])
def test_digests_equal_an_independent_computation(
    sim_binary: Path, make_node: MakeNode, tmp_path: Path, marker: str
) -> None:
    node = make_node(tmp_path, height=1200, rows=400, migration_marker=marker)
    expected = independent_memiavl(snapshot_kvs(node.memiavl_dir, 1200))
    assert independent_flatkv(node.flatkv_dir / "rows.bin", MARKERS) == expected
    flatkv = scan(sim_binary, node, "flatkv", json=True)
    assert digests(flatkv) == expected
    assert flatkv.marker_adjustments == (() if marker == "none" else (f"migration/migration-{marker}",))
    assert (flatkv.version, flatkv.mode) == (1200, "native")
    for normalization in ("semantic", "translator"):
        report = scan(sim_binary, node, "memiavl", normalization=normalization, json=True)
        assert digests(report) == expected and report.mode == normalization and report.marker_adjustments == ()
    assert node.expected("flatkv")["final"]["digest"] == expected["final"][1]


def test_stores_are_in_their_own_key_order_with_more_leaves_than_rows(make_node: MakeNode, tmp_path: Path) -> None:
    node = make_node(tmp_path, height=213200000, rows=300)
    rows = [key for _, key, _ in flatkv_rows(node.flatkv_dir / "rows.bin")]
    leaves = [key for key, _ in kvs_leaves(snapshot_kvs(node.memiavl_dir, 213200000))]
    assert rows == sorted(rows) and leaves == sorted(leaves)  # pebble order / memIAVL raw key order
    assert node.summary["rows"] == {"account": 36, "code": 6, "storage": 228, "misc": 30, "total": 300}
    assert len(leaves) == node.summary["leaves"] == 306  # 36 nonce + 6 code-hash leaves, like the real fixture
    assert all(key.startswith(b"evm/") for key in rows) and not any(key.startswith(b"evm/") for key in leaves)


TRANSLATOR = ["--memiavl-normalization", "translator"]
LOGS_ON_STDERR = {"SEI_LOG_OUTPUT": "stderr"}  # as the real runs were recorded


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
        ("digest/memiavl-translator-snapshot-h2", ["--backend", "memiavl", "-d", str(memiavl_dir), *TRANSLATOR]),
    ):
        done = run(argv + extra, env=LOGS_ON_STDERR)  # seilog lines go to stdout by default
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
    with_json = run(node.digest_argv(sim_binary, "flatkv", json=True), env=LOGS_ON_STDERR)
    if generation != "json":  # older builds: cobra rejects the flag, message on both streams
        assert with_json.returncode == 1
        assert with_json.stdout.strip() == "unknown flag: --json"
        assert with_json.stderr.startswith("Error: unknown flag: --json\nUsage:\n")
        return
    assert with_json.stdout.count("\n") == 1 and "EVM logical digest start" in with_json.stderr
    json_report = parse_report(with_json.stdout)
    assert json_report.generation is Generation.JSON and digests(json_report) == digests(report)


@pytest.mark.parametrize("generation", ["legacy", "misc", "json"])
def test_help_mentions_json_only_for_json_builds(sim_binary: Path, generation: str) -> None:
    done = run([str(sim_binary), "evm-logical-digest", "--help"], env={"SEIDB_SIM_GENERATION": generation})
    assert done.returncode == 0 and "--memiavl-normalization" in done.stdout and "--inspect-bucket" in done.stdout
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
    for side in (
        "flatkv/rows.bin",
        "memiavl/snapshot-00000000000000000050/evm/kvs",
        "memiavl/changelog/sim-blocks.bin",
    ):
        assert (tmp_path / "a" / side).read_bytes() == (tmp_path / "b" / side).read_bytes()
    assert first["rows"] == {"account": 60, "code": 10, "storage": 380, "misc": 50, "total": 500}
    assert first["latest_height"] == 51


def test_heights_snapshots_and_current(sim_binary: Path, make_node: MakeNode, tmp_path: Path) -> None:
    node = make_node(tmp_path, height=300, rows=60, extra_snapshots=[100, 200])
    assert os.readlink(node.memiavl_dir / "current") == "snapshot-00000000000000000300"
    assert scan(sim_binary, node, "memiavl", height=0).version == 300
    assert scan(sim_binary, node, "memiavl", height=100, open_mode="replay").mode == "semantic-replay"
    assert scan(sim_binary, node, "flatkv", height=0).version == 301  # the tip: one block after H
    assert scan(sim_binary, node, "flatkv", height=299).version == 299
    beyond = run(node.digest_argv(sim_binary, "flatkv", height=302), env=LOGS_ON_STDERR)
    text = "open flatkv read-only: failed to open FlatKV at version 302: "
    text += "readonly version mismatch: requested 302, reached 301"
    assert beyond.returncode == 1 and beyond.stdout == text + "\n"
    assert f"Error: {text}\nUsage:\n" in beyond.stderr
    pruned = run(
        node.digest_argv(sim_binary, "flatkv", height=97), env=LOGS_ON_STDERR
    )  # FlatKV keeps H-2 below its oldest snapshot
    assert pruned.stdout == "open flatkv read-only: no snapshot found for target version 97\n"
    missing = run(node.digest_argv(sim_binary, "memiavl", height=250))
    evm = node.memiavl_dir / "snapshot-00000000000000000250" / "evm"
    assert missing.returncode == 1
    assert missing.stdout == f"read metadata: open {evm}/metadata: no such file or directory\n"
    below = run(node.digest_argv(sim_binary, "memiavl", height=50, open_mode="replay"))
    assert below.stdout == "open memiavl read-only replay: fail to seek snapshot: target version is pruned: 50\n"


PARSE_INT = 'strconv.ParseInt: parsing "abc": invalid syntax'
PARSE_BOOL = 'strconv.ParseBool: parsing "maybe": invalid syntax'
WANT_NORMALIZATION = "(want semantic|independent|translator)"
NO_REPLAY = '--inspect-bucket does not support --memiavl-open-mode="replay" yet'


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "unknown flag: --bogus"),
        (["-x"], "unknown shorthand flag: 'x' in -x"),
        (["--height", "abc"], f'invalid argument "abc" for "--height" flag: {PARSE_INT}'),
        (["--height"], "flag needs an argument: --height"),
        (["--list=maybe"], f'invalid argument "maybe" for "--list" flag: {PARSE_BOOL}'),
        (["--memiavl-normalization", "raw"], f'unknown --memiavl-normalization "raw" {WANT_NORMALIZATION}'),
        (["--memiavl-open-mode", "mmap"], 'unknown --memiavl-open-mode "mmap" (want snapshot|replay)'),
        (["--find-hash", "abc"], "decode --find-hash: encoding/hex: odd length hex string"),
        (["--find-hash", "zz"], "decode --find-hash: encoding/hex: invalid byte: U+007A 'z'"),
        (["--find-hash", "00ff"], "--find-hash must be 32 bytes, got 2"),
        (["--inspect-bucket", "nonce"], 'unknown --inspect-bucket "nonce"'),
        (
            ["--inspect-bucket", "code", "--key-prefix", "0g"],
            "decode --key-prefix: encoding/hex: invalid byte: U+0067 'g'",
        ),
        (["--inspect-bucket", "code", "--memiavl-open-mode", "replay"], NO_REPLAY),
        (["--inspect-bucket", "code", "--key-offset", "-1"], "--key-offset must be non-negative"),
    ],
)
def test_flag_errors_look_like_cobra(sim_binary: Path, tmp_path: Path, args: list[str], message: str) -> None:
    done = run([str(sim_binary), "evm-logical-digest", "--backend", "memiavl", "-d", str(tmp_path), *args])
    assert (done.returncode, done.stdout) == (1, message + "\n")
    assert done.stderr.startswith(f"Error: {message}\nUsage:\n  seidb evm-logical-digest [flags]\n\nFlags:\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "flatkv"], "must provide --db-dir"),
        (["--backend", "rocks", "-d", "x"], 'unknown --backend "rocks" (want flatkv|memiavl|composite)'),
        (
            ["--backend", "composite", "--flatkv-dir", "x"],
            "--backend composite requires --flatkv-dir and --memiavl-dir",
        ),
    ],
)
def test_command_errors_are_seidbs(sim_binary: Path, args: list[str], message: str) -> None:
    done = run([str(sim_binary), "evm-logical-digest", *args])
    assert (done.returncode, done.stdout) == (1, message + "\n") and done.stderr.startswith(f"Error: {message}\n")


def test_progress_lines_every_n_rows_in_the_real_formats(sim_binary: Path, make_node: MakeNode, tmp_path: Path) -> None:
    node = make_node(tmp_path, height=7, rows=300)
    plain = run(node.digest_argv(sim_binary, "flatkv"))
    assert "  progress " not in plain.stdout  # every 20,000,000 rows by default, like the real binary
    env = {"SEIDB_SIM_PROGRESS_EVERY": "100", "SEI_LOG_OUTPUT": "stderr"}
    flatkv = run(node.digest_argv(sim_binary, "flatkv"), env=env).stdout
    # pebble order: the 228 storage rows come first, then code, misc and accounts
    assert [line for line in flatkv.split("\n") if line.startswith("  progress ")] == [
        "  progress backend=flatkv input_physical_rows=100 digested account=0 code=0 storage=100 misc=0",
        "  progress backend=flatkv input_physical_rows=200 digested account=0 code=0 storage=200 misc=0",
        "  progress backend=flatkv input_physical_rows=300 digested account=36 code=6 storage=228 misc=30",
    ]
    semantic = run(node.digest_argv(sim_binary, "memiavl"), env=env).stdout
    assert (
        "  progress backend=memiavl mode=semantic input_leaves=300 digested account=deferred_until_finalize "
        in semantic
    )
    translator = run(node.digest_argv(sim_binary, "memiavl", normalization="translator"), env=env).stdout
    line = next(line for line in translator.split("\n") if "input_leaves=200" in line)
    assert line == (
        "  progress backend=memiavl mode=translator input_leaves=200 digested account=deferred_until_finalize "
        "code=0 storage=200 misc=0"
    )
    node.update_config("flatkv", progress_every=150)
    assert run(node.digest_argv(sim_binary, "flatkv")).stdout.count("  progress backend=flatkv") == 2


def test_two_hundred_thousand_rows(sim_binary: Path, tmp_path: Path) -> None:
    args = [str(sim_binary), "make-fixture", str(tmp_path / "big"), "--height", "7", "--rows", "200000"]
    made = run([*args, "--diverge", "misc"])
    summary = json.loads(made.stdout)
    flatkv_dir = Path(summary["flatkv_dir"])
    argv = [str(sim_binary), "evm-logical-digest", "--backend", "flatkv", "-d", str(flatkv_dir), "--height", "7"]
    done = run(argv, env={"SEIDB_SIM_PROGRESS_EVERY": "50000"})
    report = parse_report(done.stdout)
    assert digests(report) == independent_flatkv(flatkv_dir / "rows.bin")
    assert done.stdout.count("  progress backend=flatkv") == 4 and report.final.count == 200000
    memiavl = Path(summary["memiavl_dir"])
    semantic = run([*argv[:3], "memiavl", "-d", str(memiavl), "--height", "7"])
    assert digests(parse_report(semantic.stdout)) == independent_memiavl(snapshot_kvs(memiavl, 7))
