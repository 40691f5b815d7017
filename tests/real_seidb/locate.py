"""Where the real seidb and its fixture nodes are: one answer for the test lane and bench/real_seidb.py.

Each function returns the thing, or a string saying exactly why it is not there.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "scripts" / "build-seidb"
BINARY_ENV = "EVMDIGEST_REAL_SEIDB"
NOT_BUILT = (
    "scripts/build-seidb exits 3 (BLOCKED upstream) while the Go module proxy refuses "
    "github.com/sei-protocol/sei-chain (403 'This module version is not available'; issue 5); "
    "build it with scripts/build-seidb or set EVMDIGEST_REAL_SEIDB to a real seidb"
)


class ConfiguredBinaryMissing(Exception):
    """EVMDIGEST_REAL_SEIDB (or --seidb) names something that is not an executable: a user error."""


@dataclass(frozen=True)
class RealNode:
    name: str
    root: Path
    flatkv_dir: Path
    memiavl_dir: Path
    height: int


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def locate_binary(explicit: str | None = None) -> Path | str:
    configured = explicit or os.environ.get(BINARY_ENV)
    if configured:
        if not _executable(Path(configured)):
            raise ConfiguredBinaryMissing(f"seidb {configured!r} is not an executable file")
        return Path(configured)
    try:
        done = subprocess.run(
            ["bash", str(BUILD_SCRIPT), "--print-path"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot ask scripts/build-seidb --print-path where the binary lives: {exc}"
    if done.returncode != 0 or not done.stdout.strip():
        return f"scripts/build-seidb --print-path failed ({done.returncode}): {done.stderr.strip()}"
    path = Path(done.stdout.strip())
    if not _executable(path):
        shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
        return f"real seidb binary not built: {shown} does not exist. {NOT_BUILT}"
    return path


def read_node(node: Path) -> RealNode | str:
    """A fixture node (flatkv/, memiavl/, height.txt; layout in tests/real_seidb/conftest.py)."""
    missing = [part for part in ("flatkv", "memiavl") if not (node / part).is_dir()]
    missing += [] if (node / "height.txt").is_file() else ["height.txt"]
    if missing:
        return f"{node.name}/ lacks {', '.join(missing)}"
    raw = (node / "height.txt").read_text().strip()
    if not raw.isdigit() or int(raw) < 1:
        return f"{node.name}/height.txt holds {raw!r}, not a height >= 1"
    return RealNode(node.name, node, node / "flatkv", node / "memiavl", int(raw))
