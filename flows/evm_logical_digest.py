"""Flow `evm-logical-digest`: parallel seidb scans -> version gate -> compare/emit -> artifacts + events."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, cast

from prefect import State, flow, get_run_logger
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.client.schemas.objects import FlowRun
from prefect.events import emit_event
from prefect.futures import PrefectFuture, wait
from prefect.runtime import flow_run as current_flow_run
from prefect.states import Completed, Failed
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from blocks import DigestSink, SeidbCli
from evmdigest.models import Normalization, OpenMode
from evmdigest.request import DEFAULT_NORMALIZATIONS, Height, RunRequest, Timeout
from evmdigest.seidb import ScanResult
from evmdigest.seidb.procs import kill_run
from evmdigest.tables import bucket_table, verdict_markdown
from evmdigest.verdict.outcome import GateOutcome, PublishedRecord, ScanTiming
from flows.sealing import discover_height, preflight_sink, publish_verdicts
from flows.tasks import assert_versions, flatkv_digest, memiavl_digest

DEFAULT_SINK_ENV = "EVMDIGEST_SINK"
DEFAULT_SEIDB_ENV = "EVMDIGEST_SEIDB"


# Scans are subprocesses that wait on I/O, so threads give real parallelism; 8 covers every task at once.
# (TaskRunner is invariant in its future type, hence the cast.)
SCAN_RUNNER = cast("TaskRunner[PrefectFuture[Any]]", ThreadPoolTaskRunner(max_workers=8))


class ScanFailures(Exception):
    """One or more scans failed; every failure is listed so the operator sees them all at once."""


def _kill_scans(flow: Any, flow_run: FlowRun, state: State[Any]) -> None:
    # Cancellation may SIGKILL the flow process; its seidb children carry this run's tag in their env.
    killed = kill_run(str(flow_run.id))
    if killed:
        print(f"evm-logical-digest: killed {len(killed)} seidb process(es) of cancelled run {flow_run.id}")


def node_slug(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "node"


def resolve_seidb(seidb: SeidbCli | None, seidb_path: str | None) -> SeidbCli:
    if seidb is not None:
        return seidb
    return SeidbCli(path=seidb_path or os.environ.get(DEFAULT_SEIDB_ENV) or "seidb")


def resolve_sink(sink: DigestSink | None, sink_url: str | None) -> DigestSink:
    if sink is not None:
        return sink
    url = sink_url or os.environ.get(DEFAULT_SINK_ENV) or (Path.cwd() / "out").resolve().as_uri()
    return DigestSink(url=url)


@flow(
    name="evm-logical-digest",
    task_runner=SCAN_RUNNER,
    on_cancellation=[_kill_scans],
    validate_parameters=True,
)
def evm_logical_digest(
    flatkv_dir: str,
    memiavl_dir: str,
    height: Height = None,
    normalizations: tuple[Normalization, ...] = DEFAULT_NORMALIZATIONS,
    memiavl_open_mode: OpenMode = OpenMode.SNAPSHOT,
    seidb: SeidbCli | None = None,
    seidb_path: str | None = None,
    sink: DigestSink | None = None,
    sink_url: str | None = None,
    node: str | None = None,
    scan_timeout: Timeout = None,
) -> Any:
    """Seal the EVM state at a segment boundary: FlatKV vs memIAVL logical digests, gated on height.

    Args:
        flatkv_dir: FlatKV data dir of the node (seidb --db-dir for the flatkv backend).
        memiavl_dir: memIAVL root dir, holding `current` and `snapshot-<20-digit height>` dirs.
        height: Segment boundary height (>= 1). Leave empty to seal the newest memiavl snapshot
            whose records are not yet in the sink (segment discovery).
        normalizations: memIAVL decoders to compare FlatKV against: semantic, translator (default both).
        memiavl_open_mode: snapshot (fast; needs `snapshot-<height>`) or replay (~10x slower changelog replay).
        seidb: A SeidbCli block (binary path, timeout, env). Takes precedence over seidb_path.
        seidb_path: seidb binary when no block is chosen (default $EVMDIGEST_SEIDB, else `seidb` on PATH).
        sink: A DigestSink block (S3 prefix or folder, credentials). Takes precedence over sink_url.
        sink_url: s3://bucket/prefix or file:///dir when no block is chosen (default $EVMDIGEST_SINK, else ./out).
        node: Node label for records, events (resource evm-digest.node.<label>) and artifact keys.
        scan_timeout: Seconds one scan may run before it is killed (default: the SeidbCli block's, 3600).
    """
    logger = get_run_logger()
    request = RunRequest.create(
        flatkv_dir=flatkv_dir,
        memiavl_dir=memiavl_dir,
        height=height,
        normalizations=normalizations,
        open_mode=memiavl_open_mode,
        seidb_path=seidb_path,
        sink_url=sink_url,
        node=node,
        timeout=scan_timeout,
    )
    request.check_stores()
    seidb_cli = resolve_seidb(seidb, request.seidb_path)
    sink_config = resolve_sink(sink, request.sink_url)
    node_label = request.node or os.uname().nodename
    # Preflight: a missing binary or an unreachable sink must fail now, not after an hour of scanning.
    runner = seidb_cli.runner(timeout=request.timeout, run_tag=str(current_flow_run.id))
    runner.resolve()
    sink_store = preflight_sink(sink_config, request.node)  # the node's own layout (flows/sealing.py)
    normalizations = request.normalizations
    if height is None:
        height = discover_height(sink_store, request)
        if height is None:
            return Completed(
                message="nothing to seal", data=GateOutcome(height=None, node=node_label, nothing_to_seal=True)
            )
        logger.info("segment discovery: sealing snapshot height %s", height)

    flatkv_future = flatkv_digest.submit(runner, str(request.flatkv_dir), height)
    memiavl_futures = {
        n: memiavl_digest.submit(runner, str(request.memiavl_dir), height, n, request.open_mode) for n in normalizations
    }
    flatkv, memiavl = _collect(flatkv_future, memiavl_futures)
    assert_versions(height, [flatkv, *memiavl.values()])

    run_id = str(current_flow_run.id)
    published = publish_verdicts(height, request, flatkv, memiavl, sink_config, node_label, run_id)
    table = bucket_table(flatkv.report, {n: scan.report for n, scan in memiavl.items()})
    scans = [
        ScanTiming(label=scan.request.label, started_at=scan.started_at, finished_at=scan.finished_at,
                   generation=scan.report.generation.value)
        for scan in (flatkv, *memiavl.values())
    ]  # fmt: skip
    outcome = GateOutcome(
        height=height, node=node_label, published=published, table=table.to_dict(orient="records"), scans=scans
    )
    _publish_artifacts(outcome, table)
    _emit_events(outcome)
    if not outcome.all_match:
        return Failed(message=outcome.mismatch_message(), data=outcome)
    return Completed(message=f"all match at {height}: {', '.join(n.value for n in normalizations)}", data=outcome)


def _collect(
    flatkv_future: PrefectFuture[ScanResult], memiavl_futures: dict[Normalization, PrefectFuture[ScanResult]]
) -> tuple[ScanResult, dict[Normalization, ScanResult]]:
    futures: list[PrefectFuture[ScanResult]] = [flatkv_future, *memiavl_futures.values()]
    wait(futures)
    failures = []
    for future in futures:
        state = future.state
        if not state.is_completed():
            failures.append(state.message or f"{state.name}")
    if failures:
        raise ScanFailures(f"{len(failures)} scan(s) failed: " + " | ".join(failures))
    return flatkv_future.result(), {n: f.result() for n, f in memiavl_futures.items()}


def _publish_artifacts(outcome: GateOutcome, table: Any) -> None:
    node = node_slug(outcome.node or "node")
    create_table_artifact(
        table=outcome.table,
        key=f"evm-digest-buckets-{node}",
        description=f"Per-bucket digests at height {outcome.height} on {outcome.node}",
    )
    create_markdown_artifact(
        markdown=verdict_markdown(outcome.height or 0, outcome.node, table, outcome.published),
        key=f"evm-digest-verdict-{node}",
        description=f"Verdict at height {outcome.height}",
    )
    for item in outcome.published:
        create_link_artifact(
            link=item.uri,
            link_text=f"endpoint-digest {outcome.height} {item.record.normalization.value}",
            description=f"sha256 (uncompressed) {item.uncompressed_sha256}",
        )


def _emit_events(outcome: GateOutcome) -> None:
    node = outcome.node or "node"
    for item in outcome.published:
        record: PublishedRecord = item
        emit_event(
            event="evm.digest.match" if record.record.match else "evm.digest.mismatch",
            resource={"prefect.resource.id": f"evm-digest.node.{node_slug(node)}", "prefect.resource.name": node},
            payload={
                "height": outcome.height,
                "normalization": record.record.normalization.value,
                "match": record.record.match,
                "mismatched_buckets": record.record.mismatched_buckets,
                "uri": record.uri,
                "uncompressed_sha256": record.uncompressed_sha256,
                "already_sealed": record.already_sealed,
            },
        )
