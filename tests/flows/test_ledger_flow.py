"""The `digest-ledger` flow on a real Prefect API (prefect_test_harness) over S3 (moto over HTTP)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from blocks import DigestSink
from evmdigest.emit import open_sink, seal_key
from evmdigest.models import Normalization
from evmdigest.segments import record_key
from flows.ledger import SUMMARY_KEY, TABLE_KEY, digest_ledger
from tests.ledger.records import final_digest, seal
from tests.plugins.s3 import S3Target

pytestmark = pytest.mark.usefixtures("prefect_api")


def _artifacts(state: Any) -> dict[str, Any]:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]))
        )
    return {artifact.key: artifact for artifact in found}


def _rows(artifact: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
    return rows


def test_a_clean_sink_completes_with_the_table_and_summary_artifacts(s3_bucket: S3Target) -> None:
    sink = open_sink(s3_bucket.url("evm"), endpoint_url=s3_bucket.endpoint_url)
    published = seal(sink, "node-a", [100, 200]) + seal(sink, "node-b", [100, 200])
    block = DigestSink(url=s3_bucket.url("evm"), endpoint_url=s3_bucket.endpoint_url)
    state = digest_ledger(sink=block, interval=100, return_state=True)
    assert state.is_completed(), state.message
    assert state.message.startswith("LEDGER OK — 8 endpoint record(s)")
    artifacts = _artifacts(state)
    rows = _rows(artifacts[TABLE_KEY])
    assert sorted(row["uri"] for row in rows) == sorted(p.uri for p in published)
    assert {row["flatkv_digest"] for row in rows} == {final_digest("a")[:16] + "…"}
    assert all(row["sealed"] is True for row in rows)
    assert artifacts[SUMMARY_KEY].data.startswith("# LEDGER OK")


def test_a_disagreement_or_an_unverifiable_record_fails_the_run_summary_first(tmp_path: Path) -> None:
    sink = open_sink(tmp_path.as_uri())
    seal(sink, "node-a", [100])
    seal(sink, "node-b", [100])
    seal(sink, "node-c", [100], state="b")
    disagreeing = digest_ledger(sink_url=tmp_path.as_uri(), return_state=True)
    assert disagreeing.is_failed()
    assert disagreeing.message.startswith("LEDGER: 2 disagreements")
    summary = _artifacts(disagreeing)[SUMMARY_KEY].data
    assert summary.startswith("# LEDGER: 2 disagreements") and "height 100 semantic: odd node-c" in summary

    (tmp_path / seal_key(record_key(100, Normalization.SEMANTIC, "node-c"))).unlink()
    only_ab = digest_ledger(sink_url=tmp_path.as_uri(), nodes=["node-a", "node-b"], return_state=True)
    assert only_ab.is_completed(), only_ab.message
    unsealed = digest_ledger(sink_url=tmp_path.as_uri(), nodes=["node-c"], return_state=True)
    assert unsealed.is_failed() and unsealed.message.startswith("LEDGER: 1 unverifiable")


def test_mismatches_and_missing_heights_are_reported_but_do_not_fail_the_run(tmp_path: Path) -> None:
    sink = open_sink(tmp_path.as_uri())
    seal(sink, "node-a", [100, 300], state="mismatch")
    state = digest_ledger(sink_url=tmp_path.as_uri(), interval=100, return_state=True)
    assert state.is_completed()
    assert state.message.startswith("LEDGER: 4 mismatches, 2 missing")
    assert state.result()["findings"]["missing"] == 2


def test_bad_parameters_and_an_unreadable_sink_fail_the_run(tmp_path: Path) -> None:
    bad = digest_ledger(sink_url=tmp_path.as_uri(), interval=0, return_state=True)
    assert bad.is_failed() and "interval" in bad.message
    gone = digest_ledger(sink_url=(tmp_path / "nowhere").as_uri(), return_state=True)
    assert gone.is_failed() and "no such folder" in gone.message
