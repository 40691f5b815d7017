"""Blocks committed after the fixture height: a store's changelog, replayed on open.

The real fixture's stores commit one more block after H, so FlatKV reaches H+1 and a memIAVL replay
above the latest version silently stops there. A store keeps its state at H (FlatKV `rows.bin`, memIAVL
snapshot `kvs`) plus `changelog/sim-blocks.bin`; opening at v merges the changes of blocks <= v into
the sorted stream. The sim keeps no history before H: heights below H open the state at H.

Record: `be64 height | op (0 put, 1 delete) | tag (FlatKV bucket, 0xff for a memIAVL leaf) |
be32 len(key) | key | be32 len(value) | value`. An empty key marks a block that changed nothing (so the
latest version is known).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

CHANGELOG_DIR = "changelog"
CHANGELOG_FILE = "sim-blocks.bin"
LEAF_TAG = 0xFF
_HEAD = struct.Struct(">QBBI")
_U32 = struct.Struct(">I")


@dataclass(frozen=True)
class Change:
    height: int
    key: bytes
    value: bytes | None  # None deletes
    tag: int = LEAF_TAG


def changelog_path(store_dir: Path) -> Path:
    return store_dir / CHANGELOG_DIR / CHANGELOG_FILE


def write_changes(store_dir: Path, changes: Iterable[Change]) -> None:
    path = changelog_path(store_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for change in changes:
            value = change.value or b""
            op = 1 if change.value is None else 0
            out.write(_HEAD.pack(change.height, op, change.tag, len(change.key)) + change.key)
            out.write(_U32.pack(len(value)) + value)


def read_changes(store_dir: Path) -> list[Change]:
    try:
        data = changelog_path(store_dir).read_bytes()
    except FileNotFoundError:
        return []
    changes, pos = [], 0
    while pos < len(data):
        height, op, tag, key_len = _HEAD.unpack_from(data, pos)
        pos += _HEAD.size
        key = data[pos : pos + key_len]
        pos += key_len
        value_len = _U32.unpack_from(data, pos)[0]
        value = data[pos + 4 : pos + 4 + value_len]
        pos += 4 + value_len
        changes.append(Change(height, key, None if op else value, tag))
    return changes


def last_height(changes: Iterable[Change], default: int) -> int:
    return max((change.height for change in changes), default=default)


def pending(changes: Iterable[Change], after: int, upto: int | None) -> dict[bytes, Change]:
    """The last change per key among blocks in (after, upto]; upto None means every block."""
    out: dict[bytes, Change] = {}
    for change in sorted(changes, key=lambda c: c.height):
        if change.key and change.height > after and (upto is None or change.height <= upto):
            out[change.key] = change
    return out


def merge(base: Iterator[tuple[bytes, bytes, int]], changes: dict[bytes, Change]) -> Iterator[tuple[bytes, bytes, int]]:
    """Apply changes to a key-sorted stream of (key, value, tag), keeping it sorted."""
    queue = sorted(changes.values(), key=lambda c: c.key)
    index = 0
    for key, value, tag in base:
        while index < len(queue) and queue[index].key < key:
            change = queue[index]
            index += 1
            if change.value is not None:
                yield change.key, change.value, change.tag
        if index < len(queue) and queue[index].key == key:
            change = queue[index]
            index += 1
            if change.value is not None:
                yield key, change.value, change.tag
            continue
        yield key, value, tag
    for change in queue[index:]:
        if change.value is not None:
            yield change.key, change.value, change.tag
