"""seidb-sim inspect and find-hash, checked against the real outputs built from the SAME rows: the 38
listed slots of the real fixture's shard 3a, and sei-chain's golden inspect cases (with their rows)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from evmdigest.models import InspectList, InspectReport, InspectShards
from evmdigest.seidb import parse_report
from evmdigest.seidb.inspect import found_hashes, parse_inspect
from evmdigest.sim import write_node
from tests.golden import GOLDEN
from tests.plugins.sim import MakeNode, SimNode
from tests.simtools import REAL, REAL_HEIGHT, run

MUTATED = (
    "65766D2F033AE81C80DED9604A32933F97762799AF1F42A2748D78BAB205C3D394735BF016C5DEED38A389CF4587BB7078C153B8C370222982"
)
LOGS_ON_STDERR = {"SEI_LOG_OUTPUT": "stderr"}


def _listed(stem: str) -> list[tuple[str, bytes, bytes]]:
    report = parse_inspect((REAL / f"{stem}.inspect-list.stdout").read_text())
    assert isinstance(report, InspectList)
    return [("storage", bytes.fromhex(key), bytes.fromhex(e.logical)) for key, e in report.entries.items()]


@pytest.fixture(scope="module")
def shard_3a(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Nodes holding exactly the real fixture's shard-3a storage rows (memIAVL and FlatKV sides)."""
    root = tmp_path_factory.mktemp("shard-3a")
    memiavl_rows = _listed("flatkv-storage-changed.memiavl-semantic")
    changed = _listed("flatkv-storage-changed.flatkv")
    missing = [row for row in memiavl_rows if row[1].hex().upper() != MUTATED]
    write_node(root / "flatkv-storage-changed", height=REAL_HEIGHT, rows=memiavl_rows, flatkv_rows=changed)
    write_node(root / "flatkv-storage-missing", height=REAL_HEIGHT, rows=memiavl_rows, flatkv_rows=missing)
    return root


def _real_argv(sim_binary: Path, stem: str) -> list[str]:
    command = (REAL / f"{stem}.cmd").read_text().split("$ seidb ", 1)[1].split("   (in fixture")[0]
    return [str(sim_binary), *command.split()]


@pytest.mark.parametrize("side", ["flatkv", "memiavl-semantic"])
def test_list_from_the_same_rows_prints_the_real_file(sim_binary: Path, shard_3a: Path, side: str) -> None:
    stem = f"flatkv-storage-changed.{side}.inspect-list"
    done = run(_real_argv(sim_binary, stem), cwd=shard_3a / "flatkv-storage-changed", env=LOGS_ON_STDERR)
    real = (REAL / f"{stem}.stdout").read_text()
    # identical but for memIAVL's leaf total: this node holds only the 38 listed leaves, not 306
    assert done.stdout == real.replace("total leaves=306", "total leaves=38")


@pytest.mark.parametrize(
    ("fixture", "side"),
    [
        ("flatkv-storage-changed", "flatkv"),
        ("flatkv-storage-changed", "memiavl-semantic"),
        ("flatkv-storage-missing", "flatkv"),
        ("flatkv-storage-missing", "memiavl-semantic"),
    ],
)
def test_shard_3a_digest_and_count_equal_the_real_ones(
    sim_binary: Path, shard_3a: Path, fixture: str, side: str
) -> None:
    stem = f"{fixture}.{side}.inspect-shards"
    done = run(_real_argv(sim_binary, stem), cwd=shard_3a / fixture, env=LOGS_ON_STDERR)
    sim, real = parse_inspect(done.stdout), parse_inspect((REAL / f"{stem}.stdout").read_text())
    assert isinstance(sim, InspectShards) and isinstance(real, InspectShards)
    assert sim.shards == {"3a": real.shards["3a"]}  # the real XOR accumulator, from the same entries
    shard_line = next(line for line in done.stdout.split("\n") if line.startswith("shard=3a "))
    assert shard_line in (REAL / f"{stem}.stdout").read_text().split("\n")


def test_find_hash_from_the_same_rows_prints_the_real_hit(sim_binary: Path, shard_3a: Path) -> None:
    stem = "flatkv-storage-missing.memiavl-semantic.find-hash"
    done = run(_real_argv(sim_binary, stem), cwd=shard_3a / "flatkv-storage-missing", env=LOGS_ON_STDERR)
    (hit,) = [line for line in done.stdout.split("\n") if line.startswith("FOUND-HASH ")]
    assert hit in (REAL / f"{stem}.stdout").read_text().split("\n")
    lines = done.stdout.split("\n")  # printed during the scan: after the Note line, before finalize
    assert lines.index(hit) == lines.index(next(x for x in lines if x.startswith("Note:"))) + 1
    changed_value = dict((k.hex().upper(), v) for _, k, v in _listed("flatkv-storage-changed.flatkv"))[MUTATED]
    argv = [*_real_argv(sim_binary, "flatkv-storage-changed.flatkv"), "--find-hash", _entry(MUTATED, changed_value)]
    flatkv = run(argv, cwd=shard_3a / "flatkv-storage-changed", env=LOGS_ON_STDERR)
    (flat_hit,) = found_hashes(flatkv.stdout)  # FlatKV shows the stored value: vtype header + payload
    assert (flat_hit.key, flat_hit.logical) == (MUTATED, changed_value.hex().upper())
    assert flat_hit.raw.startswith("00") and flat_hit.raw.endswith(flat_hit.logical) and len(flat_hit.raw) == 82


