"""A simulated store's config (`sim-store.json`): generation, knobs and faults; and SimError.

Every store dir (the FlatKV dir, every memIAVL `snapshot-<H>` dir) holds `sim-store.json`. Knobs:
FlatKV `latest_height` (its WAL end; H+1 by default, like the real fixture), `earliest_height` (its
oldest snapshot; below it seidb finds no snapshot), `height` (the height `rows.bin` holds);
`progress_every` (rows between progress lines; env SEIDB_SIM_PROGRESS_EVERY wins; default 20,000,000
like the real binary); `row_heights` (hex key -> block height, for --details; else derived).
Faults live under `"faults"`, so a test flips one with a JSON edit:

    clamp_version: int        report this version instead of the one requested (a clamping build)
    exit_error: str           print the error (stdout + `Error:` on stderr) after the banner, exit 1
    hang: bool                print a line, start a grandchild `sleep 3600`, then sleep forever
    garbage: true|"noise"|"truncated"|"corrupt"
                              noise: random non-report text, exit 0; truncated: the real report cut
                              short; corrupt: one bucket digest altered (final no longer re-derives)
    slow: float               spread the scan over this many seconds, sleeping (x10 in replay mode)
    translator_diverge: str   memiavl under `translator` alters the first row of this bucket
                              (account|code|storage|misc; missing-key drops the first storage row)
    disk_full: bool           FlatKV: the clone's copy fails with ENOSPC, as on a full disk (a stand-in
                              where no small filesystem can be mounted; the text is seidb's)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evmdigest.models import BUCKETS

CONFIG_NAME = "sim-store.json"
ROWS_NAME = "rows.bin"
GENERATION_ENV = "SEIDB_SIM_GENERATION"
SCAN_LOG_ENV = "SEIDB_SIM_SCAN_LOG"
GARBAGE_KINDS = ("noise", "truncated", "corrupt")
PROGRESS_ENV = "SEIDB_SIM_PROGRESS_EVERY"
PROGRESS_EVERY = 20_000_000
FAULT_KEYS = frozenset({"clamp_version", "exit_error", "hang", "garbage", "slow", "translator_diverge", "disk_full"})


class SimError(Exception):
    """A failure seidb would report: message on stdout and `Error: <msg>` on stderr, exit 1."""

    def __init__(self, message: str, *, usage: bool = True) -> None:
        super().__init__(message)
        self.usage = usage  # cobra prints the command's usage after every error of the command


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
    disk_full: bool = False

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
        error_text = None if error is None else str(error)
        return cls(clamp, error_text, bool(raw.get("hang")), garbage, float(slow), diverge, bool(raw.get("disk_full")))


@dataclass(frozen=True)
class StoreConfig:
    """One store's config, read once: generation, faults, progress interval."""

    raw: dict[str, Any]
    faults: Faults

    @classmethod
    def load(cls, store_dir: Path) -> StoreConfig:
        raw = read_config(store_dir)
        return cls(raw, Faults.from_config(raw.get("faults"), store_dir))

    @classmethod
    def empty(cls) -> StoreConfig:
        return cls({}, Faults())

    @property
    def generation(self) -> str:
        """The binary's generation (env) wins over the store's: it models which seidb build runs."""
        return str(os.environ.get(GENERATION_ENV) or self.raw.get("generation") or "json")

    @property
    def progress_every(self) -> int:
        raw = os.environ.get(PROGRESS_ENV) or self.raw.get("progress_every") or PROGRESS_EVERY
        try:
            every = int(raw)
        except ValueError:
            raise SimError(f"{PROGRESS_ENV}={raw!r}: expected a positive integer", usage=False) from None
        return max(1, every)

    @property
    def row_heights(self) -> dict[str, int]:
        heights = self.raw.get("row_heights") or {}
        if not isinstance(heights, dict):
            raise SimError("sim-store.json: row_heights must map hex keys to heights", usage=False)
        return {str(key).upper(): int(value) for key, value in heights.items()}

    @property
    def state_height(self) -> int:
        """The height the store's rows / kvs hold."""
        return self.int_knob("height", self.int_knob("latest_height", 0))

    def int_knob(self, name: str, default: int) -> int:
        value = self.raw.get(name, default)
        if not isinstance(value, int) or isinstance(value, bool):
            raise SimError(f"sim-store.json: {name} must be an integer, got {value!r}", usage=False)
        return value
