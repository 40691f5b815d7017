"""List the sealed records under a sink and read (and verify) them with bounded parallel reads.

Every record costs a few small round trips (seal, object, and on S3 a HEAD for the store checksum,
then the record itself), so the ledger is latency-bound: a thread pool of `workers` keeps that many
reads in flight on one client. Rows keep what the record says, never its bytes, so memory grows with
the number of rows only. Verification is emit's own (`verify_key`), not a second verifier.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.config import Config
from pydantic import ValidationError

from evmdigest.emit import CorruptObject, Sink, SinkError, open_sink
from evmdigest.emit.folder import FolderSink
from evmdigest.emit.verify import verify_key
from evmdigest.ledger.rows import MISPLACED, NOT_A_RECORD, Entry, MisplacedRecord, base_row, fill_endpoint, fill_fleet
from evmdigest.segments import parse_fleet_key, parse_record_key

DEFAULT_WORKERS = 16
# verify problems after which there is nothing to read: the object itself could not be fetched or gunzipped.
_UNREADABLE = frozenset({"object_unreadable", "unreachable"})


class LedgerError(Exception):
    """The sink could not be read at all (listing failed, no such folder or bucket)."""


def open_ledger_sink(
    url: str, *, endpoint_url: str | None = None, region: str | None = None, workers: int = DEFAULT_WORKERS
) -> Sink:
    """The sink at `url` (ValueError if malformed), with an S3 connection pool as large as the read pool."""
    pool = {"config": Config(max_pool_connections=max(workers, 1))}
    return open_sink(url, endpoint_url=endpoint_url, region=region, client_kwargs=pool)


def list_entries(sink: Sink) -> tuple[list[Entry], int]:
    """Every endpoint record and fleet verdict under `sink` (flat and `<node>/` layouts), sorted by key, and
    how many other objects were passed over (divergence files, claims, intents: whatever is not a record)."""
    if isinstance(sink, FolderSink) and not sink.root.is_dir():
        # An empty listing would pass for an empty, healthy ledger: a mistyped folder must not.
        raise LedgerError(f"{sink.describe()}: no such folder; point the ledger at the folder records were sealed into")
    try:
        keys = sink.list_keys()
    except SinkError as exc:
        raise LedgerError(f"cannot list {sink.describe()}: {exc}") from exc
    entries: list[Entry] = []
    for key in keys:
        record = parse_record_key(key)
        if record is not None:
            entries.append(Entry(key, "endpoint", record.height, record.node, record.normalization))
            continue
        fleet_height = parse_fleet_key(key)
        if fleet_height is not None:
            entries.append(Entry(key, "fleet", fleet_height))
    return entries, len(keys) - len(entries)


def read_entry(sink: Sink, entry: Entry, *, verify: bool = True) -> dict[str, Any]:
    """One row: the seal checked (unless `verify` is off), then the record read; problems land in the row."""
    row = base_row(entry, sink.uri_for(entry.key))
    if verify:
        outcome = verify_key(sink, entry.key)
        row["sealed"] = outcome.status == "ok"
        if outcome.problem is not None:
            row["problem"], row["detail"] = outcome.problem, outcome.detail
            if outcome.problem in _UNREADABLE:
                return row
    try:
        data = sink.read_json(entry.key)
    except SinkError as exc:
        row["problem"] = "object_unreadable" if isinstance(exc, CorruptObject) else "unreachable"
        row["detail"] = str(exc)
        return row
    try:
        (fill_endpoint if entry.kind == "endpoint" else fill_fleet)(row, entry, data)
    except MisplacedRecord as exc:
        _add_problem(row, MISPLACED, str(exc))
    except (ValidationError, ValueError) as exc:
        what = "an evm-digest endpoint record" if entry.kind == "endpoint" else "a fleet verdict"
        _add_problem(row, NOT_A_RECORD, f"not {what}: {_first_line(exc)}")
    return row


def _add_problem(row: dict[str, Any], problem: str, detail: str) -> None:
    # The seal's verdict (tampered, missing seal) stays the problem; what the content shows is added to it.
    if row["problem"] is None:
        row["problem"], row["detail"] = problem, detail
    else:
        row["detail"] = f"{row['detail']}; also {detail}"


def read_rows(
    sink: Sink, entries: Sequence[Entry], *, verify: bool = True, workers: int = DEFAULT_WORKERS
) -> list[dict[str, Any]]:
    """Rows for `entries`, in order; `workers` reads in flight (1 reads them one at a time)."""
    if workers < 1:
        raise ValueError(f"workers: {workers} must be at least 1")
    if workers == 1:
        return [read_entry(sink, entry, verify=verify) for entry in entries]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ledger") as pool:
        return list(pool.map(lambda entry: read_entry(sink, entry, verify=verify), entries))


def _first_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc']) or 'record'}: {first['msg']} ({exc.error_count()} error(s))"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
