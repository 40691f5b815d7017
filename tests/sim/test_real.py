"""seidb-sim against the real binary, point by point: every recorded run of sei-chain 73f917b is replayed
on a sim fixture of the same shape (300 rows at H=213200000, the same named fixtures, the same command
line in the same cwd) and must print the same lines on the same streams with the same exit code.

Only run-specific parts are normalized before comparing (times, random clone-dir numbers, durations,
WAL offsets, 64-hex digests and keys): the sim's rows are not the real fixture's bytes. Everything else
(banner, source/normalization texts, progress and finalize lines, counts, leaves, error texts, usage,
seilog and pebble lines and where they go) must match exactly.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from evmdigest.models import InspectShards
from evmdigest.seidb import parse_report
from evmdigest.seidb.inspect import parse_inspect
from evmdigest.sim import make_fixture
from tests.simtools import REAL, REAL_HEIGHT, normalized, run

FIXTURES = {
    "clean": {},
    "flatkv-storage-changed": {"diverge": "storage"},
    "flatkv-storage-missing": {"diverge": "missing-key"},
    "flatkv-nonce-changed": {"diverge": "account"},
    "mid-migration-clean": {"migrate_keys": 195},
    "mid-migration-storage-changed": {"migrate_keys": 195, "diverge": "storage"},
    "memiavl-no-snapshot-at-h": {"snapshot_at_height": False, "extra_snapshots": [REAL_HEIGHT - 1, REAL_HEIGHT + 1]},
}
_CMD = re.compile(r"^\$ seidb (.*?)\s+\(in fixture (\S+)\)$")
_HEXES = re.compile(r"\b(key|keyhex|logicalhex|rawhex|logical)=[0-9A-F]+")
_SHARD = re.compile(r"\b(shard|key_prefix)=[0-9a-fA-F]*")
RUNS = sorted(p.name.removesuffix(".cmd") for p in REAL.glob("*.cmd"))


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("real-shaped")
    for name, options in FIXTURES.items():
        make_fixture(root / name, height=REAL_HEIGHT, rows=300, generation="misc", **options)  # type: ignore[arg-type]
    return root


def _loose(lines: list[str]) -> list[str]:
    # inspect/find-hash lines carry keys and values of the sim's own rows
    return [_SHARD.sub(r"\1=<S>", _HEXES.sub(r"\1=<H>", line)) for line in lines]


def _ordered(lines: list[str]) -> list[str]:
    # shard lines are sorted by shard name, which is the sim's own: compare them as a multiset
    shards = sorted(line for line in lines if line.startswith("shard="))
    return [line for line in lines if not line.startswith("shard=")] + shards


def _argv(sim_binary: Path, stem: str, cwd: Path) -> list[str]:
    match = _CMD.match((REAL / f"{stem}.cmd").read_text().strip())
    assert match, stem
    args = shlex.split(match.group(1))
    if "--key-prefix" in args:  # the real fixture's mutated slot sits in shard 3a; the sim's elsewhere
        args[args.index("--key-prefix") + 1] = _differing_shard(sim_binary, cwd)
    if "--find-hash" in args:  # the real hash is the XOR of the real storage digests; take the sim's
        args[args.index("--find-hash") + 1] = _missing_entry_hash(sim_binary, cwd)
    return [str(sim_binary), *args]


def _shards(sim_binary: Path, cwd: Path, side: str) -> InspectShards:
    argv = [str(sim_binary), "evm-logical-digest", "--backend", side, "-d", side, "--height", str(REAL_HEIGHT)]
    done = run([*argv, "--inspect-bucket", "storage", "--key-offset", "5", "--shard-next-bytes", "1"], cwd=cwd)
    report = parse_inspect(done.stdout)
    assert isinstance(report, InspectShards)
    return report


def _differing_shard(sim_binary: Path, cwd: Path) -> str:
    flatkv, memiavl = _shards(sim_binary, cwd, "flatkv"), _shards(sim_binary, cwd, "memiavl")
    (shard,) = [name for name in memiavl.shards if flatkv.shards.get(name) != memiavl.shards[name]]
    return shard


def _missing_entry_hash(sim_binary: Path, cwd: Path) -> str:
    reports = []
    for side in ("flatkv", "memiavl"):
        argv = [str(sim_binary), "evm-logical-digest", "--backend", side, "-d", side, "--height", str(REAL_HEIGHT)]
        reports.append(parse_report(run(argv, cwd=cwd).stdout))
    return f"{int(reports[0].storage.digest, 16) ^ int(reports[1].storage.digest, 16):064X}"


@pytest.mark.parametrize("stem", RUNS)
def test_sim_prints_what_the_real_binary_printed(sim_binary: Path, fixtures: Path, stem: str) -> None:
    fixture = _CMD.match((REAL / f"{stem}.cmd").read_text().strip())
    assert fixture is not None
    cwd = fixtures / fixture.group(2)
    env = {} if stem == "clean.flatkv.logs-on-stdout" else {"SEI_LOG_OUTPUT": "stderr"}
    done = run(_argv(sim_binary, stem, cwd), env=env, cwd=cwd)
    assert str(done.returncode) == (REAL / f"{stem}.rc").read_text().strip()
    real_out = normalized((REAL / f"{stem}.stdout").read_text())
    sim_out = normalized(done.stdout)
    if ".inspect-" in stem or ".find-hash" in stem:
        real_out, sim_out = _ordered(_loose(real_out)), _ordered(_loose(sim_out))
    assert sim_out == real_out
    if (REAL / f"{stem}.stderr").exists():
        assert normalized(done.stderr) == normalized((REAL / f"{stem}.stderr").read_text())


def test_every_recorded_run_is_replayed() -> None:
    assert len(RUNS) == 28 and all((REAL / f"{stem}.stdout").exists() for stem in RUNS)


def test_seilog_follows_sei_log_output(sim_binary: Path, fixtures: Path, tmp_path: Path) -> None:
    cwd = fixtures / "clean"
    argv = [str(sim_binary), "evm-logical-digest", "--backend", "flatkv", "-d", "flatkv", "--height", str(REAL_HEIGHT)]
    messages = [
        "FlatKV LoadVersionReadOnly",
        "FlatKV readonly base opened",
        "FlatKV readonly store opened",
        "FlatKV LoadVersionReadOnly complete",
        "FlatKV store closed",
        "FlatKV store closed",
    ]
    default = run(argv, cwd=cwd)
    assert re.findall(r'^time=\S+ level=INFO msg="([^"]+)"', default.stdout, re.M) == messages
    assert "Found 1 WALs" in default.stderr and "time=" not in default.stderr  # pebble's chatter: always stderr
    log_file = tmp_path / "seilog.txt"
    to_file = run(argv, cwd=cwd, env={"SEI_LOG_OUTPUT": str(log_file)})
    assert "time=" not in to_file.stdout + to_file.stderr and log_file.read_text().count("\n") == 6
    quiet = run(argv, cwd=cwd, env={"SEI_LOG_LEVEL": "error"})
    assert "time=" not in quiet.stdout and parse_report(quiet.stdout) == parse_report(default.stdout)


def test_translator_replay_clamps_too(sim_binary: Path, fixtures: Path) -> None:
    argv = [str(sim_binary), "evm-logical-digest", "--backend", "memiavl", "-d", "memiavl", "--height"]
    argv += [str(REAL_HEIGHT + 5), "--memiavl-open-mode", "replay", "--memiavl-normalization", "translator"]
    done = run(argv, cwd=fixtures / "clean", env={"SEI_LOG_OUTPUT": "stderr"})
    report = parse_report(done.stdout)
    assert (done.returncode, report.mode, report.version) == (0, "translator-replay", REAL_HEIGHT + 1)
    assert "  finalize backend=memiavl mode=translator-replay account=37 code=6 storage=227 misc=30" in done.stdout
    assert 'msg="finished replay and caught up to target version"' in done.stderr
