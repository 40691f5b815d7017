"""Node kinds: which store dirs a node has and which seidb scans read its logical EVM state.

- `pair`: FlatKV + memIAVL each hold the whole state; the gate compares them (one record per normalization).
- `composite`: in the middle of its migration, the state is split between the stores; one composite scan
  reads it as a whole. Sealed as a node digest (no second store to compare with on the node itself).
- `memiavl`: unmigrated, memIAVL only; a node digest per normalization.
- `flatkv`: fully migrated, FlatKV only; one node digest.
Single-endpoint kinds are proved right by comparison with other nodes (the fleet), not on their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from evmdigest.models import Backend, NodeKind, Normalization, OpenMode, endpoint_name
from evmdigest.seidb.argv import DigestRequest

KIND_DIRS: dict[NodeKind, tuple[str, ...]] = {
    NodeKind.PAIR: ("flatkv_dir", "memiavl_dir"),
    NodeKind.COMPOSITE: ("flatkv_dir", "memiavl_dir"),
    NodeKind.MEMIAVL: ("memiavl_dir",),
    NodeKind.FLATKV: ("flatkv_dir",),
}
"""The store dirs (RunRequest fields) a node of each kind has; it has no others."""

KIND_HELP = (
    "pair: FlatKV and memIAVL each hold the whole EVM state (compared with each other); "
    "composite: mid-migration, the state split between them (read as one); "
    "memiavl: unmigrated, memIAVL only; flatkv: fully migrated, FlatKV only"
)


def kind_endpoints(kind: NodeKind, normalizations: Sequence[Normalization]) -> list[str]:
    """The logical digests a node of `kind` reports, in display order."""
    if kind is NodeKind.COMPOSITE:
        return [endpoint_name(Backend.COMPOSITE)]
    memiavl = [endpoint_name(Backend.MEMIAVL, n) for n in normalizations]
    if kind is NodeKind.MEMIAVL:
        return memiavl
    flatkv = [endpoint_name(Backend.FLATKV)]
    return flatkv if kind is NodeKind.FLATKV else [*flatkv, *memiavl]


def node_scans(
    kind: NodeKind,
    height: int,
    *,
    flatkv_dir: Path | None,
    memiavl_dir: Path | None,
    normalizations: Sequence[Normalization],
    open_mode: OpenMode = OpenMode.SNAPSHOT,
) -> list[DigestRequest]:
    """The digest scans that read a node of `kind` at `height`, one per endpoint (kind_endpoints order)."""
    dirs = {"flatkv_dir": flatkv_dir, "memiavl_dir": memiavl_dir}
    missing = [field for field in KIND_DIRS[kind] if dirs[field] is None]
    if missing:
        raise ValueError(f"{missing[0]}: a {kind.value} node needs it")
    if kind is NodeKind.COMPOSITE:
        assert flatkv_dir is not None and memiavl_dir is not None
        return [DigestRequest.composite(flatkv_dir, memiavl_dir, height, open_mode)]
    scans = []
    if kind in (NodeKind.PAIR, NodeKind.FLATKV):
        assert flatkv_dir is not None
        scans.append(DigestRequest(Backend.FLATKV, flatkv_dir, height))
    if kind in (NodeKind.PAIR, NodeKind.MEMIAVL):
        assert memiavl_dir is not None
        scans += [DigestRequest(Backend.MEMIAVL, memiavl_dir, height, n, open_mode) for n in normalizations]
    return scans


class NodeSpec(BaseModel):
    """One node as the command line names it: `NAME=KIND:DIRS` (`NAME=FLATKV_DIR,MEMIAVL_DIR` is a pair)."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: NodeKind
    flatkv_dir: Path | None = None
    memiavl_dir: Path | None = None


def parse_node_spec(text: str) -> NodeSpec:
    """`NAME=composite:FLATKV,MEMIAVL`, `NAME=pair:FLATKV,MEMIAVL` (or just `NAME=FLATKV,MEMIAVL`),
    `NAME=memiavl:DIR`, `NAME=flatkv:DIR`; ValueError says what is wrong and the form wanted."""
    form = "NAME=KIND:DIRS (composite:FLATKV,MEMIAVL, pair:FLATKV,MEMIAVL, memiavl:DIR or flatkv:DIR)"
    name, eq, rest = text.partition("=")
    if not eq or not name or not rest:
        raise ValueError(f"{text!r} is not {form}")
    head, colon, tail = rest.partition(":")
    kind = NodeKind.PAIR
    if colon and head in {k.value for k in NodeKind}:
        kind, rest = NodeKind(head), tail
    dirs = rest.split(",")
    wanted = KIND_DIRS[kind]
    if len(dirs) != len(wanted) or not all(dirs):
        raise ValueError(f"{text!r}: a {kind.value} node takes {len(wanted)} dir(s): {form}")
    return NodeSpec(name=name, kind=kind, **{field: Path(d) for field, d in zip(wanted, dirs, strict=True)})
