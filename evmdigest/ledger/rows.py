"""One ledger row per sealed object: what an endpoint record or a fleet verdict says, plus its seal's state.

Endpoint records are read with their own model (`EndpointDigestRecord`). Fleet verdicts are read
loosely from the dict (`read_fleet`): the fleet package owns that model; the ledger needs only the
height, the nodes, `agree`, `complete` and `odd_nodes`, and tolerates fields it does not know.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from evmdigest.models import Normalization
from evmdigest.verdict.records import EndpointDigestRecord

Kind = Literal["endpoint", "fleet"]
# The table's columns, in order. `node` is the layout's `<node>/` directory; a flat-layout record
# shows the node label it carries (seed records always have one). `sealed`: None when not verified.
COLUMNS: tuple[str, ...] = (
    "kind",
    "height",
    "node",
    "normalization",
    "match",
    "mismatched_buckets",
    "flatkv_digest",
    "memiavl_digest",
    "sealed",
    "problem",
    "detail",
    "uri",
    "generated_at",
    "layout",
    "agree",
    "complete",
    "odd_nodes",
)
# Ledger problems beyond verify's (seal_unreadable, object_unreadable, tampered, missing_seal, unreachable).
NOT_A_RECORD = "not_a_record"
MISPLACED = "misplaced"


@dataclass(frozen=True)
class Entry:
    """A listed object the ledger reads: where the layout puts it and what it should hold."""

    key: str
    kind: Kind
    height: int
    node: str | None = None
    normalization: Normalization | None = None


@dataclass(frozen=True)
class FleetSummary:
    height: int
    nodes: tuple[str, ...]
    agree: bool | None
    complete: bool | None
    odd_nodes: tuple[str, ...]
    generated_at: str | None


def base_row(entry: Entry, uri: str) -> dict[str, Any]:
    """The row as far as the key alone tells: used as is when the object cannot be read."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(
        kind=entry.kind,
        height=entry.height,
        node=entry.node,
        normalization=entry.normalization.value if entry.normalization else None,
        uri=uri,
        layout=None if entry.kind == "fleet" else ("node" if entry.node else "flat"),
    )
    return row


def fill_endpoint(row: dict[str, Any], entry: Entry, data: Any) -> None:
    """Fill `row` from an endpoint record; ValueError (pydantic's included) if it is not one, or misplaced."""
    record = EndpointDigestRecord.model_validate(data)
    if (record.height, record.normalization) != (entry.height, entry.normalization):
        raise MisplacedRecord(
            f"the record says height {record.height} {record.normalization.value} but its key names "
            f"{entry.height} {entry.normalization.value if entry.normalization else '?'}"
        )
    row.update(
        node=entry.node or record.node,
        match=record.match,
        mismatched_buckets=list(record.mismatched_buckets),
        flatkv_digest=record.flatkv_digest,
        memiavl_digest=record.memiavl_digest,
        generated_at=record.generated_at.isoformat(),
    )


def fill_fleet(row: dict[str, Any], entry: Entry, data: Any) -> None:
    fleet = read_fleet(data)
    if fleet.height != entry.height:
        raise MisplacedRecord(f"the fleet verdict says height {fleet.height} but its key names {entry.height}")
    row.update(
        match=fleet.agree,
        agree=fleet.agree,
        complete=fleet.complete,
        odd_nodes=list(fleet.odd_nodes),
        generated_at=fleet.generated_at,
    )


class MisplacedRecord(ValueError):
    """A readable record whose height/normalization differ from what its key names (copied or renamed)."""


def read_fleet(data: Any) -> FleetSummary:
    """The fields the ledger needs from a fleet verdict dict. Unknown fields are ignored; `nodes` may be a
    mapping node -> entry or a list of entries naming their `node` (or `name`)."""
    if not isinstance(data, Mapping):
        raise ValueError(f"a fleet verdict is a JSON object, not {type(data).__name__}")
    height = data.get("height")
    if not isinstance(height, int) or isinstance(height, bool) or height < 1:
        raise ValueError(f"a fleet verdict needs an integer height >= 1, got {height!r}")
    nodes = data.get("nodes") or data.get("per_node") or {}
    if isinstance(nodes, Mapping):
        names = [str(name) for name in nodes]
    elif isinstance(nodes, list):
        names = [str(e.get("node") or e.get("name")) for e in nodes if isinstance(e, Mapping)]
    else:
        raise ValueError(f"a fleet verdict's nodes are a mapping or a list, not {type(nodes).__name__}")
    odd = data.get("odd_nodes") or []
    return FleetSummary(
        height=height,
        nodes=tuple(names),
        agree=_flag(data.get("agree")),
        complete=_flag(data.get("complete")),
        odd_nodes=tuple(str(n) for n in odd) if isinstance(odd, list) else (),
        generated_at=str(data["generated_at"]) if data.get("generated_at") is not None else None,
    )


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None
