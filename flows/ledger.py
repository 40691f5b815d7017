"""Flow `digest-ledger`: every sealed record under a sink, verified, as a table artifact and a markdown summary.

Thin wiring around `evmdigest.ledger`: Failed (the summary's headline as the message) when an object
cannot be verified or nodes disagree; Completed otherwise, with mismatches and missing heights counted
in the message and the summary.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed, Failed
from pydantic import Field

from blocks import DigestSink
from evmdigest.ledger import DEFAULT_WORKERS, Ledger, build_ledger
from evmdigest.request import sink_url_or_default

TABLE_KEY = "evm-digest-ledger"
SUMMARY_KEY = "evm-digest-ledger-summary"


@task(name="build-ledger", task_run_name="build-ledger", cache_policy=NO_CACHE)
def ledger_of(
    sink_config: DigestSink, verify: bool, interval: int | None, nodes: list[str] | None, workers: int
) -> Ledger:
    sink = sink_config.open(max_pool_connections=workers)
    return build_ledger(sink, verify=verify, workers=workers, interval=interval, nodes=nodes)


@flow(name="digest-ledger", validate_parameters=True)
def digest_ledger(
    sink: DigestSink | None = None,
    sink_url: str | None = None,
    interval: Annotated[int, Field(ge=1)] | None = None,
    verify: bool = True,
    nodes: list[str] | None = None,
    workers: Annotated[int, Field(ge=1, le=128)] = DEFAULT_WORKERS,
) -> Any:
    """List and verify every sealed endpoint record and fleet verdict under a sink.

    Args:
        sink: A DigestSink block (S3 prefix or folder, credentials). Takes precedence over sink_url.
        sink_url: s3://bucket/prefix or file:///dir when no block is chosen (default $EVMDIGEST_SINK).
        interval: Segment interval in blocks: each node should have a record every `interval` blocks
            between its first and last sealed height. Empty: no interval check.
        verify: Re-read, gunzip and re-hash every object against its seal (off: read records only).
        nodes: Only these node labels (default: every node found).
        workers: Reads in flight.
    """
    logger = get_run_logger()
    sink_config = sink or DigestSink(url=sink_url_or_default(sink_url))
    ledger = ledger_of(sink_config, verify, interval, nodes, workers)
    summary = ledger.summary_lines()
    for line in summary:
        logger.info("%s", line)
    create_markdown_artifact(markdown=ledger.summary_markdown(), key=SUMMARY_KEY, description=summary[0])
    shown = ledger.display().assign(uri=ledger.table["uri"])
    rows = cast("list[dict[str, Any]]", shown.to_dict(orient="records"))
    create_table_artifact(table=rows, key=TABLE_KEY, description=summary[0])
    data = {"headline": summary[0], "findings": ledger.findings(), "records": len(ledger.table)}
    if ledger.failed:
        return Failed(message=summary[0], data=data)
    return Completed(message=summary[0], data=data)
