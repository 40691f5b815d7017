"""The gate's sink side, wired for Prefect: preflight, segment discovery and publication of a height.

Policy lives in the core; this module only wires it:
- layout: a named node's records live under `<sink>/<node>/` (segments.record_key); unnamed runs keep
  the flat layout. Discovery and every read use the run's own layout only.
- one run at a time per (node, height): the sink claim (verdict/claim.py) works without the
  orchestrator; a Prefect global concurrency limit `evm-digest-node-<node>` (one slot) makes runs that
  share a Prefect server queue for it instead of polling the sink.
- one verdict set per (node, height): verdict/verdict_set.py checks the height's records before any
  normalization is published; compare-emit then publishes each (verdict/publish.py).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency._asyncio import AcquireConcurrencySlotTimeoutError
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.futures import wait
from prefect.settings import get_current_settings

from blocks import DigestSink
from evmdigest.emit import Sink
from evmdigest.models import DigestReport, Normalization
from evmdigest.request import RunRequest
from evmdigest.segments import newest_unsealed, record_prefix, sealed_pairs, snapshot_heights
from evmdigest.seidb import ScanResult
from evmdigest.verdict.claim import CLAIM_WAIT, HeightClaim
from evmdigest.verdict.outcome import PublishedRecord
from evmdigest.verdict.verdict_set import check_height
from flows.tasks import compare_emit


def node_limit_name(node_label: str) -> str:
    from flows.evm_logical_digest import node_slug  # the slug the flow's events and artifacts use

    return f"evm-digest-node-{node_slug(node_label)}"


def preflight_sink(sink_config: DigestSink, node: str | None) -> Sink:
    """Open the sink, prove it answers (list this node's records), and remove stale temp files."""
    logger = get_run_logger()
    sink = sink_config.open()
    sink.list_keys(prefix=record_prefix(node))
    removed = sink.remove_stale_temps()
    if removed:
        logger.info("removed %d stale temp file(s) left by killed runs: %s", len(removed), ", ".join(removed))
    return sink


def discover_height(sink: Sink, request: RunRequest) -> int | None:
    """The newest memiavl snapshot whose records are not all in this node's layout yet, or None."""
    keys = sink.list_keys(prefix=record_prefix(request.node))
    heights = snapshot_heights(request.memiavl_dir.expanduser())
    return newest_unsealed(heights, sealed_pairs(keys, request.node), request.normalizations)


def ensure_node_limit(name: str) -> None:
    # Prefect 3.9 skips (with a warning) limits that do not exist; create ours with one slot.
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            with contextlib.suppress(ObjectAlreadyExists):  # another run created it first
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))


@contextmanager
def node_limit(node_label: str, logger: logging.Logger | logging.LoggerAdapter[Any]) -> Iterator[None]:
    """Hold the node's Prefect concurrency slot when a Prefect server is shared; the sink claim decides anyway.

    Skipped without PREFECT_API_URL: every ephemeral server keeps its leases in its own memory, so a run
    killed while holding the slot would leave it occupied for every later run. Not freed within the
    claim's wait bound (a crashed holder whose lease the server has not yet expired), the run goes on
    under the sink claim alone.
    """
    if get_current_settings().api.url is None:
        yield
        return
    name = node_limit_name(node_label)
    ensure_node_limit(name)
    with ExitStack() as stack:
        try:
            stack.enter_context(concurrency(name, occupy=1, timeout_seconds=CLAIM_WAIT, strict=True))
        except AcquireConcurrencySlotTimeoutError:
            logger.warning("concurrency limit %s stayed full for %.0f s; relying on the sink claim", name, CLAIM_WAIT)
        yield


@task(name="verdict-set", task_run_name="verdict-set-{height}", cache_policy=NO_CACHE)
def check_verdict_set(
    sink_config: DigestSink,
    height: int,
    node: str | None,
    flatkv: DigestReport,
    memiavl: dict[Normalization, DigestReport],
) -> int:
    """Every record already at this (node, height) is ours and agrees with this run; how many there are."""
    existing = check_height(sink_config.open(), height, flatkv, memiavl, node)
    get_run_logger().info("%d record(s) already at height %s agree with this run", len(existing), height)
    return len(existing)


def publish_verdicts(
    height: int,
    request: RunRequest,
    flatkv: ScanResult,
    memiavl: dict[Normalization, ScanResult],
    sink_config: DigestSink,
    node_label: str,
    run_id: str,
) -> list[PublishedRecord]:
    """Under the node's limit and the height's claim: check the verdict set, then publish every normalization."""
    logger = get_run_logger()
    claim = HeightClaim(sink_config.open(), height, request.node, run_id=run_id, log=logger.info)
    with node_limit(node_label, logger), claim:
        reports = {n: scan.report for n, scan in memiavl.items()}
        check_verdict_set(sink_config, height, request.node, flatkv.report, reports)
        claim.confirm()
        futures = [
            compare_emit.submit(height, n, flatkv, memiavl[n], sink_config, node_label, request.node)
            for n in request.normalizations
        ]
        wait(futures)  # every normalization settles (published or failed) before any error is raised
        return [future.result() for future in futures]
