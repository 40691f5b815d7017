"""Localization in the gate flow: after the verdicts are published, name the keys behind each mismatch.

One task per mismatched normalization, run one after the other so the second reuses the first's FlatKV
passes (both sides of every pass still run at once, inside the core). A failed localization never
hides the mismatch: its error is kept in the summary and the run still fails with the mismatch.
"""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from blocks import DigestSink
from evmdigest.localize.command import describe_failure
from evmdigest.localize.model import DivergenceSummary, Limits, Localization, PublishedDivergence
from evmdigest.localize.passes import PassCache
from evmdigest.localize.report import TABLE_ROWS, bucket_lines, divergence_table, publish_divergence
from evmdigest.localize.run import localize_record, record_ref
from evmdigest.models import Normalization
from evmdigest.segments import divergence_key_for
from evmdigest.seidb import SeidbRunner
from evmdigest.verdict.outcome import GateOutcome, PublishedRecord


@task(name="localize", task_run_name="localize-{normalization}", cache_policy=NO_CACHE)
def localize_mismatch(
    runner: SeidbRunner,
    published: PublishedRecord,
    normalization: Normalization,
    flatkv_dir: str,
    memiavl_dir: str,
    sink_config: DigestSink,
    max_keys: int,
    cache: PassCache,
) -> tuple[Localization, PublishedDivergence | None]:
    logger = get_run_logger()
    logger.info("localizing %s (%s)", ", ".join(published.record.mismatched_buckets), normalization.value)
    localization = localize_record(
        runner, published, Path(flatkv_dir), Path(memiavl_dir), limits=Limits(max_keys=max_keys), cache=cache
    )
    for line in bucket_lines(localization):
        logger.info("%s: %s", normalization.value, line)
    if published.key is None:
        return localization, None
    report = publish_divergence(
        sink_config.open(), divergence_key_for(published.key), localization, record_ref(published)
    )
    if report.existing_differs:
        logger.warning("a different divergence report is already sealed at %s; kept, not overwritten", report.uri)
    elif report.already_sealed:
        logger.info("divergence report already sealed: %s", report.uri)
    else:
        logger.info("sealed %s: %d key(s) sha256=%s", report.uri, len(localization.keys), report.uncompressed_sha256)
    return localization, report


def localize_mismatches(
    outcome: GateOutcome,
    runner: SeidbRunner,
    flatkv_dir: str,
    memiavl_dir: str,
    sink_config: DigestSink,
    max_keys: int,
    artifact_key: str,
) -> list[DivergenceSummary]:
    """Localize every mismatched record of `outcome`; publish the table artifact; return the summaries."""
    cache, summaries, localizations = PassCache(), [], []
    for item in outcome.published:
        if item.record.match:
            continue
        normalization = item.record.normalization
        future = localize_mismatch.submit(
            runner, item, normalization, flatkv_dir, memiavl_dir, sink_config, max_keys, cache
        )
        result = future.result(raise_on_failure=False)
        if not isinstance(result, tuple):
            error = describe_failure(result) if isinstance(result, BaseException) else str(future.state.message)
            summaries.append(DivergenceSummary(normalization=normalization, error=error))
            continue
        localization, report = result
        localizations.append(localization)
        summaries.append(DivergenceSummary.of(localization, report))
    if localizations:
        total = sum(len(localization.keys) for localization in localizations)
        create_table_artifact(
            table=[{str(k): v for k, v in row.items()} for row in divergence_table(localizations).to_dict("records")],
            key=artifact_key,
            description=f"Diverging keys at height {outcome.height} on {outcome.node}: {total} "
            f"(first {TABLE_ROWS} shown; every key is in the sealed divergence report)",
        )
    return summaries
