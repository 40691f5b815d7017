"""Publish a verdict write-once: a sealed verdict is never overwritten, only confirmed or refused.

- No object at the key: emit the verdict and its seal.
- An object holds the same verdict (`verdict()`: time and provenance excluded): "already sealed"; a
  seal missing after a crash between object and seal is completed, but only if the stored bytes
  re-hash to the intent recorded before they were committed (`Sink.complete_seal`); bytes no intent
  names (a forged verdict under the same verdict) raise TamperedObject, never sealed.
- An object holds a different verdict: `VerdictFlip`, citing both; nothing is written.

The policy is generic (`publish_verdict`) over any `SealedVerdict` model: endpoint records (`publish`)
and fleet verdicts (evmdigest.fleet) share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Protocol, Self, TypeVar

from evmdigest.emit import Sink, SinkConflict, seal_key
from evmdigest.verdict.outcome import PublishedRecord
from evmdigest.verdict.records import EndpointDigestRecord


class SealedVerdict(Protocol):
    """A pydantic verdict model the write-once policy can publish."""

    def verdict(self) -> dict[str, Any]:
        """What a re-run must reproduce for the seal to stand."""

    def flip_subject(self) -> str:
        """What the verdict is about, for a flip message (e.g. "213200000 (semantic)")."""

    def flip_summary(self) -> str:
        """The verdict in one line, for a flip message."""

    def model_dump(self, *, mode: str) -> dict[str, Any]: ...

    @classmethod
    def model_validate(cls, obj: Any) -> Self: ...


V = TypeVar("V", bound=SealedVerdict)


@dataclass(frozen=True)
class Published(Generic[V]):
    """Where a verdict is sealed; `verdict` is the sealed one (the earlier run's when already sealed)."""

    verdict: V
    uri: str
    uncompressed_sha256: str
    seal_uri: str | None
    already_sealed: bool = False
    seal_completed: bool = False


class VerdictFlip(Exception):
    """A verdict already sealed at this key says otherwise: never overwritten."""


def publish(sink: Sink, key: str, record: EndpointDigestRecord) -> PublishedRecord:
    """Emit `record` at `key`, or confirm the identical verdict already there; raise VerdictFlip otherwise."""
    done = publish_verdict(sink, key, record)
    return PublishedRecord(
        record=done.verdict,
        uri=done.uri,
        uncompressed_sha256=done.uncompressed_sha256,
        seal_uri=done.seal_uri,
        already_sealed=done.already_sealed,
        seal_completed=done.seal_completed,
    )


def publish_verdict(sink: Sink, key: str, verdict: V) -> Published[V]:
    """Emit `verdict` at `key`, or confirm the identical verdict already there; raise VerdictFlip otherwise."""
    try:
        result = sink.emit_json(key, verdict.model_dump(mode="json"))
    except SinkConflict as conflict:
        return _already_sealed(sink, key, verdict, conflict)
    return Published(verdict, result.uri, result.uncompressed_sha256, result.seal_uri)


def _already_sealed(sink: Sink, key: str, record: V, conflict: SinkConflict) -> Published[V]:
    existing = type(record).model_validate(sink.read_json(key))
    uri = sink.uri_for(key)
    if existing.verdict() != record.verdict():
        raise VerdictFlip(
            f"verdict flip at {record.flip_subject()}: {uri} is sealed with {existing.flip_summary()}, "
            f"this run found {record.flip_summary()}. "
            "The sealed object is not overwritten; find out which store changed before re-sealing elsewhere."
        )
    seal = conflict.existing_seal
    completed = seal is None
    if seal is None:
        seal = sink.complete_seal(key)  # only bytes an intent names; TamperedObject otherwise
    return Published(
        existing, uri, seal.uncompressed_sha256, sink.uri_for(seal_key(key)), already_sealed=True,
        seal_completed=completed,
    )  # fmt: skip
