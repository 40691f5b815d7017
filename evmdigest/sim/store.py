"""Open a simulated store the way seidb does, and read its config (generation, faults).

Each store dir (the FlatKV dir, every `snapshot-<H>` dir) holds `sim-store.json` and `rows.bin`.
Faults live in the opened store's own config under `"faults"`, so a test flips one with a JSON edit:

    clamp_version: int        report this version instead of the one requested (a clamping build)
    exit_error: str           print the error (stdout + `Error:` on stderr) after the banner, exit 1
    hang: bool                print a line, start a grandchild `sleep 3600`, then sleep forever
    garbage: true|"noise"|"truncated"|"corrupt"
                              noise: random non-report text, exit 0; truncated: the real report cut
                              short; corrupt: one bucket digest altered (final no longer re-derives)
    slow: float               spread the scan over this many seconds, sleeping (x10 in replay mode)
    translator_diverge: str   memiavl under `translator` alters the first row of this bucket
                              (account|code|storage|misc; missing-key drops the first storage row)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evmdigest.models import BUCKETS
from evmdigest.segments import SNAPSHOT_DIR, snapshot_dir_name

CONFIG_NAME = "sim-store.json"
ROWS_NAME = "rows.bin"
GENERATION_ENV = "SEIDB_SIM_GENERATION"
SCAN_LOG_ENV = "SEIDB_SIM_SCAN_LOG"
GARBAGE_KINDS = ("noise", "truncated", "corrupt")
FAULT_KEYS = frozenset({"clamp_version", "exit_error", "hang", "garbage", "slow", "translator_diverge"})


class SimError(Exception):
    """A failure seidb would report: message on stdout and `Error: <msg>` on stderr, exit 1."""

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage  # cobra adds a usage hint for flag errors only


def write_config(path: Path, config: dict[str, Any]) -> None:
    # replace atomically: a concurrent scan must never read a half-written config
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def read_config(store_dir: Path) -> dict[str, Any]:
    path = store_dir / CONFIG_NAME
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise SimError(f"open store {store_dir}: no {CONFIG_NAME} (not a seidb-sim store)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise SimError(f"open store {store_dir}: unreadable {CONFIG_NAME}: {exc}") from None
    if not isinstance(config, dict):
        raise SimError(f"open store {store_dir}: {CONFIG_NAME} is not a JSON object")
    return config


@dataclass(frozen=True)
class Faults:
    clamp_version: int | None = None
    exit_error: str | None = None
    hang: bool = False
    garbage: str | None = None
    slow: float = 0.0
    translator_diverge: str | None = None

    @classmethod
    def from_config(cls, raw: Any, where: Path) -> Faults:
        """Validate strictly: a typo in a test's fault must fail loudly, not silently do nothing."""
        raw = raw or {}
        if not isinstance(raw, dict):
            raise SimError(f"{where}: faults must be a JSON object")
        unknown = sorted(set(raw) - FAULT_KEYS)
        if unknown:
            known = ", ".join(sorted(FAULT_KEYS))
            raise SimError(f"{where}: unknown fault key(s) {', '.join(unknown)}; known: {known}")
        clamp = raw.get("clamp_version")
        if clamp is not None and (not isinstance(clamp, int) or isinstance(clamp, bool) or clamp < 0):
            raise SimError(f"{where}: clamp_version must be a non-negative integer")
        garbage = raw.get("garbage") or None
        if garbage is True:
            garbage = "noise"
        if garbage is not None and garbage not in GARBAGE_KINDS:
            raise SimError(f"{where}: garbage must be true or one of {', '.join(GARBAGE_KINDS)}")
        diverge = raw.get("translator_diverge")
        if diverge is not None and diverge not in (*BUCKETS, "missing-key"):
            raise SimError(f"{where}: translator_diverge must be a bucket name or missing-key")
        slow = raw.get("slow", 0)
        if not isinstance(slow, int | float) or slow < 0:
            raise SimError(f"{where}: slow must be a non-negative number of seconds")
        error = raw.get("exit_error")
        return cls(clamp, None if error is None else str(error), bool(raw.get("hang")), garbage, float(slow), diverge)


@dataclass(frozen=True)
class OpenedStore:
    backend: str  # flatkv | memiavl
    store_dir: Path  # the FlatKV dir or the resolved snapshot dir
    version: int  # the height the store opened (before any clamp fault)
    config: dict[str, Any]
    faults: Faults

    @property
    def rows_path(self) -> Path:
        return self.store_dir / ROWS_NAME

    @property
    def generation(self) -> str:
        """The binary's generation (env) wins over the store's: it models which seidb build runs."""
        value = os.environ.get(GENERATION_ENV) or self.config.get("generation") or "json"
        return str(value)


def _opened(backend: str, store_dir: Path, version: int) -> OpenedStore:
    config = read_config(store_dir)
    if not (store_dir / ROWS_NAME).is_file():
        raise SimError(f"open store {store_dir}: {ROWS_NAME} missing")
    return OpenedStore(backend, store_dir, version, config, Faults.from_config(config.get("faults"), store_dir))


def open_flatkv(db_dir: Path, height: int) -> OpenedStore:
    if not db_dir.is_dir():
        raise SimError(f"open flatkv store: {db_dir}: no such directory")
    config = read_config(db_dir)
    if config.get("kind") != "flatkv":
        raise SimError(f"open flatkv store: {db_dir} is not a FlatKV store (kind={config.get('kind')!r})")
    latest = int(config.get("latest_height", 0))
    if height > latest:
        raise SimError(f"target version {height} is beyond latest version {latest}")
    # the sim keeps no history: any reachable height opens the same rows
    return _opened("flatkv", db_dir, height or latest)


def open_memiavl(root: Path, height: int) -> OpenedStore:
    if not root.is_dir():
        raise SimError(f"open memiavl store: {root}: no such directory")
    if height == 0:
        current = root / "current"
        match = SNAPSHOT_DIR.match(Path(os.readlink(current)).name if current.is_symlink() else "")
        if match is None or not current.is_dir():
            raise SimError(f"snapshot not found for height 0 under {root} (no valid `current` link)")
        return _opened("memiavl", current.resolve(), int(match.group(1)))
    snapshot = root / snapshot_dir_name(height)
    if not snapshot.is_dir():
        raise SimError(f"snapshot not found for height {height} under {root}")
    return _opened("memiavl", snapshot, height)
