"""Helpers for the seidb-sim tests: run the console script, parse, and recompute digests independently.

The independent digests restate the contract in a few lines of hashlib over the stores' own files
(FlatKV rows.bin, memIAVL kvs), using no evmdigest code.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

from evmdigest.models import DigestReport
from evmdigest.seidb import parse_report
from tests.plugins.sim import SimNode

NAMES = ("account", "code", "storage", "misc")
MARKERS = {b"migration/migration-version", b"migration/migration-boundary"}
REAL = Path(__file__).resolve().parent / "data" / "seidb-reports" / "real-73f917b"
REAL_HEIGHT = 213200000


def run(
    argv: list[str], env: dict[str, str] | None = None, timeout: float = 60, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}, cwd=cwd
    )


def scan(binary: Path, node: SimNode, side: str, **kwargs: Any) -> DigestReport:
    done = run(node.digest_argv(binary, side, **kwargs))
    assert done.returncode == 0, done.stdout + done.stderr
    return parse_report(done.stdout)


def digests(report: DigestReport) -> dict[str, tuple[int, str]]:
    return {name: (report.bucket(name).count, report.bucket(name).digest) for name in (*NAMES, "final")}


def _entry(key: bytes, value: bytes) -> int:
    data = len(key).to_bytes(4, "big") + key + len(value).to_bytes(4, "big") + value
    return int.from_bytes(hashlib.sha256(data).digest(), "big")


def _result(accs: list[int], counts: list[int]) -> dict[str, tuple[int, str]]:
    raw = [acc.to_bytes(32, "big") for acc in accs]
    out = {name: (counts[i], raw[i].hex().upper()) for i, name in enumerate(NAMES)}
    out["final"] = (sum(counts), hashlib.sha256(b"".join(raw)).hexdigest().upper())
    return out


def flatkv_rows(rows_bin: Path) -> list[tuple[int, bytes, bytes]]:
    data, pos, rows = rows_bin.read_bytes(), 0, []
    while pos < len(data):
        bucket, klen = data[pos], int.from_bytes(data[pos + 1 : pos + 5], "big")
        key, pos = data[pos + 5 : pos + 5 + klen], pos + 5 + klen
        vlen = int.from_bytes(data[pos : pos + 4], "big")
        rows.append((bucket, key, data[pos + 4 : pos + 4 + vlen]))
        pos += 4 + vlen
    return rows


def independent_flatkv(rows_bin: Path, skip_keys: AbstractSet[bytes] = frozenset()) -> dict[str, tuple[int, str]]:
    accs, counts = [0, 0, 0, 0], [0, 0, 0, 0]
    for bucket, key, value in flatkv_rows(rows_bin):
        if key not in skip_keys:
            accs[bucket] ^= _entry(key, value)
            counts[bucket] += 1
    return _result(accs, counts)


def kvs_leaves(kvs: Path) -> list[tuple[bytes, bytes]]:
    data, pos, leaves = kvs.read_bytes(), 0, []
    while pos < len(data):
        klen = int.from_bytes(data[pos : pos + 4], "little")
        key, pos = data[pos + 4 : pos + 4 + klen], pos + 4 + klen
        vlen = int.from_bytes(data[pos : pos + 4], "little")
        leaves.append((key, data[pos + 4 : pos + 4 + vlen]))
        pos += 4 + vlen
    return leaves


def independent_memiavl(kvs: Path) -> dict[str, tuple[int, str]]:
    """memIAVL's semantic digest: 0x0a nonce / 0x08 code hash (/ sim-only 0xf0 balance) leaves merge into
    one account row; empty code and zero slots are skipped; other keys are misc under `evm/`."""
    accs, counts = [0, 0, 0, 0], [0, 0, 0, 0]
    accounts: dict[bytes, list[bytes]] = {}
    for key, value in kvs_leaves(kvs):
        if key[0] in (0x0A, 0x08, 0xF0) and len(key) == 21:
            fields = accounts.setdefault(key[1:], [bytes(32), bytes(8), bytes(32)])
            fields[{0xF0: 0, 0x0A: 1, 0x08: 2}[key[0]]] = value
            continue
        bucket = 1 if key[0] == 0x07 and len(key) == 21 else 2 if key[0] == 0x03 and len(key) == 53 else 3
        if (bucket == 1 and not value) or (bucket == 2 and value == bytes(32)):
            continue
        accs[bucket] ^= _entry(b"evm/" + key, value)
        counts[bucket] += 1
    for address, fields in accounts.items():
        logical = b"".join(fields)
        if logical != bytes(72):
            accs[0] ^= _entry(b"evm/\x0a" + address, logical)
            counts[0] += 1
    return _result(accs, counts)


def snapshot_kvs(memiavl_dir: Path, height: int) -> Path:
    return memiavl_dir / f"snapshot-{height:020d}" / "evm" / "kvs"


_VARIABLE = [
    (re.compile(r"^time=\S+"), "time=<T>"),
    (re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d "), "<DATE> "),
    (re.compile(r"\.seidb-flatkv-tool-\d+"), ".seidb-flatkv-tool-<N>"),
    (re.compile(r"readonly-\d+"), "readonly-<N>"),
    (re.compile(r"elapsed=[0-9.]+[mµn]?s"), "elapsed=<D>"),
    (re.compile(r"000002\.log: \d+\); replayed \d+ keys in \d+ batches"), "000002.log: <B>); replayed <K>"),
    (re.compile(r"\b[0-9A-F]{64}\b"), "<HEX64>"),
    (re.compile(r"key=[0-9a-f]{2,}\}"), "key=<HEX>}"),
]


def normalized(text: str) -> list[str]:
    """Output lines with the run-specific parts (times, random dir names, digests, keys) replaced."""
    lines = []
    for line in text.split("\n"):
        for pattern, replacement in _VARIABLE:
            line = pattern.sub(replacement, line)
        lines.append(line)
    return lines
