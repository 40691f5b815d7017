"""flows/sealing.py on a real Prefect API (prefect_test_harness): the per-node Prefect concurrency limit
queues runs that share a server, and a run's claim is gone once it has published."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.concurrency.sync import concurrency

from blocks import DigestSink
from evmdigest.emit import open_sink
from evmdigest.models import Normalization
from evmdigest.segments import record_key
from flows.evm_logical_digest import evm_logical_digest
from flows.sealing import ensure_node_limit, node_limit_name
from tests.plugins.sim import MakeNode

pytestmark = pytest.mark.usefixtures("prefect_api")
HEIGHT = 213200000
HOLD = 12.0  # seconds the test keeps the node's slot; a run that did not queue would finish well before


def _run(tmp_path: Path, make_node: MakeNode, sim_binary: Path, node: str) -> Any:
    sim = make_node(tmp_path, height=HEIGHT, rows=500)
    return evm_logical_digest(
        flatkv_dir=str(sim.flatkv_dir),
        memiavl_dir=str(sim.memiavl_dir),
        height=HEIGHT,
        seidb_path=str(sim_binary),
        sink=DigestSink(url=(tmp_path / "sealed").as_uri()),
        node=node,
        scan_timeout=60,
        return_state=True,
    )


def test_a_run_queues_for_its_nodes_concurrency_slot(tmp_path: Path, make_node: MakeNode, sim_binary: Path) -> None:
    name = node_limit_name("node-q")
    ensure_node_limit(name)
    held, released_at = threading.Event(), []

    def hold() -> None:
        with concurrency(name, occupy=1, strict=True):  # another run on node-q, as the server sees it
            held.set()
            time.sleep(HOLD)
            released_at.append(datetime.now(UTC))

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(60)
    state = _run(tmp_path, make_node, sim_binary, "node-q")
    holder.join()
    assert state.is_completed(), state.message
    seal = open_sink((tmp_path / "sealed").as_uri()).read_seal(record_key(HEIGHT, Normalization.SEMANTIC, "node-q"))
    assert seal is not None and seal.sealed_at >= released_at[0]  # published only after the slot was free
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(name)
    assert (limit.limit, limit.active_slots) == (1, 0)  # one slot per node, released after publishing


def test_the_claim_is_released_after_publishing(tmp_path: Path, make_node: MakeNode, sim_binary: Path) -> None:
    state = _run(tmp_path, make_node, sim_binary, "node-r")
    assert state.is_completed(), state.message
    sink = open_sink((tmp_path / "sealed").as_uri())
    assert sink.list_keys(include_control=True, prefix="node-r/claims/") == []
    assert len(sink.list_keys(prefix="node-r/")) == 2
