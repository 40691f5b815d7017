"""The gate's tail for single-endpoint nodes (composite, memiavl, flatkv kinds): seal each node digest.

The same policy as a pair node's records (flows/sealing.py): under the node's Prefect limit and the
height's sink claim, the node's verdict set is checked (verdict/node_set.py) before anything is
written, then each digest is published write-once (verdict/publish.py) at
`[<node>/]node-digest-<H>-<endpoint>.json.gz`. Then the bucket table, the markdown summary, a link per
record and an `evm.digest.sealed` event per digest.
"""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event
from prefect.futures import wait
from prefect.tasks import exponential_backoff

from blocks import DigestSink
from evmdigest.emit.probe import ensure_write_once
from evmdigest.models import NodeKind
from evmdigest.request import RunRequest
from evmdigest.segments import node_digest_key
from evmdigest.seidb import ScanResult
from evmdigest.tables import display_rows, node_markdown, node_table
from evmdigest.verdict.claim import HeightClaim
from evmdigest.verdict.node_records import NodeDigestRecord, node_digest
from evmdigest.verdict.node_set import check_node_height
from evmdigest.verdict.outcome import GateOutcome, PublishedNodeDigest, ScanTiming
from evmdigest.verdict.publish import publish_verdict
from flows import progress
from flows.sealing import node_limit
from flows.tasks import retry_if_retryable


@task(
    name="emit-node-digest",
    task_run_name="emit-node-digest-{endpoint}",
    cache_policy=NO_CACHE,
    retries=4,
    retry_delay_seconds=exponential_backoff(backoff_factor=2),
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_if_retryable,
)
def emit_node_digest(
    endpoint: str, record: NodeDigestRecord, sink_config: DigestSink, layout_node: str | None
) -> PublishedNodeDigest:
    """Publish one node digest write-once; `layout_node` (the run's --node) places it in the sink."""
    logger = get_run_logger()
    sink = sink_config.open()
    ensure_write_once(sink, allow_overwriting_store=sink_config.allow_overwriting_store, warn=logger.warning)
    done = publish_verdict(sink, node_digest_key(record.height, endpoint, layout_node), record)
    if done.seal_completed:
        logger.warning("completed the missing seal of %s (same digest as this run)", done.uri)
    elif done.already_sealed:
        logger.info("already sealed with the same digest: %s", done.uri)
    else:
        logger.info("sealed %s: %s digest=%s count=%s", done.uri, endpoint, record.digest, record.count)
    return PublishedNodeDigest(
        record=done.verdict, uri=done.uri, uncompressed_sha256=done.uncompressed_sha256, seal_uri=done.seal_uri,
        already_sealed=done.already_sealed, seal_completed=done.seal_completed,
    )  # fmt: skip


def seal_node_digests(
    height: int,
    request: RunRequest,
    scans: list[ScanResult],
    sink_config: DigestSink,
    node_label: str,
    run_id: str,
) -> GateOutcome:
    """Check the node's verdict set and publish one node digest per scan; the run's outcome."""
    logger = get_run_logger()
    records = {
        scan.request.label: node_digest(height, scan.report, scan.request.normalization, node=node_label)
        for scan in scans
    }
    claim = HeightClaim(sink_config.open(), height, request.node, run_id=run_id, log=logger.info)
    with node_limit(node_label, logger), claim:
        existing = check_node_height(sink_config.open(), height, request.kind, records, request.node)
        logger.info("%d node digest(s) already at height %s agree with this run", existing, height)
        claim.confirm()
        futures = [emit_node_digest.submit(ep, rec, sink_config, request.node) for ep, rec in records.items()]
        wait(futures)  # every digest settles (published or failed) before any error is raised
        published = [future.result() for future in futures]
    table = node_table({scan.request.label: scan.report for scan in scans})
    timings = [
        ScanTiming(label=scan.request.label, started_at=scan.started_at, finished_at=scan.finished_at,
                   generation=scan.report.generation.value)
        for scan in scans
    ]  # fmt: skip
    outcome = GateOutcome(
        height=height, node=node_label, kind=request.kind, node_digests=published,
        table=table.to_dict(orient="records"), scans=timings,
    )  # fmt: skip
    _artifacts(outcome, request.kind, table)
    _events(outcome)
    return outcome


def _artifacts(outcome: GateOutcome, kind: NodeKind, table: Any) -> None:
    from flows.evm_logical_digest import node_slug  # the slug the flow's other artifacts use

    node = node_slug(outcome.node or "node")
    where = f"height {outcome.height} on {outcome.node} ({kind.value} node)"
    progress.publish_bucket_table(
        display_rows(table), key=f"evm-digest-buckets-{node}", description=f"Per-bucket digests at {where}"
    )
    create_markdown_artifact(
        markdown=node_markdown(outcome.height or 0, outcome.node, kind, table, outcome.node_digests),
        key=f"evm-digest-verdict-{node}",
        description=f"Node digests at {where}",
    )
    for item in outcome.node_digests:
        create_link_artifact(
            link=item.uri,
            link_text=f"node-digest {outcome.height} {item.record.endpoint}",
            description=f"{item.record.endpoint} digest at {where}; sha256 (uncompressed) {item.uncompressed_sha256}",
        )


def _events(outcome: GateOutcome) -> None:
    from flows.evm_logical_digest import node_slug

    node = outcome.node or "node"
    for item in outcome.node_digests:
        record = item.record
        boundary = record.boundary
        emit_event(
            event="evm.digest.sealed",
            resource={"prefect.resource.id": f"evm-digest.node.{node_slug(node)}", "prefect.resource.name": node},
            payload={
                "height": outcome.height, "kind": record.kind.value, "endpoint": record.endpoint,
                "digest": record.digest, "count": record.count, "uri": item.uri,
                "uncompressed_sha256": item.uncompressed_sha256, "already_sealed": item.already_sealed,
                "boundary": boundary.model_dump(mode="json", include={"status", "module", "key"}) if boundary else None,
            },
        )  # fmt: skip
