"""A seidb failure on the terminal, through the real console script: one line per failed scan with its
hint, and never cobra's usage text (seidb prints it after every error; it used to reach the terminal
once per log line)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.plugins.sim import MakeNode

EVM_DIGEST = str(Path(sys.executable).parent / "evm-digest")
HEIGHT = 213200000


def test_a_missing_memiavl_snapshot_is_one_line_with_its_fix(
    prefect_api: str, tmp_path: Path, make_node: MakeNode, sim_binary: Path
) -> None:
    node = make_node(tmp_path, height=HEIGHT, rows=500, extra_snapshots=[HEIGHT - 100])
    above = HEIGHT + 1  # FlatKV reaches it; memIAVL has no snapshot there
    done = subprocess.run(
        [EVM_DIGEST, "run", "--height", str(above), "--flatkv-dir", str(node.flatkv_dir),
         "--memiavl-dir", str(node.memiavl_dir), "--seidb", str(sim_binary), "--sink", (tmp_path / "s").as_uri()],
        capture_output=True, text=True, timeout=600, check=False, env={**os.environ, "PREFECT_API_URL": prefect_api},
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 2, out[-3000:]
    for label in ("memiavl/semantic", "memiavl/translator"):
        nearest = f"(nearest snapshot heights: {HEIGHT})"
        line = f"{label} at {above}: no memIAVL snapshot at {above} under {node.memiavl_dir} {nearest}"
        assert line in done.stderr, out[-3000:]
    assert "--memiavl-open-mode replay" in done.stderr
    assert "Usage:" not in out and "--shard-next-bytes" not in out
    published = [p for p in (tmp_path / "s").rglob("*") if p.is_file() and ".evm-digest" not in p.parts]
    assert published == []  # only the write-once probe's bookkeeping (.evm-digest/) may be there
