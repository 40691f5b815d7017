"""Scan an opened simulated store into a real DigestReport and print it the way seidb does.

Narration goes to stdout in text mode and to stderr with `--json`; the report is printed only through
`evmdigest.seidb.render`, so the simulator and the pipeline share one renderer.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, NoReturn, TextIO

from evmdigest.digest import MIGRATION_MARKER_KEYS, EvmDigest
from evmdigest.models import BUCKETS, BucketDigest, DigestReport, Generation, ZeroCensus
from evmdigest.seidb.render import header_lines, render_json, render_text
from evmdigest.sim.rows import ACCOUNT_VALUE_LEN, BUCKET_CODE, ZERO32, iter_rows
from evmdigest.sim.store import SCAN_LOG_ENV, OpenedStore, SimError

BANNER = "EVM logical digest start"
PROGRESS_ROWS = 100_000
REPLAY_SLOWDOWN = 10  # replaying the changelog is ~10x slower than opening a snapshot
_MARKERS = frozenset(marker.encode() for marker in MIGRATION_MARKER_KEYS)
_ZERO = BucketDigest(count=0, digest="0" * 64)
_NORMALIZATION_TEXT = {
    "flatkv": "FlatKV physical key; logical value (serialization version and block-height header stripped)",
    "semantic": "semantic: memiavl rows decoded to FlatKV logical rows (account balance zeroed)",
    "translator": "translator: memiavl rows run through the FlatKV migration translator",
}


@dataclass(frozen=True)
class ScanRequest:
    backend: str  # flatkv | memiavl
    db_dir: str  # as given on the command line; reported verbatim
    height: int
    normalization: str | None  # memiavl only: semantic | translator (`independent` already folded)
    open_mode: str  # snapshot | replay
    json_output: bool
    find_hash: bytes | None


def say(stream: TextIO, text: str) -> None:
    stream.write(text + "\n")
    stream.flush()  # runners read lines live; a buffered banner would look like a hang


def _header_fields(store: OpenedStore, request: ScanRequest, generation: Generation) -> dict[str, Any]:
    if request.backend == "flatkv":
        mode, source = "native", "seidb-sim flatkv store (no WAL history: heights <= tip open the same rows)"
        normalization = _NORMALIZATION_TEXT["flatkv"]
    else:
        assert request.normalization is not None
        replay = request.open_mode == "replay"
        mode = request.normalization + ("-replay" if replay else "")
        source = f"seidb-sim memiavl {store.store_dir.name}" + (" (changelog replay)" if replay else "")
        normalization = _NORMALIZATION_TEXT[request.normalization]
    clamp = store.faults.clamp_version
    return {
        "generation": generation,
        "backend": request.backend,
        "mode": mode,
        "db_dir": request.db_dir,
        "source": source,
        "normalization": normalization,
        "requested_height": request.height,
        "version": store.version if clamp is None else clamp,
    }


class _Scanner:
    def __init__(self, store: OpenedStore, request: ScanRequest, narration: TextIO, fourth: str) -> None:
        self.store, self.request, self.narration, self.fourth = store, request, narration, fourth
        self.digest = EvmDigest()
        self.census = [0, 0, 0, 0]  # zero accounts, live accounts w/o code hash, empty code, zero slots
        self.rows = 0

    def progress(self) -> None:
        counts = [self.digest.buckets[name].count for name in BUCKETS]
        say(
            self.narration,
            f"  progress backend={self.request.backend} input_physical_rows={self.rows} digested "
            f"account={counts[0]} code={counts[1]} storage={counts[2]} {self.fourth}={counts[3]}",
        )

    def run(self) -> None:
        store, request = self.store, self.request
        accumulators = [self.digest.buckets[name] for name in BUCKETS]
        flatkv, find = request.backend == "flatkv", request.find_hash
        census_on = request.normalization == "semantic"
        diverge = store.faults.translator_diverge if request.normalization == "translator" else None
        diverge_code = BUCKET_CODE["storage" if diverge == "missing-key" else diverge] if diverge else -1
        pace = store.faults.slow * (REPLAY_SLOWDOWN if request.open_mode == "replay" else 1)
        total = max(1, int(store.config.get("rows") or store.rows_path.stat().st_size // 100))
        # with a pace, check the clock often enough to sleep in small steps (I/O-bound, not CPU-bound)
        check_every = max(1, min(4096, total // 400)) if pace else 4096
        progress_seconds = min(1.0, pace / 8) if pace else 1.0
        started = last_time = time.monotonic()
        next_check, last_rows = check_every, 0
        for code, key, value in iter_rows(store.rows_path):
            self.rows += 1
            if code == diverge_code:
                diverge_code = -1  # one row only
                if diverge == "missing-key":
                    continue
                value = value[:-1] + bytes((value[-1] ^ 0x01,)) if value else b"\x01"
            entry = accumulators[code].add(key, value)
            if find is not None and entry == find:
                self.found(code, key, value)
            if census_on:
                self.count_zero(code, value)
            if flatkv and code == 3 and key in _MARKERS:
                self.digest.omit_marker(key.decode(), key, value)
            if self.rows >= next_check:
                next_check += check_every
                now = time.monotonic()
                lag = started + pace * self.rows / total - now
                if lag > 0:
                    time.sleep(lag)
                    now = time.monotonic()
                if self.rows - last_rows >= PROGRESS_ROWS or now - last_time >= progress_seconds:
                    self.progress()
                    last_rows, last_time = self.rows, now
        remaining = started + pace - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)
        self.progress()

    def found(self, code: int, key: bytes, value: bytes) -> None:
        bucket = self.fourth if code == 3 else BUCKETS[code]
        logical = value.hex().upper()  # the sim stores no physical header, so raw == logical
        key_hex = key.hex().upper()
        say(self.narration, f"FOUND-HASH bucket={bucket} keyhex={key_hex} logicalhex={logical} rawhex={logical}")

    def count_zero(self, code: int, value: bytes) -> None:
        if code == 0 and len(value) == ACCOUNT_VALUE_LEN and value[40:] == ZERO32:
            self.census[0 if value[32:40] == ZERO32[:8] else 1] += 1
        elif code == 1 and not value:
            self.census[2] += 1
        elif code == 2 and value == ZERO32:
            self.census[3] += 1

    def zero_census(self) -> ZeroCensus | None:
        if self.request.normalization != "semantic" or not any(self.census):
            return None
        zero_accounts, without_code_hash, empty_code, zero_slots = self.census
        return ZeroCensus(
            zero_accounts=zero_accounts,
            zero_codehash_rows=0,  # the sim folds the code hash into the account row: no separate rows
            empty_code_values=empty_code,
            zero_storage_slots=zero_slots,
            live_accounts_with_zero_codehash_row=0,
            live_accounts_without_codehash_row=without_code_hash,
        )


def _log_scan(request: ScanRequest, version: int, start: float, end: float) -> None:
    path = os.environ.get(SCAN_LOG_ENV)
    if not path:
        return
    entry: dict[str, Any] = {"backend": request.backend, "normalization": request.normalization}
    entry["height"] = request.height
    entry |= {"version": version, "pid": os.getpid(), "start": start, "end": end}
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(entry) + "\n").encode())  # one O_APPEND write: concurrent sims never interleave
    finally:
        os.close(fd)


def _noise() -> str:
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


def _hang(narration: TextIO) -> NoReturn:
    say(narration, "  progress opening store (waiting on lock)")
    # a grandchild in our process group, holding our stdout/stderr: the runner's kill must reach it too
    subprocess.Popen(["sleep", "3600"])
    while True:
        time.sleep(3600)


def run_scan(store: OpenedStore, request: ScanRequest) -> int:
    faults = store.faults
    if faults.garbage == "noise":
        sys.stdout.write(_noise())
        sys.stdout.flush()
        return 0
    narration = sys.stderr if request.json_output else sys.stdout
    generation = Generation(store.generation)
    text_generation = Generation.LEGACY if generation is Generation.LEGACY else Generation.MISC
    fourth = "legacy" if generation is Generation.LEGACY else "misc"
    header = _header_fields(store, request, Generation.JSON if request.json_output else text_generation)
    banner = DigestReport(**header, account=_ZERO, code=_ZERO, storage=_ZERO, misc=_ZERO, final=_ZERO)
    say(narration, "\n".join(header_lines(banner, BANNER)))
    say(narration, f"Scan progress: every {PROGRESS_ROWS} rows or 1s (rows.bin {store.rows_path.stat().st_size} bytes)")
    if faults.exit_error is not None:
        raise SimError(faults.exit_error)
    if faults.hang:
        _hang(narration)
    start, started = time.time(), time.monotonic()
    scanner = _Scanner(store, request, narration, fourth)
    scanner.run()
    if request.backend == "memiavl":
        say(
            narration,
            f"  finalize backend=memiavl normalization={request.normalization} open_mode={request.open_mode} "
            f"rows={scanner.rows} elapsed={time.monotonic() - started:.3f}s",
        )
    report = DigestReport(
        **header,
        **scanner.digest.results(),
        marker_adjustments=tuple(scanner.digest.marker_adjustments),
        zero_census=scanner.zero_census(),
    )
    _log_scan(request, report.version, start, time.time())
    text = render_json(report) if request.json_output else "\n" + render_text(report, text_generation)
    sys.stdout.write(_mangle(text, faults.garbage, report, request.json_output))
    sys.stdout.flush()
    return 0
