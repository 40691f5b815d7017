"""Scan progress in the Prefect UI: a progress artifact per scan, the in-flight bucket table, the raw output
of a failed scan. The logic lives in evmdigest.progress; this module only draws it with Prefect's API.

- `start_run` (flow, before the scans): expected rows from the sink, and the bucket-table artifact
  showing every scan as pending. The run's board is kept per flow run id for the scan tasks.
- `watch_scan` (scan task): relays seidb's lines at their levels, drives the scan's progress artifact
  `evm-digest-progress-<node>-<scan>` (value = percent; the phase is in the description), and on
  failure publishes seidb's raw output as `evm-digest-output-<node>-<scan>` (markdown).
- `publish_bucket_table` (flow, at the end): the final table replaces the in-flight one (same version).
- `mark_cancelled` (cancellation hook): scans still running say "cancelled".
Drawing is best effort: a Prefect API hiccup is logged once per scan and never fails a scan.
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast
from uuid import UUID

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, create_table_artifact
from prefect.artifacts import update_progress_artifact as _update_progress
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import ArtifactUpdate
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.runtime import flow_run as current_flow_run

from evmdigest.emit.sink import Sink
from evmdigest.models import BUCKETS, DigestReport
from evmdigest.progress import Phase, References, RunBoard, ScanProgress, ScanWatch, sealed_references
from evmdigest.seidb.argv import DigestRequest
from evmdigest.seidb.relay import LineRelay

BUCKETS_KEY = "evm-digest-buckets-{node}"
PROGRESS_KEY = "evm-digest-progress-{scan}"
OUTPUT_KEY = "evm-digest-output-{scan}"
ENDED = tuple(f"**{phase.value}**" for phase in (Phase.DONE, Phase.FAILED, Phase.CANCELLED))
_KEEP_RUNS = 32  # boards of recent runs in this process (a worker runs one flow run per process)


@dataclass
class RunProgress:
    node_key: str
    height: int
    table_key: str
    logger: Any
    board: RunBoard = field(init=False)
    table_id: UUID | None = None
    final: bool = False  # the final table is shown: in-flight updates stop
    node: str = ""  # the node label, for descriptions
    warned: list[str] = field(default_factory=list)

    def show_table(self, rows: list[dict[str, str]]) -> None:
        if self.table_id is None or self.final:
            return
        try:
            _update_artifact(self.table_id, data=_table_json(rows))
        except Exception as exc:
            _warn_once(self.logger, self.warned, "the bucket table", exc)


_runs: OrderedDict[str, RunProgress] = OrderedDict()
_runs_lock = threading.Lock()


def _warn_once(logger: Any, seen: list[str], what: str, exc: Exception) -> None:
    if what not in seen:
        seen.append(what)
        logger.warning("could not update %s (the scan goes on): %s", what, str(exc).splitlines()[0])


def _table_json(rows: Any) -> str:
    def clean(item: Any) -> Any:
        if isinstance(item, dict):
            return {key: clean(value) for key, value in item.items()}
        if isinstance(item, list):
            return [clean(value) for value in item]
        return None if isinstance(item, float) and math.isnan(item) else item

    return json.dumps(clean(rows), default=str)


def _update_artifact(artifact_id: UUID, **fields: Any) -> None:
    with get_client(sync_client=True) as client:
        client.update_artifact(artifact_id, ArtifactUpdate(**fields))


def start_run(sink: Sink, *, node: str, node_key: str, height: int, labels: Sequence[str]) -> None:
    """Find each scan's expected rows and show the bucket table with every scan (DigestRequest.label) pending."""
    logger = get_run_logger()
    try:
        references = sealed_references(sink, node, labels, height=height)
    except Exception as exc:  # an estimate must never stop a seal
        logger.warning("progress: no expected rows (%s); the scans show phases only", str(exc).splitlines()[0])
        references = References()
    for note in references.notes:
        logger.warning("progress: %s", note)
    for label in labels:
        found = references.by_label.get(label)
        expected = f"~{sum(found.counts.values()):,} rows from the {found.source}" if found else "phases only"
        logger.info("progress of %s: %s", label, expected)
    run = RunProgress(node_key, height, BUCKETS_KEY.format(node=node_key), logger, node=node)
    run.board = RunBoard(labels, references.by_label, show_table=run.show_table)
    try:
        created = create_table_artifact(
            run.board.rows(), key=run.table_key, description=f"Scans at height {height} on {node} (in flight)"
        )
        run.table_id = cast(UUID, created)  # a sync caller gets the id, not a coroutine
    except Exception as exc:
        _warn_once(logger, run.warned, "the bucket table", exc)
    with _runs_lock:
        _runs[str(current_flow_run.id)] = run
        while len(_runs) > _KEEP_RUNS:
            _runs.popitem(last=False)


def _current_run() -> RunProgress | None:
    with _runs_lock:
        return _runs.get(str(current_flow_run.id))


