"""Flow `evm-logical-digest`: parallel seidb scans -> version gate -> compare/emit -> artifacts + events."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, cast

from prefect import State, flow, get_run_logger
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.client.schemas.objects import FlowRun
from prefect.events import emit_event
from prefect.futures import PrefectFuture, wait
from prefect.runtime import flow_run as current_flow_run
from prefect.states import Completed, Failed
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from blocks import DigestSink, SeidbCli
from evmdigest.kinds import node_scans
from evmdigest.localize.report import divergence_markdown
from evmdigest.models import NodeKind, Normalization, OpenMode
from evmdigest.request import DEFAULT_NORMALIZATIONS, RequestError, RunRequest
from evmdigest.seidb import ScanResult, SeidbError
from evmdigest.seidb.journal import stop_run
from evmdigest.seidb.preflight import check_flatkv_dir
from evmdigest.seidb.procs import DEFAULT_GRACE_S
from evmdigest.tables import DIGEST_SHOWN, bucket_table, display_rows, verdict_markdown
from evmdigest.verdict.outcome import GateOutcome, PublishedRecord, ScanTiming
from flows import progress
from flows.localize import localize_mismatches
from flows.node_seal import seal_node_digests
from flows.sealing import discover_height, preflight_sink, publish_verdicts
from flows.tasks import assert_versions, check_node_state, submit_scan

# Scans are subprocesses that wait on I/O, so threads give real parallelism; 8 covers every task at once.
# (TaskRunner is invariant in its future type, hence the cast.)
SCAN_RUNNER = cast("TaskRunner[PrefectFuture[Any]]", ThreadPoolTaskRunner(max_workers=8))


class ScanFailures(Exception):
    """One or more scans failed; one line per failed scan (with its hint), so the operator sees them all."""

    def __init__(self, lines: list[str], hint: str | None) -> None:
        self.lines = lines
        self.hint = hint
        head = f"{len(lines)} scans failed:\n" if len(lines) > 1 else ""
        self.one_line = head + "\n".join(lines)
        super().__init__(self.one_line + (f" — hint: {hint}" if hint else ""))

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.lines, self.hint))


def _kill_scans(flow: Any, flow_run: FlowRun, state: State[Any]) -> None:
    # Cancellation may SIGKILL the flow process and run this hook elsewhere: seidb children carry this
    # run's tag in their env, and the scan journal names the FlatKV dirs their clones may be left in.
    stopped = stop_run(str(flow_run.id), grace=DEFAULT_GRACE_S)
    print(f"evm-logical-digest: cancelled run {flow_run.id}: {stopped.summary()}")
    progress.mark_cancelled(flow_run.id)


def _preflight_flatkv(seidb_cli: SeidbCli, flatkv_dir: Path) -> None:
    """seidb can clone FlatKV inside its dir (writable, room); stale clones reported, old unheld ones removed."""
    check_flatkv_dir(flatkv_dir.expanduser(), min_free_mb=seidb_cli.min_free_mb, warn=get_run_logger().warning)


def node_slug(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "node"


# RunRequest field -> this flow's parameter, so a refused value is reported under the name the UI shows.
PARAMETER_NAMES = {"open_mode": "memiavl_open_mode", "timeout": "scan_timeout"}


def resolved_request(seidb: SeidbCli | None, sink: DigestSink | None, **fields: Any) -> RunRequest:
    """The flow's parameters through the one validation the CLI uses (evmdigest/request.py), resolved on
    this worker: store dirs, the seidb binary (the block's path wins) and the sink default checked here."""
    try:
        request = RunRequest.create(**fields)
        return request.resolve(seidb_block=seidb.path if seidb else None, sink_block=sink is not None)
    except RequestError as exc:
        raise exc.renamed(PARAMETER_NAMES) from None


@flow(
    name="evm-logical-digest",
    task_runner=SCAN_RUNNER,
    on_cancellation=[_kill_scans],
    validate_parameters=True,
)
def evm_logical_digest(
    flatkv_dir: str | None = None,
    memiavl_dir: str | None = None,
    height: int | None = None,
    kind: NodeKind = NodeKind.PAIR,
    normalizations: tuple[Normalization, ...] = DEFAULT_NORMALIZATIONS,
    memiavl_open_mode: OpenMode = OpenMode.SNAPSHOT,
    seidb: SeidbCli | None = None,
    seidb_path: str | None = None,
    sink: DigestSink | None = None,
    sink_url: str | None = None,
    node: str | None = None,
    scan_timeout: float | None = None,
    allow_overwriting_store: bool = False,
    localize: bool = True,
    localize_max_keys: int = 1000,
) -> Any:
    """Seal the EVM state at a segment boundary: FlatKV vs memIAVL logical digests, gated on height.

    Args:
        flatkv_dir: FlatKV data dir of the node (pair, composite and flatkv nodes).
        memiavl_dir: memIAVL root dir, holding `current` and one snapshot-HEIGHT dir per snapshot
            (HEIGHT zero-padded to 20 digits) (pair, composite and memiavl nodes).
        height: Segment boundary height (1 to 9223372036854775807). Leave empty to seal the newest
            memiavl snapshot whose records are not yet in the sink (segment discovery; not for flatkv nodes).
        kind: pair (FlatKV and memIAVL each hold the whole state: compared), composite (mid-migration:
            the state split between them, read as one and sealed as a node digest), memiavl (unmigrated:
            memIAVL only) or flatkv (fully migrated: FlatKV only). See the README's "Node kinds".
        normalizations: memIAVL decoders to compare FlatKV against: semantic, translator (default both);
            a memiavl node seals a digest per decoder; composite and flatkv nodes ignore them.
        memiavl_open_mode: snapshot (fast; needs the snapshot dir of that height) or replay (~10x slower
            changelog replay); memiavl and composite scans.
        seidb: A SeidbCli block (binary path, timeout, env). Takes precedence over seidb_path.
        seidb_path: seidb binary when no block is chosen (default $EVMDIGEST_SEIDB, else `seidb` on PATH).
        sink: A DigestSink block (S3 prefix or folder, credentials). Takes precedence over sink_url.
        sink_url: s3://bucket/prefix, file:///dir or an absolute path when no block is chosen
            (default $EVMDIGEST_SINK, else ./out).
        node: Node label for records, artifact keys and events (their resource is evm-digest.node.NODE):
            1-63 letters, digits, '.', '_' or '-'. Default: the worker's hostname.
        scan_timeout: Seconds one scan may run before it is killed, up to 604800 (default: the SeidbCli
            block's, 3600).
        allow_overwriting_store: Publish even to a store that ignores conditional writes (If-None-Match),
            which the write-once probe otherwise refuses: a second run could overwrite a sealed verdict.
        localize: After a mismatch is published, name the diverging keys (sealed beside the record).
        localize_max_keys: Diverging keys named per bucket at most; more is reported as capped.
    """
    logger = get_run_logger()
    request = resolved_request(
        seidb,
        sink,
        flatkv_dir=flatkv_dir,
        memiavl_dir=memiavl_dir,
        height=height,
        kind=kind,
        normalizations=normalizations,
        open_mode=memiavl_open_mode,
        seidb_path=seidb_path,
        sink_url=sink_url,
        node=node,
        timeout=scan_timeout,
        allow_overwriting_store=allow_overwriting_store,
        localize=localize,
        localize_max_keys=localize_max_keys,
    )
    seidb_cli = seidb or SeidbCli(path=str(request.seidb_path))
    sink_config = sink or DigestSink(url=str(request.sink_url))
    if request.allow_overwriting_store:  # the flow parameter widens the block's setting, never narrows it
        sink_config = sink_config.model_copy(update={"allow_overwriting_store": True})
    node_label = request.node or os.uname().nodename
    # Preflight: a missing binary or an unreachable sink must fail now, not after an hour of scanning.
    runner = seidb_cli.runner(timeout=request.timeout, run_tag=str(current_flow_run.id))
    if request.flatkv_dir is not None:
        _preflight_flatkv(seidb_cli, request.flatkv_dir)
    sink_store = preflight_sink(sink_config, request.node)  # the node's own layout (flows/sealing.py)
    if height is None:
        height = discover_height(sink_store, request)
        if height is None:
            return Completed(
                message="nothing to seal",
                data=GateOutcome(height=None, node=node_label, kind=request.kind, nothing_to_seal=True),
            )
        logger.info("segment discovery: sealing snapshot height %s", height)

    scans = node_scans(
        request.kind, height, flatkv_dir=request.flatkv_dir, memiavl_dir=request.memiavl_dir,
        normalizations=request.normalizations, open_mode=request.open_mode,
    )  # fmt: skip
    labels = [scan.label for scan in scans]
    progress.start_run(sink_store, node=node_label, node_key=node_slug(node_label), height=height, labels=labels)
    results = _collect([submit_scan(runner, scan) for scan in scans])
    assert_versions(height, results)
    check_node_state(runner, request, height, results)

    run_id = str(current_flow_run.id)
    if request.kind is not NodeKind.PAIR:
        outcome = seal_node_digests(height, request, results, sink_config, node_label, run_id)
        endpoints = ", ".join(labels)
        return Completed(message=f"{request.kind.value} node sealed at {height}: {endpoints}", data=outcome)
    flatkv, *memiavl_scans = results
    memiavl = {scan.request.normalization: scan for scan in memiavl_scans if scan.request.normalization}
    published = publish_verdicts(height, request, flatkv, memiavl, sink_config, node_label, run_id)
    table = bucket_table(flatkv.report, {n: scan.report for n, scan in memiavl.items()})
    timings = [
        ScanTiming(label=scan.request.label, started_at=scan.started_at, finished_at=scan.finished_at,
                   generation=scan.report.generation.value)
        for scan in results
    ]  # fmt: skip
    outcome = GateOutcome(
        height=height, node=node_label, published=published, table=table.to_dict(orient="records"), scans=timings
    )
    if request.localize and not outcome.all_match:  # the records are sealed already; localizing cannot lose them
        outcome.divergences = localize_mismatches(
            outcome, runner, str(request.flatkv_dir), str(request.memiavl_dir), sink_config,
            request.localize_max_keys, f"evm-digest-divergence-{node_slug(node_label)}",
        )  # fmt: skip
    _publish_artifacts(outcome, table)
    _emit_events(outcome)
    if not outcome.all_match:
        return Failed(message=outcome.mismatch_message(), data=outcome)
    decoders = ", ".join(n.value for n in request.normalizations)
    return Completed(message=f"all match at {height}: {decoders}", data=outcome)


def _collect(futures: list[PrefectFuture[ScanResult]]) -> list[ScanResult]:
    wait(futures)
    failures: list[SeidbError | str] = []
    for future in futures:
        state = future.state
        if not state.is_completed():
            error = state.result(raise_on_failure=False) if state.is_failed() else None
            failures.append(error if isinstance(error, SeidbError) else state.message or state.name or "failed")
    if len(failures) == 1 and isinstance(failures[0], SeidbError):
        only = failures[0]
        raise ScanFailures([getattr(only, "one_line", str(only))], only.hint or None)
    if failures:
        raise ScanFailures([str(f) for f in failures], None)
    return [future.result() for future in futures]


def _publish_artifacts(outcome: GateOutcome, table: Any) -> None:
    node = node_slug(outcome.node or "node")
    where = f"height {outcome.height} on {outcome.node}"
    # Readable at ~1400 px: match columns first, digests shortened (full values: outcome.table and the verdict).
    progress.publish_bucket_table(
        display_rows(table),
        key=f"evm-digest-buckets-{node}",
        description=f"Per-bucket digests at {where} (first {DIGEST_SHOWN} hex; full values in the verdict)",
    )
    create_markdown_artifact(
        markdown=verdict_markdown(outcome.height or 0, outcome.node, table, outcome.published)
        + divergence_markdown(outcome.divergences),
        key=f"evm-digest-verdict-{node}",
        description=f"Verdict at {where}",
    )
    for item in outcome.published:
        create_link_artifact(
            link=item.uri,
            link_text=f"endpoint-digest {outcome.height} {item.record.normalization.value}",
            description=f"{item.record.normalization.value} record at {where}; sha256 (uncompressed) "
            f"{item.uncompressed_sha256}",
        )


def _emit_events(outcome: GateOutcome) -> None:
    node = outcome.node or "node"
    localized = {summary.normalization: summary.event_payload() for summary in outcome.divergences}
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
                **localized.get(record.record.normalization, {}),
            },
        )
