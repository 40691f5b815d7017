"""Flow `fleet-seal`: one height across every node -> each node's gate -> cross-node verdict, sealed.

Pool mode (`pool` set): each node's gate is a run of the `node-gate` deployment on that node's work
queue, so its stores are read by that node's worker. Local mode (`pool` empty): the gates are subflows
in this process. Either way every gate writes its records to `<sink>/<node>/`, and the fleet reads them
back from there (evmdigest.fleet.collect), compares them, and seals `fleet-digest-<H>.json.gz`.
"""

from __future__ import annotations

from typing import Any, cast

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run as current_flow_run
from prefect.states import Completed, Failed
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from blocks import DigestFleet, DigestSink, SeidbCli
from evmdigest.emit.probe import ensure_write_once
from evmdigest.fleet.collect import collect_node
from evmdigest.fleet.compare import compare_fleet
from evmdigest.fleet.nodes import DEFAULT_NODE_TIMEOUT, FleetNode, FleetRequest, newest_common_height
from evmdigest.fleet.publish import FleetOutcome, publish_fleet
from evmdigest.fleet.report import fleet_markdown, fleet_rows, headline
from evmdigest.fleet.verdict import FleetVerdict
from evmdigest.models import Normalization
from evmdigest.request import DEFAULT_NORMALIZATIONS, Height, RequestError, Timeout, sink_url_or_default
from evmdigest.segments import snapshot_heights
from evmdigest.seidb.procs import DEFAULT_GRACE_S
from flows.evm_logical_digest import node_slug
from flows.fleet_dispatch import block_parameter, dispatch_local, dispatch_pool
from flows.tasks import retry_if_retryable

# Local mode runs every node's gate (each a thread waiting on its own scans) at once.
FLEET_RUNNER = cast("TaskRunner[PrefectFuture[Any]]", ThreadPoolTaskRunner(max_workers=32))


def gate_parameters(
    request: FleetRequest, height: int, node: FleetNode, sink: DigestSink, seidb: SeidbCli | None
) -> dict[str, Any]:
    """The node's gate run: its kind, its kind's dirs and label, the fleet's height, decoders, seidb and sink."""
    remote = request.pool is not None
    params: dict[str, Any] = {
        "kind": node.kind.value, **node.dirs(), "height": height,
        "normalizations": [n.value for n in request.normalizations], "node": node.name,
        "sink": block_parameter(sink, "sink") if remote else sink,
    }  # fmt: skip
    if seidb is not None:
        params["seidb"] = block_parameter(seidb, "seidb") if remote else seidb
    if request.seidb_path:
        params["seidb_path"] = request.seidb_path
    if request.scan_timeout:
        params["scan_timeout"] = request.scan_timeout
    return params


@task(
    name="publish-fleet-verdict", cache_policy=NO_CACHE, retries=4, retry_delay_seconds=[1, 2, 4, 8],
    retry_condition_fn=retry_if_retryable,
)  # fmt: skip
def publish_fleet_verdict(sink_config: DigestSink, verdict: FleetVerdict) -> FleetOutcome:
    sink = sink_config.open()
    logger = get_run_logger()
    ensure_write_once(sink, allow_overwriting_store=sink_config.allow_overwriting_store, warn=logger.warning)
    outcome = FleetOutcome.of(publish_fleet(sink, verdict))
    seal = "already sealed" if outcome.already_sealed else "sealed"
    logger.info("%s %s: %s", seal, outcome.uri, headline(outcome.verdict))
    return outcome


