"""Publish a verdict record write-once: a sealed record is never overwritten, only confirmed or refused.

- No object at the key: emit the record and its seal.
- An object holds the same verdict (`EndpointDigestRecord.verdict()`: time and provenance excluded):
  "already sealed"; a seal missing after a crash between object and seal is completed, but only if
  the stored bytes re-hash to the intent recorded before they were committed (`Sink.complete_seal`);
  bytes no intent names (a forged record under the same verdict) raise TamperedObject, never sealed.
- An object holds a different verdict: `VerdictFlip`, citing both; nothing is written.
"""

from __future__ import annotations

from evmdigest.emit import Sink, SinkConflict, seal_key
from evmdigest.verdict.outcome import PublishedRecord
from evmdigest.verdict.records import EndpointDigestRecord


class VerdictFlip(Exception):
    """A record already sealed for this height and normalization says otherwise: never overwritten."""


def publish(sink: Sink, key: str, record: EndpointDigestRecord) -> PublishedRecord:
    """Emit `record` at `key`, or confirm the identical verdict already there; raise VerdictFlip otherwise."""
    try:
        result = sink.emit_json(key, record.model_dump(mode="json"))
    except SinkConflict as conflict:
        return _already_sealed(sink, key, record, conflict)
    return PublishedRecord(
        record=record, uri=result.uri, key=key, uncompressed_sha256=result.uncompressed_sha256, seal_uri=result.seal_uri
    )


def _already_sealed(sink: Sink, key: str, record: EndpointDigestRecord, conflict: SinkConflict) -> PublishedRecord:
    existing = EndpointDigestRecord.model_validate(sink.read_json(key))
    uri = sink.uri_for(key)
    if existing.verdict() != record.verdict():
        raise VerdictFlip(
            f"verdict flip at {record.height} ({record.normalization.value}): {uri} is sealed with "
            f"match={existing.match} flatkv={existing.flatkv_digest} memiavl={existing.memiavl_digest}, "
            f"this run found match={record.match} flatkv={record.flatkv_digest} memiavl={record.memiavl_digest}. "
            "The sealed object is not overwritten; find out which store changed before re-sealing elsewhere."
        )
    seal = conflict.existing_seal
    completed = seal is None
    if seal is None:
        seal = sink.complete_seal(key)  # only bytes an intent names; TamperedObject otherwise
    return PublishedRecord(
        record=existing,
        uri=uri,
        key=key,
        uncompressed_sha256=seal.uncompressed_sha256,
        seal_uri=sink.uri_for(seal_key(key)),
        already_sealed=True,
        seal_completed=completed,
    )
