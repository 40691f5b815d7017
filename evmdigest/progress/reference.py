"""Expected rows for a scan: the bucket counts of the newest sealed record of this node.

State grows slowly between segments, so the previous boundary's counts are a good estimate. A record
holds both sides' logical counts per bucket: FlatKV's for a flatkv (or composite) scan, memIAVL's for a
memIAVL scan under the same normalization (another normalization's when that one was never sealed).
Records are found through the sink layout (segments.py) in both layouts: `<node>/…` and the flat one,
where only records naming this node (or no node) count. Reading is best effort: a record that cannot
be read or parsed is skipped and noted; the scan then shows phases only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from evmdigest.emit.errors import SinkError
from evmdigest.emit.sink import Sink
from evmdigest.models import Backend
from evmdigest.progress.lines import Reference, bucket_counts
from evmdigest.segments import RECORD_KEY_PREFIX, RecordKey, node_prefix, parse_record_key
from evmdigest.verdict.records import EndpointDigestRecord

MAX_READS = 6  # records read at most per run start (each is one GET on S3)


@dataclass
class References:
    by_label: dict[str, Reference] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # records that could not be used, for the log


def _candidates(sink: Sink, node: str | None, height: int | None) -> list[tuple[RecordKey, str]]:
    prefixes = [RECORD_KEY_PREFIX]
    if node is not None:
        with contextlib.suppress(ValueError):  # not a layout label: only the flat layout can hold its records
            prefixes.insert(0, node_prefix(node) + RECORD_KEY_PREFIX)
    found = []
    for prefix in prefixes:
        for key in sink.list_keys(prefix=prefix):
            parsed = parse_record_key(key)
            if parsed is not None and parsed.node in (None, node) and (height is None or parsed.height <= height):
                found.append((parsed, key))
    # newest first; at one height the node's own directory before the flat layout
    return sorted(found, key=lambda item: (-item[0].height, item[0].node is None))


def _counts_for(label: str, record: EndpointDigestRecord, *, any_normalization: bool) -> dict[str, int] | None:
    if label in (Backend.FLATKV.value, Backend.COMPOSITE.value):
        return bucket_counts({name: verdict.flatkv_count for name, verdict in record.per_bucket.items()})
    if label.startswith(f"{Backend.MEMIAVL.value}/") and (
        any_normalization or label == f"{Backend.MEMIAVL.value}/{record.normalization.value}"
    ):
        return bucket_counts({name: verdict.memiavl_count for name, verdict in record.per_bucket.items()})
    return None


def sealed_references(
    sink: Sink, node: str | None, labels: Sequence[str], *, height: int | None = None, max_reads: int = MAX_READS
) -> References:
    """References for scan `labels` (DigestRequest.label) from records at or below `height`."""
    result = References()
    read: list[EndpointDigestRecord] = []
    try:
        candidates = _candidates(sink, node, height)
    except SinkError as exc:
        result.notes.append(f"sealed records could not be listed ({str(exc).splitlines()[0]})")
        return result
    for parsed, key in candidates:
        if len(result.by_label) == len(labels) or len(read) >= max_reads:
            break
        try:
            record = EndpointDigestRecord.model_validate(sink.read_json(key))
        except (SinkError, ValidationError) as exc:
            result.notes.append(f"{key}: not usable as a progress reference ({str(exc).splitlines()[0]})")
            continue
        if parsed.node is None and record.node not in (None, node):
            continue  # the flat layout of a shared sink: another node's record
        read.append(record)
        for label in labels:
            counts = None if label in result.by_label else _counts_for(label, record, any_normalization=False)
            if counts:
                result.by_label[label] = Reference(counts, f"sealed record at height {record.height}", record.height)
    for label in labels:  # a normalization never sealed: another one's memIAVL counts, newest first
        for record in read:
            counts = None if label in result.by_label else _counts_for(label, record, any_normalization=True)
            if counts:
                result.by_label[label] = Reference(counts, f"sealed record at height {record.height}", record.height)
    return result