def _entry(key_hex: str, value: bytes) -> str:
    key = bytes.fromhex(key_hex)
    return hashlib.sha256(len(key).to_bytes(4, "big") + key + len(value).to_bytes(4, "big") + value).hexdigest()


def _golden() -> dict[str, dict[str, Any]]:
    cases: dict[str, dict[str, Any]] = json.loads(GOLDEN.read_text())
    return cases


@pytest.fixture(scope="module")
def golden_nodes(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[Path, Path]]:
    """The golden store's rows at heights 2 and 4 (FlatKV lists), with the `--details` heights they show."""
    root, golden, nodes = tmp_path_factory.mktemp("golden-inspect"), _golden(), {}
    for height in (2, 4):
        rows = [
            (bucket, bytes.fromhex(e["key"]), bytes.fromhex(e["logical"]))
            for bucket in ("account", "code", "storage", "misc")
            for e in golden[f"inspect/flatkv-h{height}/list-{bucket}"]["entries"]
        ]
        heights = _meta_heights(golden.get(f"inspect/flatkv-h{height}/list-storage-details"))
        leaf_versions = _meta_heights(golden.get(f"inspect/memiavl-semantic-snapshot-h{height}/list-storage-details"))
        nodes[height] = write_node(
            root / f"h{height}", height=height, rows=rows, row_heights=heights, memiavl_row_heights=leaf_versions
        )
    return nodes


def _meta_heights(case: dict[str, Any] | None) -> dict[str, int]:
    if case is None:
        return {}
    return {e["key"]: int(e["meta"].split("=")[1]) for e in case["entries"]}


def _golden_argv(sim_binary: Path, case: dict[str, Any], name: str, nodes: dict[int, tuple[Path, Path]]) -> list[str]:
    flatkv_dir, memiavl_dir = nodes[case["requested_height"]]
    backend = case["backend"]
    argv = [str(sim_binary), "evm-logical-digest", "--backend", backend, "--height", str(case["requested_height"])]
    argv += ["-d", str(flatkv_dir if backend == "flatkv" else memiavl_dir), "--json"]
    argv += ["--inspect-bucket", case["inspect_bucket"], "--key-offset", str(case["key_offset"])]
    argv += ["--key-prefix", case["key_prefix"], "--shard-next-bytes", str(case["shard_next_bytes"])]
    argv += ["--list-limit", str(case.get("list_limit", 0))] + (["--list"] if case["list"] else [])
    return argv + (["--details"] if name.endswith("-details") else [])


GOLDEN_CASES = sorted(key for key in _golden() if key.startswith("inspect/"))


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_golden_inspect_cases_from_their_rows(
    sim_binary: Path, golden_nodes: dict[int, tuple[Path, Path]], name: str
) -> None:
    case = _golden()[name]
    done = run(_golden_argv(sim_binary, case, name, golden_nodes), env=LOGS_ON_STDERR)
    assert done.returncode == 0, done.stdout + done.stderr
    sim_obj = json.loads(done.stdout)
    assert set(sim_obj) == set(case)  # the same JSON fields, empty ones omitted alike
    sim, golden = parse_inspect(done.stdout), parse_inspect(json.dumps(case))
    limited = isinstance(sim, InspectList) and 0 < sim.list_limit < sim.matched
    if isinstance(sim, InspectList) and limited and sim.backend == "memiavl" and sim.bucket == "account":
        # memIAVL emits accounts in Go map order, so a limited listing is some `limit` of them
        full = parse_inspect(json.dumps(_golden()[name.removesuffix("-limit2")]))
        assert isinstance(full, InspectList) and sim.entries.items() <= full.entries.items()
        sim = sim.model_copy(update={"entries": golden.entries})  # type: ignore[union-attr]
    assert sim.model_dump() == golden.model_dump()


def _inspect(sim_binary: Path, node: SimNode, side: str, bucket: str, **kwargs: Any) -> InspectReport:
    done = run(node.inspect_argv(sim_binary, side, bucket, **kwargs), env=LOGS_ON_STDERR)
    assert done.returncode == 0, done.stdout + done.stderr
    return parse_inspect(done.stdout)


