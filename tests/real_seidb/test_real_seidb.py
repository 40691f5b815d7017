"""The real seidb on real FlatKV/memIAVL stores: verdicts through `evm-digest run`, the version gate,
`--json` against text, and the final-digest consistency check on real output.

The CLI runs as a real subprocess against the session's Prefect test API (PREFECT_API_URL), so no
run pays for an ephemeral server of its own. Fixture layout and the binary: conftest.py.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evmdigest.emit.verify import verify_object
from evmdigest.models import Backend, DigestReport, Generation, Normalization
from evmdigest.segments import snapshot_heights
from evmdigest.seidb import DigestRequest, ReportError, SeidbRunner, build_argv, parse_report
from tests.real_seidb.conftest import EXPECTED_MISMATCH
from tests.real_seidb.locate import RealNode

pytestmark = pytest.mark.real_seidb

CLI = Path(sys.executable).with_name("evm-digest")
NORMALIZATIONS = ("semantic", "translator")
BUCKET_NAMES = ("account", "code", "storage", "misc")
SCAN_TIMEOUT_S = 600
CLI_TIMEOUT_S = 3 * SCAN_TIMEOUT_S
RUN_EXIT = {"clean": 0, "storage-slot": 1, "missing-key": 1, "nonce": 1}


@pytest.fixture(scope="module")
def cli_env(real_nodes: dict[str, RealNode], prefect_api: str) -> dict[str, str]:
    """Environment for `evm-digest run`: the shared test API (requested after the skips, never before)."""
    return {**os.environ, "PREFECT_API_URL": prefect_api}


def _run_cli(
    seidb: Path, node: RealNode, height: int, sink: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    argv = [str(CLI), "run", "--height", str(height), "--flatkv-dir", str(node.flatkv_dir)]
    argv += ["--memiavl-dir", str(node.memiavl_dir), "--seidb", str(seidb), "--sink", sink.as_uri()]
    argv += ["--node", f"real-{node.name}", "--timeout", str(SCAN_TIMEOUT_S)]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=CLI_TIMEOUT_S, check=False)


def _explain(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\n--- stdout ---\n{done.stdout[-4000:]}\n--- stderr ---\n{done.stderr[-4000:]}"


def _objects(sink: Path) -> list[str]:
    """Every file in the sink but intents (written before each record, kept as evidence)."""
    if not sink.exists():
        return []
    return sorted(str(p.relative_to(sink)) for p in sink.rglob("*") if p.is_file() and ".intent-" not in p.name)


def _record_keys(height: int, node: RealNode) -> list[str]:
    return sorted(
        f"real-{node.name}/endpoint-digest-{height}-{n}.json.gz{s}" for n in NORMALIZATIONS for s in ("", ".seal.json")
    )


def _record(sink: Path, height: int, normalization: str, node: RealNode) -> dict[str, Any]:
    path = sink / f"real-{node.name}" / f"endpoint-digest-{height}-{normalization}.json.gz"
    loaded: dict[str, Any] = json.loads(gzip.decompress(path.read_bytes()))
    return loaded


def _scan(seidb: Path, request: DigestRequest, *, json_output: bool) -> DigestReport:
    return SeidbRunner(seidb, timeout=SCAN_TIMEOUT_S).run_digest(request, json_output=json_output).report


def _requests(node: RealNode) -> list[DigestRequest]:
    return [
        DigestRequest(Backend.FLATKV, node.flatkv_dir, node.height),
        DigestRequest(Backend.MEMIAVL, node.memiavl_dir, node.height, Normalization.SEMANTIC),
        DigestRequest(Backend.MEMIAVL, node.memiavl_dir, node.height, Normalization.TRANSLATOR),
    ]


def test_clean_pair_matches_and_seals_both_records(
    real_seidb: Path, real_nodes: dict[str, RealNode], cli_env: dict[str, str], tmp_path: Path
) -> None:
    node = real_nodes["clean"]
    sink = tmp_path / "sink"
    done = _run_cli(real_seidb, node, node.height, sink, cli_env)
    assert done.returncode == 0, _explain(done)
    assert _objects(sink) == _record_keys(node.height, node)
    for normalization in NORMALIZATIONS:
        record = _record(sink, node.height, normalization, node)
        assert record["match"] is True and record["mismatched_buckets"] == []
        assert record["height"] == record["flatkv_version"] == record["memiavl_version"] == node.height
        assert record["flatkv_digest"] == record["memiavl_digest"]
        verified = verify_object(
            (sink / f"real-{node.name}/endpoint-digest-{node.height}-{normalization}.json.gz").as_uri()
        )
        assert verified.status == "ok", verified.detail


@pytest.mark.parametrize("variant", ["storage-slot", "missing-key", "nonce"])
def test_divergence_names_exactly_its_bucket_and_final_differs(
    real_seidb: Path, real_nodes: dict[str, RealNode], cli_env: dict[str, str], tmp_path: Path, variant: str
) -> None:
    node = real_nodes[variant]
    expected = EXPECTED_MISMATCH[variant]
    sink = tmp_path / "sink"
    done = _run_cli(real_seidb, node, node.height, sink, cli_env)
    assert done.returncode == RUN_EXIT[variant], _explain(done)
    reasons = "; ".join(f"{', '.join(expected)} ({n})" for n in NORMALIZATIONS)
    assert f"digest mismatch at {node.height}: {reasons}" in done.stderr, _explain(done)
    assert _objects(sink) == _record_keys(node.height, node)  # a mismatch is published, then the run fails
    for normalization in NORMALIZATIONS:
        record = _record(sink, node.height, normalization, node)
        assert record["match"] is False
        assert record["mismatched_buckets"] == expected
        assert record["flatkv_digest"] != record["memiavl_digest"]
        verdicts = {name: verdict["match"] for name, verdict in record["per_bucket"].items()}
        assert {name for name, ok in verdicts.items() if not ok} == set(expected), verdicts
        assert len(verdicts) == len(BUCKET_NAMES), verdicts


def test_height_without_memiavl_snapshot_fails_and_publishes_nothing(
    real_seidb: Path, real_nodes: dict[str, RealNode], cli_env: dict[str, str], tmp_path: Path
) -> None:
    node = real_nodes["clean"]
    snapshots = set(snapshot_heights(node.memiavl_dir))
    assert node.height in snapshots, f"fixture {node.root} has no memiavl snapshot at its own height {node.height}"
    height = next(h for h in range(node.height - 1, 0, -1) if h not in snapshots)
    sink = tmp_path / "sink"
    done = _run_cli(real_seidb, node, height, sink, cli_env)
    assert done.returncode == 2, _explain(done)
    assert _objects(sink) == []


def test_json_and_text_reports_are_the_same_report(real_seidb: Path, real_nodes: dict[str, RealNode]) -> None:
    assert SeidbRunner(real_seidb).supports_json(), (
        f"{real_seidb} has no `evm-logical-digest --json`: tools/seidb/go.mod must pin a sei-chain commit "
        "at or after the golden commit 0ec0acf2921a"
    )
    for request in _requests(real_nodes["clean"]):
        from_json = _scan(real_seidb, request, json_output=True)
        from_text = _scan(real_seidb, request, json_output=False)
        assert from_json.generation is Generation.JSON
        assert from_text.generation in (Generation.MISC, Generation.LEGACY)
        assert from_json.version == request.height, request.label
        assert from_json.model_dump(exclude={"generation"}) == from_text.model_dump(exclude={"generation"}), (
            request.label
        )


def _flip_hex(match: re.Match[str]) -> str:
    digest = match.group(2)
    return match.group(1) + ("1" if digest[0] == "0" else "0") + digest[1:]


def _tamper_text_final(text: str) -> str:
    tampered, n = re.subn(r"(?m)^(FINAL_DIGEST\s+\S+\s+count=\d+\s+digest=)([0-9A-Fa-f]{64})", _flip_hex, text)
    assert n == 1, f"expected one FINAL_DIGEST line, found {n}"
    return tampered


def _tamper_text_storage(text: str) -> str:
    tampered, n = re.subn(r"(?m)^(storage\s+count=\d+\s+bucket_digest=)([0-9A-Fa-f]{64})", _flip_hex, text)
    assert n == 1, f"expected one storage bucket line, found {n}"
    return tampered


def _tamper_json_final(text: str) -> str:
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.lstrip().startswith("{"):
            obj = json.loads(line)
            if isinstance(obj, dict) and "final" in obj:
                digest: str = obj["final"]["digest"]
                obj["final"]["digest"] = ("1" if digest[0] == "0" else "0") + digest[1:]
                lines[i] = json.dumps(obj)
                return "\n".join(lines)
    raise AssertionError("no JSON report line in seidb's stdout")


@pytest.mark.parametrize(
    ("json_output", "tamper"),
    [(False, _tamper_text_final), (False, _tamper_text_storage), (True, _tamper_json_final)],
    ids=["text-final", "text-storage-bucket", "json-final"],
)
def test_final_digest_consistency_holds_on_real_output(
    real_seidb: Path, real_nodes: dict[str, RealNode], json_output: bool, tamper: Callable[[str], str]
) -> None:
    node = real_nodes["clean"]
    request = DigestRequest(Backend.MEMIAVL, node.memiavl_dir, node.height, Normalization.SEMANTIC)
    argv = build_argv(str(real_seidb), request, json_output=json_output)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=SCAN_TIMEOUT_S, check=False)
    assert done.returncode == 0, _explain(done)
    report = parse_report(done.stdout)
    assert report.version == node.height
    with pytest.raises(ReportError) as raised:
        parse_report(tamper(done.stdout))
    assert raised.value.field == "final.digest", raised.value
