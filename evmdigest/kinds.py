"""Node kinds: which store dirs a node has and which seidb scans read its logical EVM state.

- `pair`: FlatKV + memIAVL each hold the whole state; the gate compares them (one record per normalization).
- `composite`: in the middle of its migration, the state is split between the stores; one composite scan
  reads it as a whole. Sealed as a node digest (no second store to compare with on the node itself).
- `memiavl`: unmigrated, memIAVL only; a node digest per normalization.
- `flatkv`: fully migrated, FlatKV only; one node digest.
Single-endpoint kinds are proved right by comparison with other nodes (the fleet), not on their own.
"""

from __future__ import annotations

import re
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


# The command-line form of each kind; `NAME=FLATKV_DIR,MEMIAVL_DIR` (no kind) is a pair.
NODE_SPECS = {
    NodeKind.PAIR: "NAME=FLATKV_DIR,MEMIAVL_DIR",
    NodeKind.COMPOSITE: "NAME=composite:FLATKV_DIR,MEMIAVL_DIR",
    NodeKind.MEMIAVL: "NAME=memiavl:MEMIAVL_DIR",
    NodeKind.FLATKV: "NAME=flatkv:FLATKV_DIR",
}
# `composite:...`: a word and a colon; a store dir never starts with that (absolute, ~ or ./ paths).
_KIND_PREFIX = re.compile(r"^([A-Za-z]+):(.*)$", re.DOTALL)


def parse_node_spec(text: str, *, suffix: str = "") -> NodeSpec:
    """`NAME=[KIND:]DIRS` (NODE_SPECS) -> NodeSpec: the one grammar of a node on the command line (localize,
    fleet). ValueError names what is wrong and the form wanted; `suffix` is what the caller allows after it."""
    name, sep, rest = text.partition("=")
    kind, prefixed = NodeKind.PAIR, _KIND_PREFIX.match(rest)
    if prefixed:
        if prefixed[1] not in {k.value for k in NodeKind}:
            kinds = ", ".join(k.value for k in NodeKind)
            raise ValueError(f"{text!r}: {prefixed[1]!r} is no node kind; use {kinds}")
        kind, rest = NodeKind(prefixed[1]), prefixed[2]
    fields = KIND_DIRS[kind]
    dirs = rest.split(",", 1) if len(fields) == 2 else [rest]
    if not (sep and name and len(dirs) == len(fields) and all(dirs)) or (len(fields) == 1 and "," in rest):
        others = [NODE_SPECS[k] for k in NodeKind if k is not kind]
        other = "" if prefixed else f" (other kinds: {', '.join(others[:3])})"
        raise ValueError(f"{text!r}: write {NODE_SPECS[kind]}{suffix}{other}")
    return NodeSpec(name=name, kind=kind, **{field: Path(d) for field, d in zip(fields, dirs, strict=True)})
