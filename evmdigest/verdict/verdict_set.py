"""One verdict set per (node, height): the records already at a height must agree with this run's reports.

Before a run publishes any normalization (holding the height's claim, verdict/claim.py) it reads every
record of its node at that height, in its own layout only, and
- checks each one's integrity: its seal, or (seal missing after a crash) a recorded intent, must
  vouch for the stored bytes; otherwise TamperedObject;
- compares it with this run's reports: the FlatKV final digest and version whatever the
  normalization, and for the same normalization the memIAVL final digest and version.
Any disagreement raises VerdictSetConflict naming both sides, before anything is written, so a
height never holds a semantic record from one store state beside a translator record from another.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from evmdigest.emit import Sink, TamperedObject
from evmdigest.models import DigestReport, Normalization
from evmdigest.segments import parse_record_key, record_prefix
from evmdigest.verdict.records import EndpointDigestRecord


@dataclass(frozen=True)
class SealedRecord:
    """A record already at the height, with the integrity it was read with."""

    key: str
    uri: str
    record: EndpointDigestRecord
    sealed: bool  # False: the seal is missing (a crash) and the object's intent vouches for it


class VerdictSetConflict(Exception):
    """A record already at this (node, height) disagrees with this run's reports; nothing was published."""

    exit_code = 2
    hint = (
        "the node's stores changed since that record was sealed (or another store was scanned under this node "
        "label); sealed records are never overwritten: find out which store changed before sealing elsewhere"
    )

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(f"{what}. Hint: {self.hint}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.what,))  # flow failures are pickled across processes


def sealed_records(sink: Sink, height: int, node: str | None = None) -> list[SealedRecord]:
    """Every record of `node` (None: the flat layout) at `height`, integrity-checked (TamperedObject if not ours)."""
    found = []
    for key in sink.list_keys(prefix=record_prefix(node, height)):
        parsed = parse_record_key(key)
        if parsed is None or parsed.node != node or parsed.height != height:
            continue
        where = sink.where(sink.full_key(key))
        digest = sink.digest_object(key)
        seal = sink.read_seal(key)
        if seal is None:
            sink.require_intent(key, digest)
        elif (seal.uncompressed_sha256, seal.compressed_sha256) != (
            digest.uncompressed_sha256,
            digest.compressed_sha256,
        ):
            raise TamperedObject(
                f"the stored record holds payload sha256 {digest.uncompressed_sha256}, its seal says "
                f"{seal.uncompressed_sha256}; nothing was published",
                **where,
            )
        try:
            record = EndpointDigestRecord.model_validate(sink.read_json(key))
        except ValidationError as exc:
            raise TamperedObject(f"the stored object is not a verdict record ({exc.errors()[:1]})", **where) from exc
        found.append(SealedRecord(key, sink.uri_for(key), record, sealed=seal is not None))
    return found


def _disagreements(
    record: EndpointDigestRecord, flatkv: DigestReport, memiavl: Mapping[Normalization, DigestReport]
) -> list[str]:
    problems = []
    if record.flatkv_digest != flatkv.final.digest:
        problems.append(f"flatkv {record.flatkv_digest}, this run's flatkv {flatkv.final.digest}")
    if record.flatkv_version is not None and record.flatkv_version != flatkv.version:
        problems.append(f"flatkv version {record.flatkv_version}, this run's {flatkv.version}")
    mine = memiavl.get(record.normalization)
    if mine is not None:
        if record.memiavl_digest != mine.final.digest:
            problems.append(f"memiavl {record.memiavl_digest}, this run's memiavl {mine.final.digest}")
        if record.memiavl_version is not None and record.memiavl_version != mine.version:
            problems.append(f"memiavl version {record.memiavl_version}, this run's {mine.version}")
    return problems


def check_verdict_set(
    existing: list[SealedRecord],
    height: int,
    flatkv: DigestReport,
    memiavl: Mapping[Normalization, DigestReport],
    node: str | None = None,
) -> None:
    """Raise VerdictSetConflict if any record already at the height disagrees with this run's reports."""
    conflicts = []
    for item in existing:
        problems = _disagreements(item.record, flatkv, memiavl)
        if problems:
            conflicts.append(f"{item.uri} ({item.record.normalization.value}) is sealed with " + "; ".join(problems))
    if conflicts:
        on = f" on node {node}" if node else ""
        raise VerdictSetConflict(
            f"verdict set conflict at height {height}{on}: {' | '.join(conflicts)}; nothing was published"
        )


def check_height(
    sink: Sink,
    height: int,
    flatkv: DigestReport,
    memiavl: Mapping[Normalization, DigestReport],
    node: str | None = None,
) -> list[SealedRecord]:
    """Read and check the height's records against this run's reports; the records found, if they all agree."""
    existing = sealed_records(sink, height, node)
    check_verdict_set(existing, height, flatkv, memiavl, node)
    return existing
