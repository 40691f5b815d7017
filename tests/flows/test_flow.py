"""The gate flow on a real Prefect API (prefect_test_harness), seidb-sim as real subprocesses, and
S3 as moto's server over HTTP on loopback.

Over 300 lines on purpose: one scenario per test over shared helpers, each a full flow run.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterId,
    TaskRunFilter,
)

from blocks import DigestSink
from evmdigest.models import Normalization
from evmdigest.seidb.procs import RUN_TAG_ENV, pids_tagged
from evmdigest.verdict.outcome import GateOutcome
from flows.evm_logical_digest import evm_logical_digest
from tests.plugins.prefect_api import read_events
from tests.plugins.s3 import Fault, FaultProxy, S3Target
from tests.plugins.sim import MakeNode, SimNode

pytestmark = pytest.mark.usefixtures("prefect_api")
HEIGHT = 213200000
BOTH = (Normalization.SEMANTIC, Normalization.TRANSLATOR)


def _sink(target: S3Target) -> DigestSink:
    return DigestSink(url=target.url("evm"), endpoint_url=target.endpoint_url, region=target.region)


def _run(sim_node: SimNode, sim_binary: Path, sink: DigestSink | None, **overrides: Any) -> Any:
    params: dict[str, Any] = {
        "flatkv_dir": str(sim_node.flatkv_dir),
        "memiavl_dir": str(sim_node.memiavl_dir),
        "height": sim_node.height,
        "seidb_path": str(sim_binary),
        "sink": sink,
        "node": "node-a",
        "scan_timeout": 60,
    }
    params.update(overrides)
    return evm_logical_digest(**params, return_state=True)


def _keys(target: S3Target) -> list[str]:
    """Every stored key but intents (written before each record, kept as evidence); claims must be gone."""
    listed = target.client().list_objects_v2(Bucket=target.bucket)
    return sorted(item["Key"] for item in listed.get("Contents", []) if ".intent-" not in item["Key"])


def _record(target: S3Target, key: str) -> dict[str, Any]:
    """A record (gzip) or a seal (plain JSON, as its name says)."""
    body = target.client().get_object(Bucket=target.bucket, Key=key)["Body"].read()
    loaded: dict[str, Any] = json.loads(body if key.endswith(".seal.json") else gzip.decompress(body))
    return loaded


def _outcome(state: Any) -> GateOutcome:
    data = state.result(raise_on_failure=False)
    assert isinstance(data, GateOutcome), data
    return data


def _task_runs(flow_run_id: Any) -> dict[str, Any]:
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])), task_run_filter=TaskRunFilter()
        )
    return {run.name: run for run in runs}


@pytest.fixture
def node(tmp_path: Path, make_node: MakeNode) -> SimNode:
    return make_node(tmp_path, height=HEIGHT, rows=3000)


def test_match_seals_both_normalizations_and_completes(
    node: SimNode, sim_binary: Path, s3_bucket: S3Target, prefect_api: str
) -> None:
    state = _run(node, sim_binary, _sink(s3_bucket))
    assert state.is_completed(), state.message
    assert state.message == f"all match at {HEIGHT}: semantic, translator"
    keys = _keys(s3_bucket)
    assert keys == sorted(
        f"evm/node-a/endpoint-digest-{HEIGHT}-{n}.json.gz{suffix}"
        for n in ("semantic", "translator")
        for suffix in ("", ".seal.json")
    )
    record = _record(s3_bucket, f"evm/node-a/endpoint-digest-{HEIGHT}-translator.json.gz")
    assert record["match"] is True and record["height"] == HEIGHT and record["node"] == "node-a"
    assert record["flatkv_digest"] == node.expected("flatkv")["final"]["digest"]
    assert "balance" not in record["axes_proved"]
    seal = _record(s3_bucket, f"evm/node-a/endpoint-digest-{HEIGHT}-translator.json.gz.seal.json")
    published = {item.record.normalization: item for item in _outcome(state).published}
    assert seal["uncompressed_sha256"] == published[Normalization.TRANSLATOR].uncompressed_sha256


def test_scans_run_concurrently(node: SimNode, sim_binary: Path, s3_bucket: S3Target, scan_log: Path) -> None:
    node.set_faults("both", slow=2.0)
    state = _run(node, sim_binary, _sink(s3_bucket))
    assert state.is_completed(), state.message
    scans = [json.loads(line) for line in scan_log.read_text().splitlines()]
    assert len(scans) == 3
    # Every scan started before any scan ended: the three intervals share a common instant.
    assert max(s["start"] for s in scans) < min(s["end"] for s in scans), scans


def test_mismatch_publishes_records_then_fails(
    tmp_path: Path, make_node: MakeNode, sim_binary: Path, s3_bucket: S3Target
) -> None:
    diverged = make_node(tmp_path, height=HEIGHT, rows=3000, diverge="storage")
    state = _run(diverged, sim_binary, _sink(s3_bucket))
    assert state.is_failed()
    assert state.message == f"digest mismatch at {HEIGHT}: storage (semantic); storage (translator)"
    for normalization in ("semantic", "translator"):
        record = _record(s3_bucket, f"evm/node-a/endpoint-digest-{HEIGHT}-{normalization}.json.gz")
        assert record["match"] is False
        assert record["per_bucket"]["storage"]["match"] is False
        assert record["per_bucket"]["account"]["match"] is True
        assert record["mismatched_buckets"] == ["storage"]


def test_translator_only_mismatch_names_its_normalization(node: SimNode, sim_binary: Path, s3_bucket: S3Target) -> None:
    node.set_faults("memiavl", translator_diverge="account")
    state = _run(node, sim_binary, _sink(s3_bucket))
    assert state.is_failed()
    assert state.message == f"digest mismatch at {HEIGHT}: account (translator)"
    assert _record(s3_bucket, f"evm/node-a/endpoint-digest-{HEIGHT}-semantic.json.gz")["match"] is True


@pytest.mark.parametrize(
    ("side", "normalizations", "label"),
    [
        ("flatkv", BOTH, "flatkv"),
        ("memiavl", (Normalization.SEMANTIC,), "memiavl/semantic"),
        ("memiavl", (Normalization.TRANSLATOR,), "memiavl/translator"),
    ],
)
def test_wrong_opened_version_fails_the_gate_and_publishes_nothing(
    node: SimNode,
    sim_binary: Path,
    s3_bucket: S3Target,
    side: str,
    normalizations: tuple[Normalization, ...],
    label: str,
) -> None:
    node.set_faults(side, clamp_version=HEIGHT - 1000)
    state = _run(node, sim_binary, _sink(s3_bucket), normalizations=normalizations)
    assert state.is_failed()
    assert f"{label} opened version {HEIGHT - 1000}, requested {HEIGHT}" in state.message
    assert _keys(s3_bucket) == []
    runs = _task_runs(state.state_details.flow_run_id)
    assert runs["assert-versions"].state.is_failed()
    assert not any(name.startswith("compare-emit") for name in runs)


def test_seidb_crash_fails_with_both_stream_tails(node: SimNode, sim_binary: Path, s3_bucket: S3Target) -> None:
    node.set_faults("flatkv", exit_error="open flatkv: pebble: corrupt manifest")
    state = _run(node, sim_binary, _sink(s3_bucket))
    assert state.is_failed()
    assert "seidb exited with code 1" in state.message
    assert "--- stdout" in state.message and "Error: open flatkv: pebble: corrupt manifest" in state.message
    assert _keys(s3_bucket) == []


def test_scan_timeout_kills_seidb_and_its_children(node: SimNode, sim_binary: Path, s3_bucket: S3Target) -> None:
    node.set_faults("memiavl", hang=True)
    state = _run(node, sim_binary, _sink(s3_bucket), scan_timeout=3)
    assert state.is_failed()
    assert "timed out after 3s" in state.message
    time.sleep(0.5)
    assert pids_tagged(RUN_TAG_ENV, str(state.state_details.flow_run_id)) == []
    assert _keys(s3_bucket) == []


def test_retryable_sink_error_is_retried_then_sealed(
    node: SimNode, sim_binary: Path, s3_bucket: S3Target, s3_fault_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # boto3's own retries would absorb the 503s; one attempt per call makes Prefect's retries visible.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    fault = s3_fault_proxy.inject(
        Fault(503, "SlowDown", method="PUT", path_suffix="translator.json.gz", query_contains="", times=2)
    )
    state = _run(node, sim_binary, _sink(s3_fault_proxy.target(s3_bucket)))
    assert state.is_completed(), state.message
    assert fault.fired == 2
    runs = _task_runs(state.state_details.flow_run_id)
    assert runs["compare-emit-translator"].run_count == 3
    assert runs["compare-emit-semantic"].run_count == 1
    assert f"evm/node-a/endpoint-digest-{HEIGHT}-translator.json.gz" in _keys(s3_bucket)


def test_access_denied_is_not_retried(
    node: SimNode, sim_binary: Path, s3_bucket: S3Target, s3_fault_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    denied = s3_fault_proxy.inject(Fault(403, "AccessDenied", method="PUT", path_contains="endpoint-digest"))
    state = _run(node, sim_binary, _sink(s3_fault_proxy.target(s3_bucket)))
    assert state.is_failed()
    assert "AccessDenied" in state.message or "access denied" in state.message.lower()
    runs = _task_runs(state.state_details.flow_run_id)
    assert all(run.run_count == 1 for name, run in runs.items() if name.startswith("compare-emit"))
    assert denied.fired == 2  # one refused upload per normalization, none repeated
    assert _keys(s3_bucket) == []


def test_identical_rerun_is_already_sealed_and_a_flip_fails(
    node: SimNode, sim_binary: Path, s3_bucket: S3Target
) -> None:
    sink = _sink(s3_bucket)
    first = _run(node, sim_binary, sink)
    assert first.is_completed()
    again = _run(node, sim_binary, sink)
    assert again.is_completed(), again.message
    assert all(item.already_sealed for item in _outcome(again).published)
    sealed = _record(s3_bucket, f"evm/node-a/endpoint-digest-{HEIGHT}-translator.json.gz")

    node.set_faults("memiavl", translator_diverge="storage")
    flipped = _run(node, sim_binary, sink)
    assert flipped.is_failed()  # the verdict-set check stops it before publish would see a flip
    assert "verdict set conflict" in flipped.message and "(translator)" in flipped.message
    assert f"memiavl {sealed['memiavl_digest']}, this run's memiavl" in flipped.message
    assert _record(s3_bucket, f"evm/node-a/endpoint-digest-{HEIGHT}-translator.json.gz") == sealed


def test_segment_discovery_seals_newest_unsealed_then_nothing(
    tmp_path: Path, make_node: MakeNode, sim_binary: Path, s3_bucket: S3Target
) -> None:
    multi = make_node(tmp_path, height=3000, rows=500, extra_snapshots=[1000, 2000])
    sink = _sink(s3_bucket)
    sealed_heights = []
    for _ in range(3):
        state = _run(multi, sim_binary, sink, height=None)
        assert state.is_completed(), state.message
        sealed_heights.append(_outcome(state).height)
    assert sealed_heights == [3000, 2000, 1000]
    last = _run(multi, sim_binary, sink, height=None)
    assert last.is_completed() and last.message == "nothing to seal"
    assert _outcome(last).nothing_to_seal


def test_artifacts_and_events_are_published(
    node: SimNode, sim_binary: Path, s3_bucket: S3Target, prefect_api: str
) -> None:
    state = _run(node, sim_binary, _sink(s3_bucket), node="Node.A-1")
    assert state.is_completed(), state.message
    flow_run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    by_type: dict[str, list[Any]] = {}
    for artifact in artifacts:
        by_type.setdefault(artifact.type or "", []).append(artifact)
    table = by_type["table"][0]
    assert table.key == "evm-digest-buckets-node-a-1"
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    assert [row["bucket"] for row in rows] == ["account", "code", "storage", "misc", "final"]
    final = rows[-1]
    assert final["flatkv_digest"] == final["memiavl_semantic_digest"] == final["memiavl_translator_digest"]
    assert final["memiavl_translator_match"] is True
    markdown = {artifact.key: artifact for artifact in by_type["markdown"]}
    verdict = markdown.pop("evm-digest-verdict-node-a-1")
    assert "MATCH" in verdict.data and f"endpoint-digest-{HEIGHT}-semantic.json.gz" in verdict.data
    links = sorted(str(artifact.data) for artifact in by_type["markdown"] if artifact.key is None)
    assert len(links) == 2  # link artifacts are markdown artifacts in Prefect
    assert f"s3://{s3_bucket.bucket}/evm/Node.A-1/endpoint-digest-{HEIGHT}-semantic.json.gz" in links[0]

    deadline = time.monotonic() + 30
    events: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        events = [
            e
            for e in read_events(prefect_api, "evm.digest.", resource_id="evm-digest.node.node-a-1")
            if e["payload"].get("height") == HEIGHT
        ]
        if len(events) >= 2:
            break
        time.sleep(0.5)
    assert sorted(e["payload"]["normalization"] for e in events) == ["semantic", "translator"]
    assert {e["event"] for e in events} == {"evm.digest.match"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"normalizations": ()}, "normalizations"),
        ({"normalizations": ("semantic", "semantic")}, "normalizations"),
        ({"flatkv_dir": "/nonexistent/flatkv"}, "flatkv_dir"),
        ({"height": 0}, "height"),
        ({"normalizations": ("bogus",)}, "normalizations"),
        ({"sink_url": "ftp://bucket/prefix"}, "sink url"),
        ({"seidb_path": "/nonexistent/seidb"}, "/nonexistent/seidb"),
    ],
)
def test_invalid_parameters_are_refused_before_any_scan(
    node: SimNode, sim_binary: Path, s3_bucket: S3Target, scan_log: Path, overrides: dict[str, Any], field: str
) -> None:
    sink = None if "sink_url" in overrides else _sink(s3_bucket)
    state = _run(node, sim_binary, sink, **overrides)
    assert state.is_failed()
    assert field in state.message
    assert not scan_log.exists()


def test_a_missing_seal_is_completed_by_an_identical_rerun(
    node: SimNode, sim_binary: Path, s3_bucket: S3Target
) -> None:
    """A crash between object and seal leaves an unsealed record; the next identical run seals it."""
    sink = _sink(s3_bucket)
    assert _run(node, sim_binary, sink).is_completed()
    key = f"evm/node-a/endpoint-digest-{HEIGHT}-semantic.json.gz"
    s3_bucket.client().delete_object(Bucket=s3_bucket.bucket, Key=key + ".seal.json")
    verify = [sys.executable, "-m", "evmdigest.cli", "verify", f"s3://{s3_bucket.bucket}/{key}",
              "--endpoint-url", s3_bucket.endpoint_url]  # fmt: skip
    assert subprocess.run(verify, capture_output=True, check=False).returncode == 1  # missing seal

    rerun = _run(node, sim_binary, sink)
    assert rerun.is_completed(), rerun.message
    assert key + ".seal.json" in _keys(s3_bucket)
    checked = subprocess.run(verify, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert json.loads(checked.stdout)["status"] == "ok"


def test_an_unreachable_sink_fails_before_any_scan(
    node: SimNode, sim_binary: Path, s3_bucket: S3Target, scan_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    closed = DigestSink(url=s3_bucket.url("evm"), endpoint_url="http://127.0.0.1:9", region=s3_bucket.region)
    state = _run(node, sim_binary, closed)
    assert state.is_failed()
    assert "127.0.0.1:9" in state.message or "connect" in state.message.lower()
    assert not scan_log.exists()
