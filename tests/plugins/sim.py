"""seidb-sim fixtures: the console script's path and a factory for deterministic fixture nodes.

    def test_x(sim_binary, make_node, tmp_path):
        node = make_node(tmp_path, height=1000, rows=200, diverge="storage")
        node.set_faults("memiavl", clamp_version=900)       # every snapshot (or height=H for one)
        argv = node.digest_argv(sim_binary, "memiavl", normalization="translator", json=True)
        argv = node.digest_argv(sim_binary, "composite")    # --flatkv-dir/--memiavl-dir
        argv = node.inspect_argv(sim_binary, "flatkv", "storage", key_offset=5, shard_next_bytes=1)

Store knobs and fault keys are documented in evmdigest/sim/store.py. memIAVL `kvs` files may be
hardlinked between snapshots: never edit one in place (faults and configs are JSON edits and are safe).
Progress lines come every 20,000,000 rows unless SEIDB_SIM_PROGRESS_EVERY (or `progress_every`) says.
"""

from __future__ import annotations

import shutil
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from evmdigest.segments import snapshot_dir_name
from evmdigest.sim.fixture import make_fixture
from evmdigest.sim.store import read_config, write_config

SIDES = ("flatkv", "memiavl")


@dataclass(frozen=True)
class SimNode:
    root: Path
    flatkv_dir: Path
    memiavl_dir: Path
    height: int
    summary: dict[str, Any]

    @property
    def reference_memiavl_dir(self) -> Path:
        """A migrating node's unmigrated reference memIAVL (make_node(..., migrate_keys=N))."""
        return Path(self.summary["reference_memiavl_dir"])

    def store_dirs(self, side: str, height: int | None = None) -> list[Path]:
        """The store dirs holding sim-store.json: flatkv, memiavl (all snapshots or one), or both."""
        if side == "both":
            return self.store_dirs("flatkv") + self.store_dirs("memiavl", height)
        if side == "flatkv":
            return [self.flatkv_dir]
        if side != "memiavl":
            raise ValueError(f"side must be flatkv, memiavl or both, got {side!r}")
        if height is not None:
            return [self.memiavl_dir / snapshot_dir_name(height)]
        return sorted(p for p in self.memiavl_dir.iterdir() if p.name.startswith("snapshot-") and not p.is_symlink())

    def set_faults(self, side: str, *, height: int | None = None, **faults: Any) -> None:
        """Merge faults into the side's store configs; a value of None removes that fault."""
        for store_dir in self.store_dirs(side, height):
            config = read_config(store_dir)
            merged = {**(config.get("faults") or {}), **faults}
            config["faults"] = {key: value for key, value in merged.items() if value is not None}
            write_config(store_dir / "sim-store.json", config)

    def clear_faults(self, side: str = "both") -> None:
        for store_dir in self.store_dirs(side):
            config = read_config(store_dir)
            config["faults"] = {}
            write_config(store_dir / "sim-store.json", config)

    def update_config(self, side: str, *, height: int | None = None, **keys: Any) -> None:
        """Edit top-level config keys, e.g. latest_height=... (flatkv) or generation="legacy"."""
        for store_dir in self.store_dirs(side, height):
            write_config(store_dir / "sim-store.json", {**read_config(store_dir), **keys})

    def expected(self, side: str) -> dict[str, Any]:
        """make-fixture's expected buckets/final/marker_adjustments for flatkv or memiavl (semantic)."""
        result: dict[str, Any] = self.summary["expected"][side]
        return result

    def digest_argv(
        self,
        binary: Path | str,
        side: str,
        *,
        height: int | None = None,
        normalization: str = "semantic",
        open_mode: str = "snapshot",
        json: bool = False,
        find_hash: str | None = None,
    ) -> list[str]:
        """flatkv | memiavl | composite (the node's own two dirs)."""
        argv = [str(binary), "evm-logical-digest", "--backend", side]
        if side == "composite":
            argv += ["--flatkv-dir", str(self.flatkv_dir), "--memiavl-dir", str(self.memiavl_dir)]
        else:
            argv += ["-d", str(self.flatkv_dir if side == "flatkv" else self.memiavl_dir)]
        argv += ["--height", str(self.height if height is None else height)]
        if side != "flatkv":
            argv += ["--memiavl-normalization", normalization, "--memiavl-open-mode", open_mode]
        if json:
            argv.append("--json")
        if find_hash:
            argv += ["--find-hash", find_hash]
        return argv

    def inspect_argv(
        self,
        binary: Path | str,
        side: str,
        bucket: str,
        *,
        key_offset: int = 0,
        key_prefix: str = "",
        shard_next_bytes: int = 0,
        list_limit: int | None = None,
        listing: bool = False,
        details: bool = False,
        normalization: str = "semantic",
        json: bool = False,
    ) -> list[str]:
        argv = self.digest_argv(binary, side, normalization=normalization, json=json)
        argv += ["--inspect-bucket", bucket, "--key-offset", str(key_offset)]
        if key_prefix:
            argv += ["--key-prefix", key_prefix]
        if shard_next_bytes:
            argv += ["--shard-next-bytes", str(shard_next_bytes)]
        if listing:
            argv.append("--list")
        if list_limit is not None:
            argv += ["--list-limit", str(list_limit)]
        if details:
            argv.append("--details")
        return argv


