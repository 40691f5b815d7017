"""The write-once probe in the gate flow's preflight and behind `evm-digest run --allow-overwriting-store`.

A FaultProxy that strips If-None-Match (and re-signs) sits in front of moto or SeaweedFS and plays a
store that ignores conditional writes; seidb-sim scans a fixture node as real subprocesses.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from blocks import DigestSink
from evmdigest.emit.probe import PROBE_KEY
from flows.evm_logical_digest import evm_logical_digest
from tests.plugins.s3 import FaultProxy, S3Target
from tests.plugins.sim import MakeNode, SimNode

HEIGHT = 213200000
RISK = "a second run could overwrite a sealed verdict"


@pytest.fixture
def node(tmp_path: Path, make_node: MakeNode) -> SimNode:
    return make_node(tmp_path, height=HEIGHT, rows=500)


@pytest.fixture
def overwriting_store(s3_bucket: S3Target, s3_fault_proxy: FaultProxy) -> S3Target:
    """The test bucket, reached through a proxy that drops If-None-Match from every request."""
    s3_fault_proxy.strip_headers("If-None-Match")
    return s3_fault_proxy.target(s3_bucket)


def _records(target: S3Target) -> list[str]:
    listed = target.client().list_objects_v2(Bucket=target.bucket).get("Contents", [])
    return sorted(item["Key"] for item in listed if PROBE_KEY not in item["Key"])


def _run(node: SimNode, sim_binary: Path, sink: DigestSink, **overrides: Any) -> Any:
    return evm_logical_digest(
        flatkv_dir=str(node.flatkv_dir), memiavl_dir=str(node.memiavl_dir), height=HEIGHT,
        seidb_path=str(sim_binary), sink=sink, node="probe-node", scan_timeout=60, return_state=True, **overrides,
    )  # fmt: skip


def test_preflight_refuses_a_store_that_overwrites_and_the_opt_outs_allow_it(
    prefect_api: str, node: SimNode, sim_binary: Path, overwriting_store: S3Target, caplog: pytest.LogCaptureFixture
) -> None:
    def sink(prefix: str, **fields: Any) -> DigestSink:
        return DigestSink(url=overwriting_store.url(prefix), endpoint_url=overwriting_store.endpoint_url, **fields)

    refused = _run(node, sim_binary, sink("refused"))
    assert refused.is_failed()
    assert RISK in refused.message and overwriting_store.endpoint_url in refused.message
    assert "--allow-overwriting-store" in refused.message
    assert _records(overwriting_store) == []  # failed in preflight: nothing scanned, nothing published

    by_parameter = _run(node, sim_binary, sink("by-parameter"), allow_overwriting_store=True)
    assert by_parameter.is_completed(), by_parameter.message
    by_block = _run(node, sim_binary, sink("by-block", allow_overwriting_store=True))
    assert by_block.is_completed(), by_block.message
    for prefix in ("by-parameter", "by-block"):
        assert f"{prefix}/probe-node/endpoint-digest-{HEIGHT}-translator.json.gz.seal.json" in _records(
            overwriting_store
        )
    assert caplog.text.count("publishing anyway because the overwriting store was explicitly allowed") == 2


def test_evm_digest_run_flag(prefect_api: str, node: SimNode, sim_binary: Path, overwriting_store: S3Target) -> None:
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    argv = [
        str(Path(sys.executable).parent / "evm-digest"), "run", "--height", str(HEIGHT), "--seidb", str(sim_binary),
        "--flatkv-dir", str(node.flatkv_dir), "--memiavl-dir", str(node.memiavl_dir),
        "--sink", overwriting_store.url("cli"), "--endpoint-url", overwriting_store.endpoint_url,
    ]  # fmt: skip
    refused = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert refused.returncode == 2, refused.stderr[-3000:]
    reason, hint = refused.stderr.strip().splitlines()[-2:]  # the operator's one-line reason and its hint
    assert reason.startswith("evm-digest: ") and RISK in reason and hint.startswith("hint: ")
    assert overwriting_store.endpoint_url in reason and "--allow-overwriting-store" in reason + hint
    assert _records(overwriting_store) == []

    allowed = subprocess.run(
        [*argv, "--allow-overwriting-store"], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert allowed.returncode == 0, allowed.stderr[-3000:]
    assert "explicitly allowed" in allowed.stdout + allowed.stderr  # the warning reaches the operator
    assert f"cli/endpoint-digest-{HEIGHT}-semantic.json.gz" in _records(overwriting_store)
