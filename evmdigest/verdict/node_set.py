"""One verdict set per (node, height) for single-endpoint nodes: what is sealed must agree with this run.

As verdict_set.py for pair nodes: before any node digest is published (holding the height's claim),
every object already at the node's height is read, integrity-checked, and compared with this run:
- endpoint records there: the height was sealed as a pair node; this run declares another kind;
- a node digest of another kind (a composite digest beside a flatkv one): the node changed kind;
- a node digest of an endpoint this run scanned: its FINAL digest, count, version and boundary must
  equal this run's.
Any disagreement raises VerdictSetConflict before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping

from evmdigest.emit import Sink
from evmdigest.models import NodeKind
from evmdigest.segments import record_prefix
from evmdigest.verdict.node_records import NodeDigestRecord
from evmdigest.verdict.verdict_set import VerdictSetConflict, node_digest_keys, read_checked


def _disagreements(sealed: NodeDigestRecord, mine: NodeDigestRecord) -> list[str]:
    problems = []
    if (sealed.digest, sealed.count) != (mine.digest, mine.count):
        problems.append(f"digest {sealed.digest} count {sealed.count}, this run's {mine.digest} count {mine.count}")
    if sealed.version != mine.version:
        problems.append(f"version {sealed.version}, this run's {mine.version}")
    if sealed.verdict().get("boundary") != mine.verdict().get("boundary"):
        was = sealed.boundary.boundary_text() if sealed.boundary else "none"
        now = mine.boundary.boundary_text() if mine.boundary else "none"
        problems.append(f"boundary {was}, this run's {now}")
    return problems


def check_node_height(
    sink: Sink, height: int, kind: NodeKind, records: Mapping[str, NodeDigestRecord], node: str | None = None
) -> int:
    """Raise VerdictSetConflict unless everything sealed at the node's height agrees with `records`
    (endpoint -> this run's record); how many node digests are already there."""
    on = f" on node {node}" if node else ""
    pair = sink.list_keys(prefix=record_prefix(node, height))
    if pair:
        raise VerdictSetConflict(
            f"verdict set conflict at height {height}{on}: {sink.uri_for(pair[0])} seals it as a pair node, "
            f"this run declares a {kind.value} node; nothing was published"
        )
    conflicts = []
    keys = node_digest_keys(sink, height, node)
    for key in keys:
        sealed, _ = read_checked(sink, key, NodeDigestRecord)
        uri = sink.uri_for(key)
        if sealed.kind is not kind:
            conflicts.append(f"{uri} seals a {sealed.kind.value} node, this run declares {kind.value}")
            continue
        mine = records.get(sealed.endpoint)
        problems = _disagreements(sealed, mine) if mine is not None else []
        if problems:
            conflicts.append(f"{uri} ({sealed.endpoint}) is sealed with " + "; ".join(problems))
    if conflicts:
        raise VerdictSetConflict(
            f"verdict set conflict at height {height}{on}: {' | '.join(conflicts)}; nothing was published"
        )
    return len(keys)
