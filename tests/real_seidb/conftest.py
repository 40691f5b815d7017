"""The real_seidb lane: the real seidb (tools/seidb, built by scripts/build-seidb) on real stores.

Binary: `$EVMDIGEST_REAL_SEIDB`, else the path `scripts/build-seidb --print-path` prints
(`.cache/seidb/<pin>/bin/seidb`). When it is absent every test in the lane skips and says why; the
lanes plugin turns that skip into a failed session only when `EVMDIGEST_REQUIRED_LANES` names
`real_seidb`, which `.ci/run` sets only after `scripts/build-seidb` succeeded.

Stores: `$EVMDIGEST_REAL_FIXTURES`, written by the planned fixture generator (tools/seidb/README.md):

    $EVMDIGEST_REAL_FIXTURES/
      clean/          FlatKV and memIAVL hold the same EVM state at H       -> match
      storage-slot/   one storage slot's value differs on the FlatKV side   -> mismatch: storage
      missing-key/    one storage slot is absent from the FlatKV side       -> mismatch: storage
      nonce/          one account's nonce differs on the FlatKV side        -> mismatch: account
    and in each of those nodes:
      flatkv/         the FlatKV data dir (`seidb evm-logical-digest --backend flatkv --db-dir`)
      memiavl/        the memIAVL root: `current` and `snapshot-<H as 20 digits>/` (at least H)
      height.txt      H in decimal: the height both stores were committed at
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "scripts" / "build-seidb"
BINARY_ENV = "EVMDIGEST_REAL_SEIDB"
FIXTURES_ENV = "EVMDIGEST_REAL_FIXTURES"
VARIANTS = ("clean", "storage-slot", "missing-key", "nonce")
EXPECTED_MISMATCH = {"clean": [], "storage-slot": ["storage"], "missing-key": ["storage"], "nonce": ["account"]}
NOT_BUILT = (
    "scripts/build-seidb exits 3 (BLOCKED upstream) while the Go module proxy refuses "
    "github.com/sei-protocol/sei-chain (403 'This module version is not available'; issue 5); "
    "build it with scripts/build-seidb or set EVMDIGEST_REAL_SEIDB to a real seidb"
)


@dataclass(frozen=True)
class RealNode:
    name: str
    root: Path
    flatkv_dir: Path
    memiavl_dir: Path
    height: int


def _built_binary_path() -> Path:
    try:
        done = subprocess.run(
            ["bash", str(BUILD_SCRIPT), "--print-path"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"real seidb: cannot ask {BUILD_SCRIPT.relative_to(REPO)} --print-path where it lives: {exc}")
    if done.returncode != 0 or not done.stdout.strip():
        pytest.skip(f"real seidb: scripts/build-seidb --print-path failed ({done.returncode}): {done.stderr.strip()}")
    return Path(done.stdout.strip())


@pytest.fixture(scope="session")
def real_seidb() -> Path:
    """The real seidb binary, or a skip that says exactly why there is none."""
    configured = os.environ.get(BINARY_ENV)
    if configured:
        path = Path(configured)
        if not (path.is_file() and os.access(path, os.X_OK)):
            pytest.fail(f"{BINARY_ENV}={configured!r} is not an executable file")
        return path
    path = _built_binary_path()
    if not (path.is_file() and os.access(path, os.X_OK)):
        rel = path.relative_to(REPO) if path.is_relative_to(REPO) else path
        pytest.skip(f"real seidb binary not built: {rel} does not exist. {NOT_BUILT}")
    return path


def _node(root: Path, name: str) -> RealNode | str:
    node = root / name
    missing = [part for part in ("flatkv", "memiavl") if not (node / part).is_dir()]
    missing += [] if (node / "height.txt").is_file() else ["height.txt"]
    if missing:
        return f"{name}/ lacks {', '.join(missing)}"
    raw = (node / "height.txt").read_text().strip()
    if not raw.isdigit() or int(raw) < 1:
        return f"{name}/height.txt holds {raw!r}, not a height >= 1"
    return RealNode(name, node, node / "flatkv", node / "memiavl", int(raw))


@pytest.fixture(scope="session")
def real_nodes(real_seidb: Path) -> dict[str, RealNode]:
    """The four fixture nodes (layout in this module's docstring), or a skip that says what is missing."""
    raw = os.environ.get(FIXTURES_ENV)
    if not raw:
        pytest.skip(
            f"real seidb fixtures: {FIXTURES_ENV} is not set; it must name a dir with "
            f"{', '.join(VARIANTS)} nodes (layout: tests/real_seidb/conftest.py; generator: tools/seidb/README.md)"
        )
    root = Path(raw)
    if not root.is_dir():
        pytest.skip(f"real seidb fixtures: {FIXTURES_ENV}={raw!r} is not a directory")
    nodes: dict[str, RealNode] = {}
    problems: list[str] = []
    for name in VARIANTS:
        found = _node(root, name)
        if isinstance(found, str):
            problems.append(found)
        else:
            nodes[name] = found
    if problems:
        pytest.skip(f"real seidb fixtures in {raw}: {'; '.join(problems)} (layout: tests/real_seidb/conftest.py)")
    return nodes
