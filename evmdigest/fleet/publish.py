"""Seal a fleet verdict through the one write-once policy (verdict.publish): a complete verdict at
`fleet-digest-<H>.json.gz` (a re-run with the same verdict is "already sealed", a different one a
VerdictFlip); an incomplete one at its own attempt key, so it never blocks the complete verdict."""

from __future__ import annotations

from pydantic import BaseModel

from evmdigest.emit import Sink
from evmdigest.fleet.verdict import FleetVerdict
from evmdigest.segments import fleet_incomplete_key, fleet_key
from evmdigest.verdict.publish import Published, publish_verdict


def fleet_verdict_key(verdict: FleetVerdict) -> str:
    if verdict.complete:
        return fleet_key(verdict.height)
    return fleet_incomplete_key(verdict.height, verdict.generated_at)


def publish_fleet(sink: Sink, verdict: FleetVerdict) -> Published[FleetVerdict]:
    return publish_verdict(sink, fleet_verdict_key(verdict), verdict)


class FleetOutcome(BaseModel):
    """What a fleet run produced: the sealed verdict and where it is (the flow's result data)."""

    verdict: FleetVerdict
    uri: str
    uncompressed_sha256: str
    seal_uri: str | None = None
    already_sealed: bool = False

    @classmethod
    def of(cls, published: Published[FleetVerdict]) -> FleetOutcome:
        return cls(
            verdict=published.verdict, uri=published.uri, uncompressed_sha256=published.uncompressed_sha256,
            seal_uri=published.seal_uri, already_sealed=published.already_sealed,
        )  # fmt: skip
