"""Segment boundaries and the sink layout: snapshot heights, object keys, which boundary to seal next.

Every object key we write is built here and nowhere else:

    [<node>/]endpoint-digest-<height>-<normalization>.json.gz       a verdict record (+ .seal.json)
    [<node>/]endpoint-divergence-<height>-<normalization>.ndjson.gz  the keys behind a mismatch
    [<node>/]node-digest-<height>-<endpoint>.json.gz                 a single-endpoint node's digest (+ .seal.json)
    fleet-digest-<height>.json.gz                                    the fleet verdict at a height
    fleet-digest-<height>.incomplete-<UTC time>.json.gz              an incomplete fleet attempt (evidence)
    [<node>/]claims/claim-<height>.json                              a run's claim on a height (transient)

A named node's objects live under `<node>/`, so nodes sharing a sink never collide; an unnamed single
node keeps the seed's flat layout, which stays readable. `<endpoint>` is composite, flatkv,
memiavl-semantic or memiavl-translator (the endpoint name with `/` as `-`): composite, flatkv and memiavl
nodes (evmdigest.kinds) seal node digests; pair nodes seal endpoint records.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from evmdigest.emit.keys import CLAIMS_DIR
from evmdigest.models import ENDPOINTS, Normalization

SNAPSHOT_DIR = re.compile(r"^snapshot-(\d{20})$")
RECORD_KEY_PREFIX = "endpoint-digest-"
DIVERGENCE_KEY_PREFIX = "endpoint-divergence-"
FLEET_KEY_PREFIX = "fleet-digest-"
NODE_DIGEST_KEY_PREFIX = "node-digest-"
NODE_DIVERGENCE_KEY_PREFIX = "node-divergence-"
_NORMS = "|".join(re.escape(n.value) for n in Normalization)
RECORD_KEY = re.compile(rf"^{re.escape(RECORD_KEY_PREFIX)}(\d+)-({_NORMS})\.json\.gz$")
DIVERGENCE_KEY = re.compile(rf"^{re.escape(DIVERGENCE_KEY_PREFIX)}(\d+)-({_NORMS})\.ndjson\.gz$")
_SLUGS = "|".join(re.escape(e.replace("/", "-")) for e in ENDPOINTS)
NODE_DIGEST_KEY = re.compile(rf"^{re.escape(NODE_DIGEST_KEY_PREFIX)}(\d+)-({_SLUGS})\.json\.gz$")
FLEET_KEY = re.compile(rf"^{re.escape(FLEET_KEY_PREFIX)}(\d+)\.json\.gz$")
# A node label is a path segment of the layout: DNS-hostname-like, so it is safe in keys, URLs and logs.
NODE_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")


@dataclass(frozen=True)
class RecordKey:
    """Where a verdict record sits in the layout: its node (None in the flat layout), height, normalization."""

    node: str | None
    height: int
    normalization: Normalization


@dataclass(frozen=True)
class NodeDigestKey:
    """Where a node digest record sits: its node (None in the flat layout), height and endpoint."""

    node: str | None
    height: int
    endpoint: str


def snapshot_dir_name(height: int) -> str:
    return f"snapshot-{height:020d}"


def snapshot_heights(memiavl_dir: Path) -> list[int]:
    """Heights of the `snapshot-<20 digits>` directories under a memIAVL root, ascending."""
    if not memiavl_dir.is_dir():
        raise FileNotFoundError(f"memiavl_dir: {memiavl_dir} is not a directory; point it at the memiavl root")
    heights = []
    for entry in memiavl_dir.iterdir():
        match = SNAPSHOT_DIR.match(entry.name)
        if match and entry.is_dir() and int(match.group(1)) > 0:
            heights.append(int(match.group(1)))
    return sorted(heights)


def node_prefix(node: str | None) -> str:
    """`<node>/` for a named node, "" for the flat layout. Refuses a label that is not one safe path segment."""
    if node is None:
        return ""
    if not NODE_LABEL.match(node):
        raise ValueError(f"node: {node!r} is not a valid node label (letters, digits, '.', '_', '-'; <= 63 chars)")
    return f"{node}/"


def record_key(height: int, normalization: Normalization, node: str | None = None) -> str:
    return f"{node_prefix(node)}{RECORD_KEY_PREFIX}{height}-{normalization.value}.json.gz"


def record_prefix(node: str | None = None, height: int | None = None) -> str:
    """The key prefix of a node's records (of one height when given), for listing that node's layout only."""
    return f"{node_prefix(node)}{RECORD_KEY_PREFIX}" + ("" if height is None else f"{height}-")


def node_digest_key(height: int, endpoint: str, node: str | None = None) -> str:
    if endpoint not in ENDPOINTS:
        raise ValueError(f"endpoint: {endpoint!r} is not one of {', '.join(ENDPOINTS)}")
    return f"{node_prefix(node)}{NODE_DIGEST_KEY_PREFIX}{height}-{endpoint.replace('/', '-')}.json.gz"


def node_digest_prefix(node: str | None = None, height: int | None = None) -> str:
    """The key prefix of a node's node digests (of one height when given)."""
    return f"{node_prefix(node)}{NODE_DIGEST_KEY_PREFIX}" + ("" if height is None else f"{height}-")