class ArtifactDisplay:
    """A scan's progress artifact (created on first show) and the task's log."""

    def __init__(self, key: str, logger: Any) -> None:
        self.key = key
        self.artifact_id: UUID | None = None
        self._logger = logger
        self._seen: list[str] = []

    def progress(self, value: float, description: str) -> None:
        try:
            if self.artifact_id is None:
                created = create_progress_artifact(value, key=self.key, description=description)
                self.artifact_id = cast(UUID, created)  # a sync caller gets the id, not a coroutine
            else:
                _update_progress(self.artifact_id, value, description=description)
        except Exception as exc:
            _warn_once(self._logger, self._seen, f"the progress artifact {self.key}", exc)

    def log(self, level: int, text: str) -> None:
        self._logger.log(level, "%s", text)


class ScanSession:
    """What a scan task feeds: every line to the relay and the progress watch; the report at the end."""

    def __init__(self, relay: LineRelay, watch: ScanWatch) -> None:
        self.relay = relay
        self.watch = watch

    def on_line(self, stream: str, line: str) -> None:
        self.relay(stream, line)
        self.watch.on_line(stream, line)

    def done(self, report: DigestReport) -> None:
        counts = {name: report.bucket(name).count for name in BUCKETS}
        self.watch.done(counts, report.final.count)


def _publish_output(key: str, title: str, relay: LineRelay, logger: Any) -> None:
    raw = relay.raw_output()
    fence = "`" * max(3, 1 + max((len(t) for t in map(str.strip, raw.split("\n")) if set(t) == {"`"}), default=0))
    cut = f" (the last {relay.lines_kept:,} of {relay.lines_seen:,} lines)" if relay.raw_truncated else ""
    markdown = f"# seidb output of {title}{cut}\n\nstderr lines are marked `[stderr]`.\n\n{fence}text\n{raw}\n{fence}\n"
    try:
        create_markdown_artifact(markdown, key=key, description=f"Raw seidb output of the failed scan {title}")
    except Exception as exc:
        logger.warning("could not publish the raw output artifact %s: %s", key, str(exc).splitlines()[0])
    else:
        logger.info("the full seidb output of %s is in the artifact %s", title, key)


@contextmanager
def watch_scan(request: DigestRequest) -> Iterator[ScanSession]:
    """Around one scan task's `run_digest(…, on_line=session.on_line)`; call `session.done(report)` after it."""
    logger = get_run_logger()
    run = _current_run()
    scan = request.label.replace("/", "-")
    name = f"{run.node_key}-{scan}" if run is not None else scan
    progress = run.board.scan(request.label) if run is not None else ScanProgress(request.label)
    title = f"{request.label} at height {request.height}" + (f" on {run.node}" if run is not None and run.node else "")
    display = ArtifactDisplay(PROGRESS_KEY.format(scan=name), logger)
    watch = ScanWatch(progress, display, title=title, board=run.board if run is not None else None)
    relay = LineRelay(lambda level, text: logger.log(level, "%s", text))
    session = ScanSession(relay, watch)
    watch.start()
    try:
        yield session
    except Exception as exc:
        watch.end(Phase.FAILED, str(exc))
        _publish_output(OUTPUT_KEY.format(scan=name), title, relay, logger)
        raise
    except BaseException as exc:  # cancellation, Ctrl-C, SIGTERM: the scan was stopped, not broken
        watch.end(Phase.CANCELLED, type(exc).__name__)
        raise
    if not progress.phase.ended:
        watch.end(Phase.FAILED, "the scan ended without a report")


def publish_bucket_table(table: Any, *, key: str, description: str) -> None:
    """The final per-bucket table: replaces this run's in-flight table (one version per run), else a new one."""
    run = _current_run()
    if run is not None and run.table_id is not None and run.table_key == key:
        run.final = True
        _update_artifact(run.table_id, data=_table_json(table), description=description)
        return
    create_table_artifact(table, key=key, description=description)


def mark_cancelled(flow_run_id: UUID) -> int:
    """After a cancellation: progress artifacts and table rows of scans that had not ended say cancelled.

    Best effort (it runs in a cancellation hook): a failure is printed, never raised.
    """
    changed = 0
    try:
        with get_client(sync_client=True) as client:
            artifacts = client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
            )
            for artifact in artifacts:
                update = _cancelled_update(artifact.type, artifact.key, artifact.description, artifact.data)
                if update is not None:
                    client.update_artifact(artifact.id, update)
                    changed += 1
    except Exception as exc:
        print(f"evm-logical-digest: could not mark the progress of run {flow_run_id} cancelled: {exc}")
    return changed


def _cancelled_update(kind: str | None, key: str | None, description: str | None, data: Any) -> ArtifactUpdate | None:
    description = description or ""
    if kind == "progress" and not description.startswith(ENDED):
        title = description.split("·", 1)[-1].split(":", 1)[0].strip()  # what the scan was, not where it was
        return ArtifactUpdate(description=f"**{Phase.CANCELLED.value}** · {title}: the flow run was cancelled")
    if kind != "table" or not (key or "").startswith(BUCKETS_KEY.format(node="")):
        return None
    rows = json.loads(data) if isinstance(data, str) else data
    if not (isinstance(rows, list) and rows and isinstance(rows[0], dict) and "state" in rows[0]):
        return None  # the final table: the run got that far
    for row in rows:
        if row["state"] not in (Phase.DONE.value, Phase.FAILED.value):
            row["state"], row["time left"] = Phase.CANCELLED.value, ""
    return ArtifactUpdate(data=_table_json(rows))