def test_memiavl_lists_accounts_in_another_order_than_flatkv(
    sim_binary: Path, make_node: MakeNode, tmp_path: Path
) -> None:
    node = make_node(tmp_path, rows=300)
    flatkv = _inspect(sim_binary, node, "flatkv", "account", listing=True)
    memiavl = _inspect(sim_binary, node, "memiavl", "account", listing=True)
    again = _inspect(sim_binary, node, "memiavl", "account", listing=True)
    assert isinstance(flatkv, InspectList) and isinstance(memiavl, InspectList) and isinstance(again, InspectList)
    assert flatkv.entries == memiavl.entries == again.entries and len(flatkv.entries) == 36
    assert list(flatkv.entries) == sorted(flatkv.entries)  # pebble order
    # memIAVL merges account leaves at finalize and emits them in Go map order: random, run to run
    assert list(memiavl.entries) != sorted(memiavl.entries) and list(memiavl.entries) != list(again.entries)
    storage = [_inspect(sim_binary, node, side, "storage", listing=True) for side in ("flatkv", "memiavl")]
    assert [list(report.entries) for report in storage if isinstance(report, InspectList)] == [
        sorted(storage[0].entries)  # type: ignore[union-attr]
    ] * 2  # raw memIAVL keys and FlatKV physical keys sort alike within storage


@pytest.mark.parametrize("side", ["flatkv", "memiavl"])
def test_shards_are_the_bucket_split(sim_binary: Path, make_node: MakeNode, tmp_path: Path, side: str) -> None:
    node = make_node(tmp_path, rows=600)
    report = _inspect(sim_binary, node, side, "storage", key_offset=5, shard_next_bytes=1)
    assert isinstance(report, InspectShards) and len(report.shards) > 1
    digest = parse_report(run(node.digest_argv(sim_binary, side), env=LOGS_ON_STDERR).stdout).storage
    xor = 0
    for shard in report.shards.values():
        xor ^= int(shard.digest, 16)
    assert (sum(s.count for s in report.shards.values()), f"{xor:064X}") == (digest.count, digest.digest)


@pytest.mark.parametrize("diverge", ["storage", "missing-key", "account", "misc"])
def test_two_pass_localization_finds_exactly_the_diverged_key(
    sim_binary: Path, make_node: MakeNode, tmp_path: Path, diverge: str
) -> None:
    node = make_node(tmp_path, rows=600, diverge=diverge)
    bucket = "storage" if diverge == "missing-key" else diverge
    offset, width = (5, 1) if bucket == "storage" else (5, 0)
    shards = [
        _inspect(sim_binary, node, side, bucket, key_offset=offset, shard_next_bytes=width)
        for side in ("flatkv", "memiavl")
    ]
    flat, mem = (s.shards for s in shards if isinstance(s, InspectShards))
    (differing,) = [name for name in mem if flat.get(name) != mem[name]]
    lists = [
        _inspect(sim_binary, node, side, bucket, key_offset=offset, key_prefix=differing, listing=True)
        for side in ("flatkv", "memiavl")
    ]
    flat_entries, mem_entries = (r.entries for r in lists if isinstance(r, InspectList))
    diff = {key for key in flat_entries.keys() | mem_entries.keys() if flat_entries.get(key) != mem_entries.get(key)}
    assert len(diff) == 1
    (key,) = diff
    assert (key in flat_entries) == (diverge != "missing-key") and key in mem_entries


def test_translator_inspect_and_details(sim_binary: Path, make_node: MakeNode, tmp_path: Path) -> None:
    node = make_node(tmp_path, height=50, rows=120)
    semantic = _inspect(sim_binary, node, "memiavl", "account", listing=True)
    translator = _inspect(sim_binary, node, "memiavl", "account", listing=True, normalization="translator")
    assert isinstance(semantic, InspectList) and isinstance(translator, InspectList)
    assert semantic.entries == translator.entries
    details = _inspect(sim_binary, node, "flatkv", "storage", listing=True, details=True)
    leaf = _inspect(sim_binary, node, "memiavl", "storage", key_offset=4, listing=True, details=True)
    assert isinstance(details, InspectList) and isinstance(leaf, InspectList)
    assert {e.meta.split("=")[0] for e in details.entries.values() if e.meta} == {"block_height"}
    assert {int(e.meta.split("=")[1]) for e in leaf.entries.values() if e.meta} <= {48, 49, 50}
    refused = run(node.inspect_argv(sim_binary, "memiavl", "storage", listing=True, details=True))
    assert refused.returncode == 1 and refused.stdout == "--details storage memiavl requires --key-offset >= 4\n"
    composite = run([*node.digest_argv(sim_binary, "composite"), "--inspect-bucket", "code"])
    assert composite.stdout == 'unknown --backend "composite" (want flatkv|memiavl)\n'