def claim_key(height: int, node: str | None = None) -> str:
    return f"{node_prefix(node)}{CLAIMS_DIR}/claim-{height}.json"


def divergence_key(height: int, normalization: Normalization, node: str | None = None) -> str:
    return f"{node_prefix(node)}{DIVERGENCE_KEY_PREFIX}{height}-{normalization.value}.ndjson.gz"


def node_divergence_key(height: int, other: str, node: str) -> str:
    """Where the keys diverging between `node` and `other` at `height` go: in `node`'s directory."""
    return f"{node_prefix(node)}{NODE_DIVERGENCE_KEY_PREFIX}{height}-vs-{other}.ndjson.gz"


def divergence_key_for(record: str) -> str:
    """The divergence report beside the record at key `record` (same node directory, height, normalization)."""
    parsed = parse_record_key(record)
    if parsed is None:
        raise ValueError(f"record key {record!r} is not an endpoint-digest record key")
    return divergence_key(parsed.height, parsed.normalization, parsed.node)


def fleet_key(height: int) -> str:
    return f"{FLEET_KEY_PREFIX}{height}.json.gz"


def fleet_incomplete_key(height: int, at: datetime) -> str:
    """An incomplete fleet verdict is evidence of one attempt, never the height's write-once verdict:
    sealing it at `fleet_key` would forbid the complete verdict a later run can reach."""
    return f"{FLEET_KEY_PREFIX}{height}.incomplete-{at.astimezone(UTC):%Y%m%dT%H%M%S%fZ}.json.gz"


def parse_record_key(key: str) -> RecordKey | None:
    """The record a key names, in either layout (`endpoint-digest-…` or `<node>/endpoint-digest-…`), else None."""
    head, _, name = key.rpartition("/")
    match = RECORD_KEY.match(name)
    if match is None or (head and not NODE_LABEL.match(head)):
        return None
    return RecordKey(head or None, int(match.group(1)), Normalization(match.group(2)))


def parse_node_digest_key(key: str) -> NodeDigestKey | None:
    """The node digest a key names, in either layout, else None."""
    head, _, name = key.rpartition("/")
    match = NODE_DIGEST_KEY.match(name)
    if match is None or (head and not NODE_LABEL.match(head)):
        return None
    endpoint = next(e for e in ENDPOINTS if e.replace("/", "-") == match.group(2))
    return NodeDigestKey(head or None, int(match.group(1)), endpoint)


def sealed_endpoints(keys: Iterable[str], node: str | None = None) -> set[tuple[int, str]]:
    """(height, endpoint) of the node digests of `node` (None: the flat layout) among `keys`."""
    found = set()
    for key in keys:
        parsed = parse_node_digest_key(key)
        if parsed is not None and parsed.node == node:
            found.add((parsed.height, parsed.endpoint))
    return found


def parse_fleet_key(key: str) -> int | None:
    """The height of a fleet verdict key, else None."""
    match = FLEET_KEY.match(key)
    return int(match.group(1)) if match else None


def sealed_pairs(keys: Iterable[str], node: str | None = None) -> set[tuple[int, Normalization]]:
    """(height, normalization) of the records of `node` (None: the flat layout) among `keys`."""
    pairs = set()
    for key in keys:
        parsed = parse_record_key(key)
        if parsed is not None and parsed.node == node:
            pairs.add((parsed.height, parsed.normalization))
    return pairs


_Part = TypeVar("_Part")


def newest_unsealed(heights: Sequence[int], sealed: set[tuple[int, _Part]], parts: Sequence[_Part]) -> int | None:
    """The newest snapshot height missing a record for any requested part (normalization or endpoint), or None."""
    for height in sorted(heights, reverse=True):
        if any((height, part) not in sealed for part in parts):
            return height
    return None
