"""The digest accumulator of a scan: buckets, FOUND-HASH hits, migration markers, and the report.

Mirrors seidb's evmDigest: every logical entry is XORed into its bucket; the FlatKV-only migration
marker rows are folded into misc like any row and XORed back out when the report is printed.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NoReturn

from evmdigest.digest import MIGRATION_MARKER_KEYS, EvmDigest
from evmdigest.models import BUCKETS, DigestReport, MigrationBoundary, ZeroCensus
from evmdigest.seidb.render import render_json, render_text
from evmdigest.sim.leaves import Entry
from evmdigest.sim.narrate import Out
from evmdigest.sim.store import SCAN_LOG_ENV, Faults, StoreConfig

MARKER_KEYS = tuple(marker.encode() for marker in MIGRATION_MARKER_KEYS)  # version first, as seidb prints


class Digester:
    def __init__(self, out: Out, find_hash: bytes | None) -> None:
        self.out, self.find_hash = out, find_hash
        self.digest = EvmDigest()
        self.accumulators = [self.digest.buckets[name] for name in BUCKETS]
        self.markers: dict[bytes, bytes] = {}

    def add(self, bucket: int, key: bytes, logical: bytes, raw: bytes) -> None:
        entry = self.accumulators[bucket].add(key, logical)
        if self.find_hash is not None and entry == self.find_hash:
            name = self.out.fourth if bucket == 3 else BUCKETS[bucket]
            hexes = f"keyhex={key.hex().upper()} logicalhex={logical.hex().upper()} rawhex={raw.hex().upper()}"
            self.out.say(f"FOUND-HASH bucket={name} {hexes}")
        if bucket == 3 and key in MARKER_KEYS:
            self.markers[key] = entry

    def counts(self) -> list[int]:
        return [accumulator.count for accumulator in self.accumulators]

    def report(
        self,
        fields: dict[str, Any],
        *,
        census: ZeroCensus | None = None,
        boundary: MigrationBoundary | None = None,
    ) -> DigestReport:
        adjusted = []
        for key in MARKER_KEYS:
            if key in self.markers:
                self.digest.buckets["misc"].remove_hash(self.markers[key])
                adjusted.append(key.decode())
        return DigestReport(
            generation=self.out.generation,
            **fields,
            **self.digest.results(),
            marker_adjustments=tuple(adjusted),
            zero_census=census if self.out.json_output else None,  # 73f917b's text has no census
            migration_boundary=boundary,
        )


def emit_report(out: Out, report: DigestReport, faults: Faults, started: float) -> None:
    _log_scan(report, started)
    text = render_json(report) if out.json_output else render_text(report, out.generation)
    out.stdout(_mangle(text, faults.garbage, report, out.json_output))


def _log_scan(report: DigestReport, started: float) -> None:
    path = os.environ.get(SCAN_LOG_ENV)
    if not path:
        return
    normalization = None
    if report.backend.value == "memiavl" and report.mode:
        normalization = report.mode.removesuffix("-replay")
    entry: dict[str, Any] = {"backend": report.backend.value, "normalization": normalization}
    entry["height"] = report.requested_height
    entry |= {"version": report.version, "pid": os.getpid(), "start": started, "end": time.time()}
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(entry) + "\n").encode())  # one O_APPEND write: concurrent sims never interleave
    finally:
        os.close(fd)


def noise() -> str:
    rng = random.Random()
    lines = ["panic: runtime error: index out of range [3] with length 3", "", "goroutine 1 [running]:"]
    lines += [rng.randbytes(rng.randrange(8, 40)).hex() for _ in range(rng.randrange(5, 15))]
    lines += ["{not json", "account count=?", "FINAL_DIGEST ???"]
    return "\n".join(lines) + "\n"


def _mangle(text: str, kind: str | None, report: DigestReport, json_output: bool) -> str:
    if kind == "truncated":
        if json_output:
            return text[: len(text) // 2] + "\n"
        return text[: text.index("\nstorage ") + 1]  # the report stops after the code bucket
    if kind == "corrupt":
        digest = report.storage.digest
        return text.replace(digest, ("1" if digest[0] != "1" else "2") + digest[1:], 1)
    return text


def hang(out: Out) -> NoReturn:
    out.say("  progress opening store (waiting on lock)")
    # a grandchild in our process group, holding our stdout/stderr: the runner's kill must reach it too
    subprocess.Popen(["sleep", "3600"])
    while True:
        time.sleep(3600)


@dataclass
class Divergence:
    """The translator_diverge fault: the translator path alters (or drops) the bucket's smallest key.

    The smallest key, not the first emitted: accounts come out of finalize in map order, and the digest
    scan and every inspect pass must alter the same row for a localization to find it."""

    bucket: int
    drop: bool
    done: bool = False

    @classmethod
    def of(cls, config: StoreConfig) -> Divergence | None:
        name = config.faults.translator_diverge
        if name is None:
            return None
        return cls(BUCKETS.index("storage" if name == "missing-key" else name), name == "missing-key")

    def _apply(self, entry: Entry) -> Entry | None:
        self.done = True
        return None if self.drop else diverge(entry)

    def stream(self, entry: Entry) -> Entry | None:
        """Leaves come in key order: the bucket's first entry is its smallest key."""
        if self.done or entry[0] != self.bucket:
            return entry
        return self._apply(entry)

    def finalize(self, entries: Iterable[Entry]) -> Iterator[Entry]:
        """Accounts come in map order: alter the smallest key, keep the order."""
        listed = list(entries)
        targets = [entry[1] for entry in listed if entry[0] == self.bucket]
        smallest = min(targets) if targets and not self.done else None
        for entry in listed:
            changed = self._apply(entry) if entry[1] == smallest else entry
            if changed is not None:
                yield changed


def diverge(entry: Entry) -> Entry:
    bucket, key, logical, raw = entry
    if not logical:
        return bucket, key, b"\x01", raw
    changed = logical[:-1] + bytes((logical[-1] ^ 0x01,))
    return bucket, key, changed, raw
