"""Run-level integrity through the console script: per-node layout, one verdict set per (node, height),
concurrent runs, seals only for bytes we wrote, stale temp files. Real `evm-digest run` subprocesses on
simulated nodes; S3 is moto over HTTP (with the fault proxy for a 503 SlowDown on one PUT)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evmdigest.emit import open_sink
from evmdigest.emit.folder import FolderSink
from evmdigest.emit.keys import TMP_MARK
from evmdigest.models import Normalization
from evmdigest.segments import parse_record_key, record_key
from tests.plugins.s3 import Fault, FaultProxy, S3Target
from tests.plugins.sim import MakeNode, SimNode

EVM_DIGEST = str(Path(sys.executable).parent / "evm-digest")
HEIGHT = 213200000
SEM, TRA = Normalization.SEMANTIC, Normalization.TRANSLATOR


def _argv(node: SimNode, sim_binary: Path, sink: str, *extra: str) -> list[str]:
    return [EVM_DIGEST, "run", "--flatkv-dir", str(node.flatkv_dir), "--memiavl-dir", str(node.memiavl_dir),
            "--seidb", str(sim_binary), "--sink", sink, "--timeout", "120", *extra]  # fmt: skip


def _cli(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False, env=env)


def _together(argvs: list[list[str]], env: dict[str, str]) -> list[tuple[int, str, str]]:
    """Start every run at once; (exit code, stdout, stderr) of each."""
    procs = [subprocess.Popen(a, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for a in argvs]
    outputs = [p.communicate(timeout=300) for p in procs]
    return [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs, strict=True)]


def _env(prefect_api: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "PREFECT_API_URL": prefect_api, **extra}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_two_named_nodes_share_one_sink_without_colliding(
    prefect_api: str, tmp_path: Path, make_node: MakeNode, sim_binary: Path
) -> None:
    env, sink = _env(prefect_api), (tmp_path / "sealed").as_uri()
    clean = make_node(tmp_path, height=HEIGHT, rows=800)
    diverged = make_node(tmp_path, height=HEIGHT, rows=800, diverge="storage")
    a = _cli(_argv(clean, sim_binary, sink, "--node", "node-a", "--height", str(HEIGHT)), env)
    assert a.returncode == 0, a.stderr[-2000:]
    b = _cli(_argv(diverged, sim_binary, sink, "--node", "node-b", "--height", str(HEIGHT)), env)
    assert b.returncode == 1, b.stderr[-2000:]  # its own mismatch, published beside node-a's match
    assert (
        "verdict set conflict" not in b.stderr and "verdict flip" not in b.stderr and "already sealed" not in b.stdout
    )
    again = _cli(_argv(clean, sim_binary, sink, "--node", "node-a", "--height", str(HEIGHT)), env)
    assert again.returncode == 0 and again.stdout.count("already sealed") == 2, again.stderr[-2000:]
    # Segment discovery reads only its own node's layout: node-c still has HEIGHT to seal.
    c = _cli(_argv(clean, sim_binary, sink, "--node", "node-c"), env)
    assert c.returncode == 0 and "already sealed" not in c.stdout, c.stderr[-2000:]
    records = [key for key in open_sink(sink).list_keys() if parse_record_key(key)]  # node-b's localization beside
    assert records == sorted(record_key(HEIGHT, n, node) for n in (SEM, TRA) for node in ("node-a", "node-b", "node-c"))
    folder = open_sink(sink)
    assert folder.read_json(record_key(HEIGHT, SEM, "node-b"))["match"] is False
    assert folder.read_json(record_key(HEIGHT, SEM, "node-a"))["match"] is True


def test_mixed_set_sequence_publishes_nothing_new_and_names_both_digests(
    prefect_api: str, tmp_path: Path, make_node: MakeNode, sim_binary: Path
) -> None:
    """Seal semantic from a clean store, then both normalizations from a diverged store of that node and height."""
    env, root = _env(prefect_api), tmp_path / "sealed"
    clean = make_node(tmp_path, height=HEIGHT, rows=800)
    diverged = make_node(tmp_path, height=HEIGHT, rows=800, diverge="code")
    common = ["--node", "node-m", "--height", str(HEIGHT)]
    first = _cli(_argv(clean, sim_binary, root.as_uri(), *common, "--normalization", "semantic"), env)
    assert first.returncode == 0, first.stderr[-2000:]
    before = _files(root)
    mixed = _cli(_argv(diverged, sim_binary, root.as_uri(), *common), env)
    assert mixed.returncode == 2, mixed.stdout[-2000:] + mixed.stderr[-2000:]
    clean_digest, diverged_digest = (
        clean.expected("flatkv")["final"]["digest"],
        diverged.expected("flatkv")["final"]["digest"],
    )
    assert clean_digest != diverged_digest
    assert "verdict set conflict" in mixed.stderr
    assert f"flatkv {clean_digest}, this run's flatkv {diverged_digest}" in mixed.stderr
    assert _files(root) == before  # nothing new: no translator record, no intent, no claim left


def test_concurrent_runs_with_a_throttled_put_leave_one_consistent_set(
    prefect_api: str,
    tmp_path: Path,
    make_node: MakeNode,
    sim_binary: Path,
    s3_bucket: S3Target,
    s3_fault_proxy: FaultProxy,
) -> None:
    throttled = s3_fault_proxy.inject(
        Fault(503, "SlowDown", method="PUT", path_suffix=f"{HEIGHT}-translator.json.gz", times=1)
    )
    via = s3_fault_proxy.target(s3_bucket)
    clean = make_node(tmp_path, height=HEIGHT, rows=800)
    diverged = make_node(tmp_path, height=HEIGHT, rows=800, diverge="storage")
    common = ["--node", "node-x", "--height", str(HEIGHT), "--endpoint-url", via.endpoint_url]
    runs = _together(
        [_argv(store, sim_binary, via.url("evm"), *common) for store in (clean, diverged)], _env(prefect_api)
    )
    codes = sorted(code for code, _, _ in runs)
    assert throttled.fired == 1
    assert codes in ([0, 2], [1, 2]), runs  # one run publishes its whole set, the other publishes nothing
    loser = next(err for code, _, err in runs if code == 2)
    assert "verdict set conflict" in loser
    sink = open_sink(s3_bucket.url("evm"), endpoint_url=s3_bucket.endpoint_url)
    records = [sink.read_json(key) for key in sink.list_keys() if parse_record_key(key)]  # not the localization
    assert len(records) == 2 and len({r["flatkv_digest"] for r in records}) == 1
    assert all(sink.read_seal(key) is not None for key in sink.list_keys())
    assert not any("/claims/" in key for key in sink.list_keys(include_control=True))  # both claims released


def test_identical_concurrent_runs_all_succeed(
    prefect_api: str, tmp_path: Path, make_node: MakeNode, sim_binary: Path
) -> None:
    node = make_node(tmp_path, height=HEIGHT, rows=800)
    sink = (tmp_path / "sealed").as_uri()
    argv = _argv(node, sim_binary, sink, "--node", "node-i", "--height", str(HEIGHT))
    runs = _together([argv] * 3, _env(prefect_api))
    assert [code for code, _, _ in runs] == [0, 0, 0], [err[-1500:] for _, _, err in runs]
    assert sum(out.count("already sealed") for _, out, _ in runs) == 4  # two runs found both records sealed
    folder = open_sink(sink)
    assert all(folder.read_seal(key) is not None for key in folder.list_keys())


def test_a_forged_record_with_its_seal_deleted_is_tampered_never_sealed(
    prefect_api: str, tmp_path: Path, make_node: MakeNode, sim_binary: Path
) -> None:
    env, root = _env(prefect_api), tmp_path / "sealed"
    node = make_node(tmp_path, height=HEIGHT, rows=800)
    argv = _argv(node, sim_binary, root.as_uri(), "--node", "node-f", "--height", str(HEIGHT))
    assert _cli(argv, env).returncode == 0
    key = record_key(HEIGHT, SEM, "node-f")
    sealed = json.loads(gzip.decompress((root / key).read_bytes()))
    forged = {**sealed, "axes_proved": [*sealed["axes_proved"], "balance"], "node": "elsewhere", "flatkv_count": 1}
    scratch = FolderSink(tmp_path / "scratch")
    scratch.emit_json(key, forged)  # our own serializer, as an attacker would use it; verdict fields unchanged
    (root / key).write_bytes(scratch.path_for(key).read_bytes())
    (root / f"{key}.seal.json").unlink()

    rerun = _cli(argv, env)
    assert rerun.returncode == 2, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    assert "no evm-digest writer recorded" in rerun.stderr and "Hint:" in rerun.stderr
    assert not (root / f"{key}.seal.json").exists()
    verify = _cli([EVM_DIGEST, "verify", (root / key).as_uri()], env)
    assert verify.returncode == 1 and json.loads(verify.stdout)["status"] == "tampered"


def test_the_next_run_removes_stale_temp_files_and_nothing_else(
    prefect_api: str, tmp_path: Path, make_node: MakeNode, sim_binary: Path
) -> None:
    root = tmp_path / "sealed"
    stale = root / "node-t" / f".endpoint-digest-{HEIGHT}-semantic.json.gz{TMP_MARK}{'a' * 32}"
    fresh = root / "node-t" / f".endpoint-digest-{HEIGHT}-translator.json.gz{TMP_MARK}{'b' * 32}"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"left by kill -9")
    fresh.write_bytes(b"a writer still at work")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    node = make_node(tmp_path, height=HEIGHT, rows=800)
    done = _cli(_argv(node, sim_binary, root.as_uri(), "--node", "node-t", "--height", str(HEIGHT)), _env(prefect_api))
    assert done.returncode == 0, done.stderr[-2000:]
    assert not stale.exists() and fresh.exists()
    assert len(open_sink(root.as_uri()).list_keys()) == 2


@pytest.fixture(autouse=True)
def _no_leftover_claims(tmp_path: Path) -> object:
    yield None
    leftovers = [p for p in tmp_path.rglob("claim-*.json") if p.parent.name == "claims"]
    assert leftovers == [], "a run left its claim behind"
