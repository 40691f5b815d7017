"""Prefect tasks of the gate: thin wrappers that hand core results to Prefect's state model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import State, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.futures import PrefectFuture
from prefect.tasks import Task, exponential_backoff

from blocks import DigestSink
from evmdigest.emit import SinkError
from evmdigest.emit.probe import ensure_write_once
from evmdigest.models import Backend, Normalization, OpenMode
from evmdigest.request import RunRequest
from evmdigest.segments import record_key
from evmdigest.seidb import DigestRequest, ScanResult, SeidbError, SeidbRunner
from evmdigest.verdict.gate import check_versions
from evmdigest.verdict.migration import check_migration_state, needs_memiavl_check
from evmdigest.verdict.outcome import PublishedRecord
from evmdigest.verdict.publish import publish
from evmdigest.verdict.records import compare
from flows.progress import watch_scan


def _scan(runner: SeidbRunner, request: DigestRequest) -> ScanResult:
    logger = get_run_logger()
    logger.info("scanning %s at height %s", request.label, request.height)
    with watch_scan(request) as session:
        try:
            result = runner.run_digest(request, on_line=session.on_line)
        except SeidbError as exc:
            # The state message is one line with its hint; seidb's output tails stay here, at debug.
            logger.debug("%s failed; %s", request.label, getattr(exc, "details", exc))
            raise
        session.done(result.report)
    report = result.report
    logger.info(
        "%s opened version %s (%s report): final count=%s digest=%s",
        request.label, report.version, report.generation.value, report.final.count, report.final.digest,
    )  # fmt: skip
    return result


@task(name="flatkv-digest", task_run_name="flatkv-digest", cache_policy=NO_CACHE)
def flatkv_digest(runner: SeidbRunner, flatkv_dir: str, height: int) -> ScanResult:
    return _scan(runner, DigestRequest(Backend.FLATKV, Path(flatkv_dir).expanduser(), height))


@task(name="memiavl-digest", task_run_name="memiavl-digest-{normalization}", cache_policy=NO_CACHE)
def memiavl_digest(
    runner: SeidbRunner, memiavl_dir: str, height: int, normalization: Normalization, open_mode: OpenMode
) -> ScanResult:
    request = DigestRequest(Backend.MEMIAVL, Path(memiavl_dir).expanduser(), height, normalization, open_mode)
    return _scan(runner, request)


@task(name="composite-digest", task_run_name="composite-digest", cache_policy=NO_CACHE)
def composite_digest(
    runner: SeidbRunner, flatkv_dir: str, memiavl_dir: str, height: int, open_mode: OpenMode
) -> ScanResult:
    flatkv, memiavl = Path(flatkv_dir).expanduser(), Path(memiavl_dir).expanduser()
    return _scan(runner, DigestRequest.composite(flatkv, memiavl, height, open_mode))


def submit_scan(runner: SeidbRunner, request: DigestRequest) -> PrefectFuture[ScanResult]:
    """`request` as its backend's task (the task run is named after the scan)."""
    if request.backend is Backend.COMPOSITE:
        assert request.memiavl_dir is not None
        dirs = (str(request.db_dir), str(request.memiavl_dir))
        return composite_digest.submit(runner, *dirs, request.height, request.open_mode)
    if request.backend is Backend.FLATKV:
        return flatkv_digest.submit(runner, str(request.db_dir), request.height)
    assert request.normalization is not None
    return memiavl_digest.submit(runner, str(request.db_dir), request.height, request.normalization, request.open_mode)


@task(name="assert-versions", task_run_name="assert-versions", cache_policy=NO_CACHE)
def assert_versions(height: int, scans: list[ScanResult]) -> None:
    check_versions(height, {scan.request.label: scan.report for scan in scans})
    get_run_logger().info("every scan opened the requested height %s", height)


def check_node_state(runner: SeidbRunner, request: RunRequest, height: int, scans: list[ScanResult]) -> None:
    """Fail closed when the node's migration markers contradict its kind (evmdigest/verdict/migration.py).

    Only a composite node whose migration is complete costs a scan: its memIAVL, which must be empty.
    """
    reports = [scan.report for scan in scans]
    left = None
    if request.memiavl_dir is not None and any(needs_memiavl_check(request.kind, r) for r in reports):
        get_run_logger().info("the migration is complete: scanning memIAVL, which must hold no EVM rows")
        memiavl_dir = str(request.memiavl_dir)
        left = memiavl_digest(runner, memiavl_dir, height, Normalization.SEMANTIC, request.open_mode)
        check_versions(height, {left.request.label: left.report})
    check_migration_state(request.kind, reports, left.report if left is not None else None)


def retry_if_retryable(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    # Only throttling and connection errors can succeed on a second try; the rest would repeat.
    error = state.result(raise_on_failure=False)
    return isinstance(error, SinkError) and error.retryable


@task(
    name="compare-emit",
    task_run_name="compare-emit-{normalization}",
    cache_policy=NO_CACHE,
    retries=4,
    retry_delay_seconds=exponential_backoff(backoff_factor=2),
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_if_retryable,
)
def compare_emit(
    height: int,
    normalization: Normalization,
    flatkv: ScanResult,
    memiavl: ScanResult,
    sink_config: DigestSink,
    node: str | None,
    layout_node: str | None = None,
) -> PublishedRecord:
    """`node` labels the record; `layout_node` (the run's --node, None when unnamed) places it in the sink."""
    logger = get_run_logger()
    record = compare(height, normalization, flatkv.report, memiavl.report, node=node)
    sink = sink_config.open()
    ensure_write_once(sink, allow_overwriting_store=sink_config.allow_overwriting_store, warn=logger.warning)
    published = publish(sink, record_key(height, normalization, layout_node), record)
    if published.seal_completed:
        logger.warning("completed the missing seal of %s (same verdict as this run)", published.uri)
    elif published.already_sealed:
        logger.info("already sealed with the same verdict: %s", published.uri)
    else:
        logger.info("sealed %s: match=%s sha256=%s", published.uri, record.match, published.uncompressed_sha256)
    return published
