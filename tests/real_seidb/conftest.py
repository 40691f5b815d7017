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
from pathlib import Path

import pytest

from tests.real_seidb.locate import ConfiguredBinaryMissing, RealNode, locate_binary, read_node

FIXTURES_ENV = "EVMDIGEST_REAL_FIXTURES"
VARIANTS = ("clean", "storage-slot", "missing-key", "nonce")
EXPECTED_MISMATCH = {"clean": [], "storage-slot": ["storage"], "missing-key": ["storage"], "nonce": ["account"]}


@pytest.fixture(scope="session")
def real_seidb() -> Path:
    """The real seidb binary, or a skip that says exactly why there is none."""
    try:
        found = locate_binary()
    except ConfiguredBinaryMissing as exc:
        pytest.fail(str(exc))
    if isinstance(found, str):
        pytest.skip(found)
    return found


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
        found = read_node(root / name)
        if isinstance(found, str):
            problems.append(found)
        else:
            nodes[name] = found
    if problems:
        pytest.skip(f"real seidb fixtures in {raw}: {'; '.join(problems)} (layout: tests/real_seidb/conftest.py)")
    return nodes
