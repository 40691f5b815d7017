"""Localization in the gate flow on a real Prefect API, seidb-sim as real subprocesses, S3 on moto over HTTP:
after the verdicts are published the diverging keys are named, sealed beside the records, shown in a
table artifact, the markdown verdict and the mismatch events; a failed localization never hides the
mismatch."""

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
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from blocks import DigestSink
from evmdigest.localize.model import Status
from evmdigest.verdict.outcome import GateOutcome
from flows.evm_logical_digest import evm_logical_digest
from tests.flows.test_flow import _task_runs
from tests.plugins.prefect_api import read_events
from tests.plugins.s3 import S3Target
from tests.plugins.sim import MakeNode, SimNode

pytestmark = pytest.mark.usefixtures("prefect_api")
HEIGHT = 213200000
MISMATCH = f"digest mismatch at {HEIGHT}: storage (semantic); storage (translator)"


def _run(node: SimNode, sim_binary: Path, target: S3Target, **overrides: Any) -> Any:
    sink = DigestSink(url=target.url("evm"), endpoint_url=target.endpoint_url, region=target.region)
    params: dict[str, Any] = {
        "flatkv_dir": str(node.flatkv_dir),
        "memiavl_dir": str(node.memiavl_dir),
        "height": HEIGHT,
        "seidb_path": str(sim_binary),
        "sink": sink,
        "node": "node-a",
        "scan_timeout": 120,
        **overrides,
    }
    return evm_logical_digest(**params, return_state=True)


def _outcome(state: Any) -> GateOutcome:
    data = state.result(raise_on_failure=False)
    assert isinstance(data, GateOutcome), data
    return data


def _lines(target: S3Target, key: str) -> list[dict[str, Any]]:
    body = target.client().get_object(Bucket=target.bucket, Key=key)["Body"].read()
    return [json.loads(line) for line in gzip.decompress(body).splitlines()]


def _artifacts(flow_run_id: Any) -> dict[str, Any]:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {artifact.key: artifact for artifact in found if artifact.key}


def _mismatch_events(api: str, flow_run_id: Any, count: int) -> list[dict[str, Any]]:
    """This flow run's mismatch events (the API is shared by the session's tests)."""
    deadline, events, run = time.monotonic() + 30, [], f"prefect.flow-run.{flow_run_id}"
    while time.monotonic() < deadline:
        events = [
            e
            for e in read_events(api, "evm.digest.mismatch", resource_id="evm-digest.node.node-a")
            if any(r.get("prefect.resource.id") == run for r in e.get("related", []))
        ]
        if len(events) >= count:
            break
        time.sleep(0.5)
    return events


def test_a_mismatch_is_localized_sealed_shown_and_a_rerun_finds_it_sealed(
    tmp_path: Path, make_node: MakeNode, sim_binary: Path, s3_bucket: S3Target, prefect_api: str
) -> None:
    node = make_node(tmp_path, height=HEIGHT, rows=3000, diverge="storage")
    state = _run(node, sim_binary, s3_bucket)
    assert state.is_failed() and state.message == MISMATCH  # localization adds nothing to a good mismatch
    outcome = _outcome(state)
    keys = {d.normalization.value: d for d in outcome.divergences}
    assert sorted(keys) == ["semantic", "translator"]
    (key,) = keys["semantic"].first_keys
    assert keys["translator"].first_keys == [key] and key.bucket == "storage" and key.slot is not None
    assert all(d.status is Status.COMPLETE and d.keys_found == 1 for d in outcome.divergences)

    published = {item.record.normalization.value: item for item in outcome.published}
    for name in ("semantic", "translator"):
        lines = _lines(s3_bucket, f"evm/node-a/endpoint-divergence-{HEIGHT}-{name}.ndjson.gz")
        header, *rows = lines
        assert header["record"] == {
            "key": f"node-a/endpoint-digest-{HEIGHT}-{name}.json.gz",
            "uncompressed_sha256": published[name].uncompressed_sha256,
        }
        assert [row["key"] for row in rows] == [key.key]
    report = keys["semantic"].published
    assert report is not None
    assert report.uri == f"s3://{s3_bucket.bucket}/evm/node-a/endpoint-divergence-{HEIGHT}-semantic.ndjson.gz"
    verify = [sys.executable, "-m", "evmdigest.cli", "verify", report.uri, "--endpoint-url", s3_bucket.endpoint_url]
    checked = subprocess.run(verify, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    runs = _task_runs(state.state_details.flow_run_id)
    assert runs["localize-semantic"].state.is_completed() and runs["localize-translator"].state.is_completed()
    artifacts = _artifacts(state.state_details.flow_run_id)
    table = artifacts["evm-digest-divergence-node-a"]
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    assert [(r["normalization"], r["bucket"], r["address"]) for r in rows] == [
        ("semantic", "storage", key.address),
        ("translator", "storage", key.address),
    ]
    assert key.key in artifacts["evm-digest-verdict-node-a"].data
    events = _mismatch_events(prefect_api, state.state_details.flow_run_id, 2)
    assert {e["payload"]["normalization"] for e in events} == {"semantic", "translator"}
    assert all(e["payload"]["diverging_keys"] == 1 for e in events)
    assert all(e["payload"]["first_keys"][0]["key"] == key.key for e in events)

    again = _run(node, sim_binary, s3_bucket)
    assert again.is_failed() and again.message == MISMATCH
    repeated = _outcome(again).divergences
    assert all(d.published is not None and d.published.already_sealed for d in repeated)
    assert all(d.published is not None and not d.published.existing_differs for d in repeated)


def test_a_failed_localization_keeps_the_mismatch_and_says_so(
    tmp_path: Path, make_node: MakeNode, sim_binary: Path, s3_bucket: S3Target, prefect_api: str
) -> None:
    # replay mode on a node without a snapshot at H: the digests replay fine, inspect needs the snapshot
    node = make_node(
        tmp_path, height=HEIGHT, rows=2000, diverge="storage", snapshot_at_height=False, extra_snapshots=[HEIGHT - 10]
    )
    state = _run(node, sim_binary, s3_bucket, memiavl_open_mode="replay")
    assert state.is_failed()
    missing = "read metadata: open " + str(node.memiavl_dir / f"snapshot-{HEIGHT:020d}" / "evm" / "metadata")
    assert state.message.startswith(MISMATCH + f" (localization failed: semantic: seidb exited with code 1: {missing}")
    assert "; translator: seidb exited with code 1: " in state.message
    outcome = _outcome(state)
    assert [item.record.match for item in outcome.published] == [False, False]  # the verdicts stand
    assert all(d.error for d in outcome.divergences)
    events = _mismatch_events(prefect_api, state.state_details.flow_run_id, 2)
    assert len(events) == 2 and all(e["payload"]["localization"] == "failed" for e in events)
    listed = s3_bucket.client().list_objects_v2(Bucket=s3_bucket.bucket).get("Contents", [])
    assert not any("endpoint-divergence" in item["Key"] for item in listed)


def test_localize_false_runs_no_localization(
    tmp_path: Path, make_node: MakeNode, sim_binary: Path, s3_bucket: S3Target
) -> None:
    node = make_node(tmp_path, height=HEIGHT, rows=1000, diverge="code")
    state = _run(node, sim_binary, s3_bucket, localize=False)
    assert state.is_failed() and _outcome(state).divergences == []
    assert not any(name.startswith("localize") for name in _task_runs(state.state_details.flow_run_id))