class MakeNode(Protocol):
    def __call__(
        self, root: Path, *, height: int = ..., rows: int = ..., diverge: str | None = ..., **opts: Any
    ) -> SimNode: ...


@pytest.fixture(scope="session")
def sim_binary() -> Path:
    """Absolute path of the installed `seidb-sim` console script (the same venv as pytest)."""
    candidate = Path(sys.prefix) / "bin" / "seidb-sim"
    if candidate.is_file():
        return candidate.absolute()
    found = shutil.which("seidb-sim")
    if found is None:
        pytest.fail("the seidb-sim console script is not installed; run `make venv` (uv sync installs it)")
    return Path(found).absolute()


@pytest.fixture(scope="session")
def sim_binary_for(sim_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """sim_binary_for("legacy"|"misc"|"json") -> a wrapper script that is a seidb build of that generation.

    SeidbRunner caches `--help`'s --json answer per binary file for the whole process, so a generation
    must be a property of the binary path (as with real builds), not of a per-test env var.
    """
    bin_dir = tmp_path_factory.mktemp("sim-bin")

    def wrapper(generation: str) -> Path:
        path = bin_dir / f"seidb-sim-{generation}"
        if not path.exists():
            path.write_text(f'#!/bin/sh\nSEIDB_SIM_GENERATION={generation} exec "{sim_binary}" "$@"\n')
            path.chmod(path.stat().st_mode | stat.S_IXUSR)
        return path

    return wrapper


def node_factory() -> MakeNode:
    """make_node's factory, for fixtures of a wider scope than a function."""

    def factory(root: Path, *, height: int = 1000, rows: int = 200, diverge: str | None = None, **opts: Any) -> SimNode:
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        node_dir, n = root / "node", 1
        while node_dir.exists():
            n += 1
            node_dir = root / f"node{n}"
        summary = make_fixture(node_dir, height=height, rows=rows, diverge=diverge, **opts)
        return SimNode(
            root=node_dir,
            flatkv_dir=Path(summary["flatkv_dir"]),
            memiavl_dir=Path(summary["memiavl_dir"]),
            height=height,
            summary=summary,
        )

    return factory


@pytest.fixture
def make_node() -> MakeNode:
    """Factory: make_node(dir, height=1000, rows=200, diverge=None, **make_fixture options) -> SimNode.

    Options: seed, extra_snapshots=[H...], migration_marker="version"|"boundary", generation, slow,
    blocks_after (default 1: latest = H+1), flatkv_earliest, snapshot_at_height, progress_every,
    migrate_keys=N|"all" (mid-migration node + reference memIAVL), boundary_marker, duplicate_unmigrated.
    Each call creates a fresh node under `dir` (dir/node, dir/node2, ...).
    """
    return node_factory()
