"""Segment boundaries: memIAVL snapshot heights, record keys, and which boundary to seal next.

The record key layout lives here only: `endpoint-digest-<height>-<normalization>.json.gz`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from evmdigest.models import Normalization

SNAPSHOT_DIR = re.compile(r"^snapshot-(\d{20})$")
RECORD_KEY_PREFIX = "endpoint-digest-"
RECORD_KEY = re.compile(
    rf"^{re.escape(RECORD_KEY_PREFIX)}(\d+)-({'|'.join(re.escape(n.value) for n in Normalization)})\.json\.gz$"
)


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


def record_key(height: int, normalization: Normalization) -> str:
    return f"{RECORD_KEY_PREFIX}{height}-{normalization.value}.json.gz"


def sealed_pairs(keys: Iterable[str]) -> set[tuple[int, Normalization]]:
    pairs = set()
    for key in keys:
        match = RECORD_KEY.match(key.rsplit("/", 1)[-1])
        if match:
            pairs.add((int(match.group(1)), Normalization(match.group(2))))
    return pairs


def newest_unsealed(
    heights: Sequence[int], sealed: set[tuple[int, Normalization]], normalizations: Sequence[Normalization]
) -> int | None:
    """The newest snapshot height missing a record for any requested normalization, or None."""
    for height in sorted(heights, reverse=True):
        if any((height, normalization) not in sealed for normalization in normalizations):
            return height
    return None
