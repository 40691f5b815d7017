"""`evm-digest localize`: localize named buckets of a node ad hoc, without Prefect and without a verdict.

There is no verdict to start from, so each bucket's first pass is a shard pass (it also tells whether
the bucket matches at all). With `--sink` the report is sealed where a run would seal it, naming the
sealed record at the same height and normalization if there is one. `run_localize_nodes` does the same
between two nodes (`--node-a` / `--node-b`, cross.py). Exit codes: 0 no divergence,
1 divergence found (whatever the status: capped and whole-bucket included), 2 failure.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, TextIO

import pandas as pd

from evmdigest.emit import SinkError, open_sink
from evmdigest.kinds import NodeSpec
from evmdigest.localize.model import Limits, Localization, PublishedDivergence, RecordRef, Status
from evmdigest.localize.passes import Node, SeidbPasses, StoreChanged
from evmdigest.localize.report import (
    TABLE_ROWS,
    bucket_lines,
    divergence_table,
    publish_divergence,
    publish_lines,
    short,
)
from evmdigest.localize.run import localize, unknown
from evmdigest.params import SEIDB_ENV
from evmdigest.request import LocalizeRequest, NodesLocalizeRequest, RequestError
from evmdigest.segments import divergence_key, node_divergence_key, record_key
from evmdigest.seidb.errors import SeidbError, SeidbFailed
from evmdigest.seidb.runner import SeidbRunner

if TYPE_CHECKING:
    from evmdigest.localize.cross import NodeLocalization

EXIT_NO_DIVERGENCE, EXIT_DIVERGENCE, EXIT_FAILURE = 0, 1, 2
DEFAULT_TIMEOUT_S = 3600.0


def diverged(localization: Localization) -> bool:
    """Any key named, or any bucket that could not be settled key by key."""
    return bool(localization.keys) or localization.status is not Status.COMPLETE


def describe_failure(exc: BaseException) -> str:
    """One line: seidb's own error for a failed pass (cobra's `Error:` line, else stdout's last), else the first
    line of the message."""
    if isinstance(exc, SeidbFailed):
        said = [line[len("Error: ") :] for line in exc.stderr_tail.splitlines() if line.startswith("Error: ")]
        said += (exc.stdout_tail.strip().splitlines() or ["(no output)"])[-1:]
        return f"seidb exited with code {exc.exit_code}: {said[0]}"
    return (str(exc).splitlines() or [type(exc).__name__])[0]


FAILURES = (RequestError, SeidbError, StoreChanged, SinkError, ValueError)
"""What a localize command reports as one line (exit 2); anything else is a bug and reaches cli.main."""


def print_failure(exc: BaseException, flags: dict[str, str] | None) -> None:
    if isinstance(exc, RequestError):
        print(f"evm-digest localize: {exc.render(flags)}", file=sys.stderr)
        return
    print(f"evm-digest localize: {describe_failure(exc)}", file=sys.stderr)
    if isinstance(exc, SeidbFailed):
        print(f"  command: {' '.join(exc.argv)}", file=sys.stderr)


def _runner(seidb_path: str | None, timeout: float | None) -> SeidbRunner:
    return SeidbRunner(seidb_path or os.environ.get(SEIDB_ENV) or "seidb", timeout=timeout or DEFAULT_TIMEOUT_S)


def _print_report(published: PublishedDivergence, out: TextIO) -> None:
    state = " (already sealed)" if published.already_sealed else ""
    if published.existing_differs:
        state = " (a DIFFERENT report is already sealed there; kept, not overwritten)"
    print(f"  report  {published.uri}{state}", file=out)
    print(f"  sha256  {published.uncompressed_sha256}  (`evm-digest verify <report>`)", file=out)


def run_localize(request: LocalizeRequest, *, flags: dict[str, str] | None = None, out: TextIO = sys.stdout) -> int:
    """Localize, print the table, seal the report if a sink is named; return the exit code."""
    try:
        request.check_stores()
        localization, published = _localize(request)
    except FAILURES as exc:
        print_failure(exc, flags)
        return EXIT_FAILURE
    print_localization(localization, published, out=out)
    return EXIT_DIVERGENCE if diverged(localization) else EXIT_NO_DIVERGENCE


def _localize(request: LocalizeRequest) -> tuple[Localization, PublishedDivergence | None]:
    runner = _runner(request.seidb_path, request.timeout)
    node = Node(
        request.flatkv_dir.expanduser().resolve(),
        request.memiavl_dir.expanduser().resolve(),
        request.height,
        request.normalization,
    )
    limits = Limits(max_keys=request.max_keys, max_passes=request.max_passes)
    # a bad sink must fail before the passes, not after them
    sink = open_sink(request.sink_url) if request.sink_url else None
    localization = localize(SeidbPasses(runner, node), unknown(request.buckets), limits=limits, node=request.node)
    if sink is None:
        return localization, None
    key = record_key(request.height, request.normalization, request.node)
    seal = sink.read_seal(key)
    record = None if seal is None else RecordRef(key=key, uncompressed_sha256=seal.uncompressed_sha256)
    divergence = divergence_key(request.height, request.normalization, request.node)
    return localization, publish_divergence(sink, divergence, localization, record)


def print_localization(
    localization: Localization, published: PublishedDivergence | None, *, out: TextIO = sys.stdout
) -> None:
    where = f" on {localization.node}" if localization.node else ""
    title = f"Diverging keys at height {localization.height} ({localization.normalization.value}){where}"
    print(f"\n{title}: {len(localization.keys)} key(s), {localization.status.value}\n", file=out)
    if localization.keys:
        print(divergence_table([localization]).to_markdown(index=False), file=out)
        print(file=out)
    for line in bucket_lines(localization):
        print(f"  {line}", file=out)
    print(f"  {localization.passes} pass(es), {localization.seidb_runs} seidb run(s)", file=out)
    if published is not None:
        _print_report(published, out)


def run_localize_nodes(
    request: NodesLocalizeRequest, *, flags: dict[str, str] | None = None, out: TextIO = sys.stdout
) -> int:
    """Localize between two nodes; exit 2 also when a bucket could not be localized (its error printed)."""
    from evmdigest.localize.cross import localize_nodes

    try:
        request.check_stores()
        runner = _runner(request.seidb_path, request.timeout)
        sink = open_sink(request.sink_url) if request.sink_url else None  # a bad sink fails before the passes
        a, b = (_resolved(spec) for spec in (request.node_a, request.node_b))
        limits = Limits(max_keys=request.max_keys, max_passes=request.max_passes)
        found = localize_nodes(
            runner, a, b, request.height, request.buckets, normalization=request.normalization, limits=limits
        )
        published = None
        if sink is not None:
            key = node_divergence_key(request.height, b.name, a.name)
            published = publish_lines(sink, key, found.lines())
    except FAILURES as exc:
        print_failure(exc, flags)
        return EXIT_FAILURE
    print_node_localization(found, published, out=out)
    for bucket in found.failed:
        print(f"evm-digest localize: {bucket.bucket} not localized: {bucket.error}", file=sys.stderr)
    if found.failed:
        return EXIT_FAILURE
    return EXIT_DIVERGENCE if found.keys or found.status is not Status.COMPLETE else EXIT_NO_DIVERGENCE


def _resolved(spec: NodeSpec) -> NodeSpec:
    dirs = {f: getattr(spec, f).expanduser().resolve() for f in ("flatkv_dir", "memiavl_dir") if getattr(spec, f)}
    return spec.model_copy(update=dirs)


def print_node_localization(
    found: NodeLocalization, published: PublishedDivergence | None, *, out: TextIO = sys.stdout
) -> None:
    a, b = found.a, found.b
    title = f"Diverging keys at height {found.height}: A = {a.name} ({a.endpoint}), B = {b.name} ({b.endpoint})"
    print(f"\n{title}: {len(found.keys)} key(s), {found.status.value}\n", file=out)
    if found.keys:
        rows = [
            {
                "bucket": k.bucket,
                "change": k.change.value,
                "kind": f"{k.kind} {k.kind_name or ''}".strip() if k.kind else "-",
                "address": k.address or "-",
                "slot": short(k.slot, 18),
                "a": short(k.a),
                "b": short(k.b),
                "account_fields": ", ".join(k.account_diff or {}) or "-",
                "key": short(k.key, 24),
            }
            for k in found.keys[:TABLE_ROWS]
        ]
        print(pd.DataFrame(rows).to_markdown(index=False), file=out)
        print(file=out)
    for bucket in found.buckets:
        text = f"{bucket.bucket}: {bucket.status.value}, {bucket.keys_found} key(s), {bucket.passes} pass(es)"
        print(f"  {text} - {bucket.note}" if bucket.note else f"  {text}", file=out)
    print(f"  {found.passes} pass(es), {found.seidb_runs} seidb run(s)", file=out)
    if published is not None:
        _print_report(published, out)
