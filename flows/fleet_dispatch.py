"""Start every node's gate at once and wait for each up to the node timeout: on the node's work queue
(pool mode) or as subflows in this process (local mode). Returns how each gate run ended (GateRun);
the verdicts themselves are read back from the sink (evmdigest.fleet.collect).

Pool mode: `run_deployment(NODE_GATE, work_queue_name=<node queue>, timeout=0, as_subflow=True)` for
every node (linked to the fleet run in the UI), then one polling loop over all of them. A run not final
by the deadline (no worker on its queue, a backlog, slow scans) is cancelled (so a worker that comes back
later does not scan it) and reported TIMED_OUT. Local mode: each gate is a subflow in a task; past the
deadline its scans are stopped the way a cancelled run's are (journal.stop_run on the subflow's run tag:
the stop policy, then its FlatKV clones removed), so its gate fails and is TIMED_OUT.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any, cast

from prefect import get_run_logger, tags, task
from prefect.blocks.core import Block
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, FlowRunFilterTags
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.futures import PrefectFuture
from prefect.states import Cancelled, Cancelling

from evmdigest.fleet.collect import GateEnd, GateRun
from evmdigest.fleet.nodes import FleetNode
from evmdigest.seidb.journal import stop_run
from evmdigest.seidb.procs import DEFAULT_GRACE_S

NODE_GATE = "evm-logical-digest/node-gate"
POLL_SECONDS = 2.0
SETTLE_SECONDS = 120.0  # a local gate whose scans were killed fails within this


class FleetSetupError(Exception):
    """The fleet cannot dispatch: the node-gate deployment is missing or in another pool, a block is unsaved."""


def block_parameter(block: Block | None, what: str) -> Any:
    """How a block travels to a gate on another machine: a saved block by reference, else its settings."""
    if block is None:
        return None
    if block._block_document_id is not None:
        return {"$ref": {"block_document_id": str(block._block_document_id)}}
    if getattr(block, "aws_credentials", None) is not None:
        raise FleetSetupError(f"{what}: save the block (its credentials cannot travel to the workers unsaved)")
    return block.model_dump(mode="json", exclude={"block_type_slug", "aws_credentials"})


def _ended(run: FlowRun) -> GateRun:
    state = run.state
    end = GateEnd.COMPLETED if state is not None and state.is_completed() else GateEnd.FAILED
    message = state.message if state is not None else None
    return GateRun(end, message or (state.name if state else "no state"), str(run.id))


def _overdue(run: FlowRun, timeout: float) -> str:
    name = run.state.name if run.state else "no state"
    waiting = run.state is not None and run.state.type in (StateType.SCHEDULED, StateType.PENDING)
    why = f"no worker took it from work queue {run.work_queue_name!r}" if waiting else "it was still running"
    return f"no verdict within {timeout:g} s ({name}: {why}); the run was cancelled"


def dispatch_pool(
    nodes: list[FleetNode], parameters: Mapping[str, dict[str, Any]], *, pool: str, timeout: float, tag: str
) -> dict[str, GateRun]:
    """Run every node's gate on its own work queue at once; wait for all, each up to `timeout` seconds."""
    logger = get_run_logger()
    with get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name(NODE_GATE)
        except ObjectNotFound:
            raise FleetSetupError(f"deployment {NODE_GATE} not found: run `prefect deploy --name node-gate`") from None
        if deployment.work_pool_name != pool:
            raise FleetSetupError(f"deployment {NODE_GATE} is in pool {deployment.work_pool_name!r}, not {pool!r}")
    runs: dict[str, FlowRun] = {}
    for node in nodes:
        runs[node.name] = cast(FlowRun, run_deployment(
            NODE_GATE, parameters=dict(parameters[node.name]), work_queue_name=node.queue, timeout=0,
            as_subflow=True, flow_run_name=f"node-gate-{node.name}", tags=["evm-digest-fleet"],
            idempotency_key=f"{tag}:{node.name}",
        ))  # fmt: skip
        logger.info("node %s: gate run %s on work queue %s", node.name, runs[node.name].id, node.queue)
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            found = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id for run in runs.values()]))
            )
            by_id = {run.id: run for run in found}
            runs = {name: by_id.get(run.id, run) for name, run in runs.items()}
            if all(r.state and r.state.is_final() for r in runs.values()) or time.monotonic() >= deadline:
                break
            time.sleep(POLL_SECONDS)
        ended: dict[str, GateRun] = {}
        for name, run in runs.items():
            if run.state is not None and run.state.is_final():
                ended[name] = _ended(run)
                continue
            message = _overdue(run, timeout)
            running = run.state is not None and run.state.type is StateType.RUNNING
            client.set_flow_run_state(run.id, Cancelling(message=message) if running else Cancelled(message=message),
                                      force=True)  # fmt: skip
            logger.warning("node %s: %s", name, message)
            ended[name] = GateRun(GateEnd.TIMED_OUT, message, str(run.id))
    return ended


@task(name="node-gate", task_run_name="node-gate-{node}", cache_policy=NO_CACHE)
def local_gate(node: str, parameters: dict[str, Any], tag: str) -> GateRun:
    from flows.evm_logical_digest import evm_logical_digest

    with tags(tag):  # how the fleet finds this subflow run (and its scans) when the node times out
        state: Any = evm_logical_digest(**parameters, return_state=True)
    end = GateEnd.COMPLETED if state.is_completed() else GateEnd.FAILED
    return GateRun(end, state.message, str(state.state_details.flow_run_id))


def _tagged_runs(tag: str) -> list[str]:
    with get_client(sync_client=True) as client:
        found = client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[tag])))
    return [str(run.id) for run in found]


def dispatch_local(
    nodes: list[FleetNode], parameters: Mapping[str, dict[str, Any]], *, timeout: float, grace: float = DEFAULT_GRACE_S
) -> dict[str, GateRun]:
    """Run every node's gate as a subflow of this run, at once; past `timeout` a node's scans are killed."""
    run_tags = {node.name: f"evm-digest-fleet-gate-{uuid.uuid4().hex[:12]}" for node in nodes}
    futures: dict[str, PrefectFuture[GateRun]] = {
        node.name: local_gate.submit(node.name, dict(parameters[node.name]), run_tags[node.name]) for node in nodes
    }
    deadline = time.monotonic() + timeout
    ended: dict[str, GateRun] = {}
    for name, future in futures.items():
        future.wait(timeout=max(0.0, deadline - time.monotonic()))
        state = future.state
        if state.is_final():
            ended[name] = future.result() if state.is_completed() else GateRun(GateEnd.FAILED, state.message)
            continue
        run_ids: list[str] = []
        settle = time.monotonic() + SETTLE_SECONDS
        while not future.state.is_final() and time.monotonic() < settle:
            run_ids = _tagged_runs(run_tags[name])  # found again: the subflow may not have existed yet
            for run_id in run_ids:
                stopped = stop_run(run_id, grace=grace)
                if stopped.stopped or stopped.cleanups:
                    get_run_logger().info("node %s: gate run %s: %s", name, run_id, stopped.summary())
            future.wait(timeout=2)
        message = f"no verdict within {timeout:g} s; its scans were stopped"
        ended[name] = GateRun(GateEnd.TIMED_OUT, message, run_ids[0] if run_ids else None)
        get_run_logger().warning("node %s: %s", name, message)
    return ended