@flow(name="fleet-seal", task_runner=FLEET_RUNNER, validate_parameters=True)
def fleet_seal(
    height: Height = None,
    nodes: list[FleetNode] | None = None,
    fleet: DigestFleet | None = None,
    normalizations: tuple[Normalization, ...] = DEFAULT_NORMALIZATIONS,
    pool: str | None = None,
    seidb: SeidbCli | None = None,
    seidb_path: str | None = None,
    sink: DigestSink | None = None,
    sink_url: str | None = None,
    node_timeout: Timeout = DEFAULT_NODE_TIMEOUT,
    scan_timeout: Timeout = None,
) -> Any:
    """Seal one height across a fleet: every node's gate at once, then a cross-node verdict.

    Args:
        height: The height every node seals. Required with a pool; in local mode, empty means the newest
            memIAVL snapshot height every node has.
        nodes: The nodes (name, kind: pair / composite / memiavl / flatkv, the kind's flatkv_dir and/or
            memiavl_dir, work_queue); default: the fleet block's.
        fleet: A DigestFleet block: nodes, and the sink and seidb they share.
        normalizations: memIAVL decoders (default both): pair nodes compare FlatKV against each, memiavl
            nodes seal a digest per decoder.
        pool: Work pool of the `node-gate` deployment: each node's gate runs on its queue there
            (default queue evm-digest-NODE). Empty: local mode, every gate a subflow in this process.
        seidb: A SeidbCli block for the nodes (default: the fleet block's, else seidb_path).
        seidb_path: seidb on the nodes (default there: $EVMDIGEST_SEIDB, else `seidb` on PATH).
        sink: The DigestSink every node and the fleet verdict use (default: the fleet block's, else sink_url).
        sink_url: s3://bucket/prefix or file:///dir when no sink block is chosen (default $EVMDIGEST_SINK).
        node_timeout: Seconds the fleet waits for one node's verdict, queue wait included (default 7200);
            a node past it is cancelled and named timed_out.
        scan_timeout: Seconds one scan may run on a node (default: the SeidbCli block's, 3600).
    """
    logger = get_run_logger()
    chosen = nodes or (fleet.nodes if fleet is not None else None)
    if not chosen:
        raise RequestError("nodes", "{nodes}: give the fleet's nodes, or a DigestFleet block in {fleet}")
    sink = sink or (fleet.sink if fleet is not None else None)
    seidb = seidb or (fleet.seidb if fleet is not None else None)
    request = FleetRequest.create(
        nodes=tuple(chosen), height=height, normalizations=normalizations, pool=pool or None,
        seidb_path=seidb_path, sink_url=None if sink else sink_url, node_timeout=node_timeout,
        scan_timeout=scan_timeout,
    )  # fmt: skip
    sink_config = sink or DigestSink(url=sink_url_or_default(request.sink_url))  # the default `run` takes
    store = sink_config.open()  # preflight: an unreachable or overwriting sink fails before any node scans
    store.list_keys(prefix="fleet-digest-")
    ensure_write_once(store, allow_overwriting_store=sink_config.allow_overwriting_store, warn=logger.warning)
    if request.pool is None:
        request.check_local(seidb_block=seidb.path if seidb else None)
    if height is None:
        # FleetRequest refuses a flatkv node without a height: every node here has a memIAVL dir.
        found = {n.name: snapshot_heights(n.memiavl_dir.expanduser()) for n in request.nodes if n.memiavl_dir}
        height = newest_common_height(found)
        if height is None:
            raise RequestError("height", "{height}: no memIAVL snapshot height is common to every node; give one")
        logger.info("sealing the newest snapshot height every node has: %s", height)
    members = list(request.nodes)
    params = {node.name: gate_parameters(request, height, node, sink_config, seidb) for node in members}
    timeout = request.node_timeout or DEFAULT_NODE_TIMEOUT
    if request.pool is not None:
        runs = dispatch_pool(members, params, pool=request.pool, timeout=timeout, tag=str(current_flow_run.id))
    else:
        grace = seidb.grace_period if seidb is not None else DEFAULT_GRACE_S  # the stop policy the gate would use
        runs = dispatch_local(members, params, timeout=timeout, grace=grace)
    entries = [collect_node(store, height, request.normalizations, node, runs[node.name]) for node in members]
    verdict = compare_fleet(height, request.normalizations, entries)
    outcome = publish_fleet_verdict(sink_config, verdict)  # evidence first, then the run's state
    _publish_artifacts(outcome)
    _emit_event(outcome)
    if not verdict.clean:
        return Failed(message=headline(verdict), data=outcome)
    return Completed(message=headline(verdict), data=outcome)


def _publish_artifacts(outcome: FleetOutcome) -> None:
    verdict = outcome.verdict
    create_table_artifact(
        table=fleet_rows(verdict), key="evm-digest-fleet",
        description=f"Fleet at height {verdict.height}: node × endpoint against the logical majority (✓ equal, "
        "✗ differs, ? no majority)",
    )  # fmt: skip
    create_markdown_artifact(
        markdown=fleet_markdown(verdict, outcome.uri, already_sealed=outcome.already_sealed),
        key="evm-digest-fleet-verdict",
        description=f"Fleet verdict at height {verdict.height}",
    )
    create_link_artifact(
        link=outcome.uri, link_text=f"fleet-digest {verdict.height}",
        description=f"sha256 (uncompressed) {outcome.uncompressed_sha256}",
    )  # fmt: skip


def _emit_event(outcome: FleetOutcome) -> None:
    verdict = outcome.verdict
    nodes = [
        {"prefect.resource.id": f"evm-digest.node.{node_slug(name)}", "prefect.resource.role": "node",
         "prefect.resource.name": name}
        for name in verdict.nodes
    ]  # fmt: skip
    payload = {
        "height": verdict.height, "agree": verdict.agree, "all_match": verdict.all_match,
        "complete": verdict.complete, "odd_nodes": verdict.odd_nodes, "unfinished": verdict.unfinished(),
        "logical_majority": verdict.logical_majority.digest if verdict.logical_majority else None,
        "majority": {ep: d.digest if d else None for ep, d in verdict.majority.items()},
        "kinds": {name: entry.kind.value for name, entry in verdict.nodes.items()},
        "uri": outcome.uri, "uncompressed_sha256": outcome.uncompressed_sha256,
    }  # fmt: skip
    emit_event(
        event="evm.digest.fleet.agree" if verdict.agree and verdict.all_match else "evm.digest.fleet.disagree",
        resource={"prefect.resource.id": "evm-digest.fleet", "prefect.resource.name": "fleet"},
        related=nodes,
        payload=payload,
    )
