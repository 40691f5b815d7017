"""What seidb prints around its report, as sei-chain 73f917b prints it (texts from the real runs).

The report header (`backend:` ... `normalization:`) is printed twice: in the start banner and in the
report. Narration goes to stdout, or to stderr in a `--json` build (whose stdout is the JSON object).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

from evmdigest.models import BucketDigest, DigestReport, Generation
from evmdigest.seidb.render import header_lines

BANNER = "EVM logical digest start"
ZERO = BucketDigest(count=0, digest="0" * 64)
REPLAY_SLOWDOWN = 10  # replaying the changelog is ~10x slower than reading a snapshot

FLATKV_SOURCE = "isolated FlatKV clone opened from snapshot + changelog WAL replay"
FLATKV_NORMALIZATION = "native FlatKV physical keyspace; values reduced to height-independent logical payload"
FLATKV_SCAN = "Scan progress: flatkv input_physical_rows -> normalized logical bucket counts"
REPLAY_SOURCE = "read-only memiavl DB opened from snapshot + changelog replay"
TRANSLATOR_NOTE = (
    "Note: account rows are merged by the translator at finalize, so progress shows account=deferred_until_finalize."
)
# mode -> (normalization, scan progress line, note)
MEMIAVL_TEXTS = {
    "semantic": (
        "independent semantic decoder for raw memiavl EVM keys; does not call flatkv.ImportTranslator",
        "Scan progress: memiavl input_leaves -> independently decoded EVM logical bucket counts",
        "Note: semantic mode does not call flatkv.ImportTranslator; account rows are merged locally at finalize.",
    ),
    "translator": (
        "memiavl leaves translated with flatkv.ImportTranslator, then reduced to logical payload",
        "Scan progress: memiavl input_leaves -> translated flatkv logical bucket counts",
        TRANSLATOR_NOTE,
    ),
    "semantic-replay": (
        "independent semantic decoder for replayed memiavl EVM keys; does not call flatkv.ImportTranslator",
        "Scan progress: replayed memiavl iterator -> independently decoded EVM logical bucket counts",
        "Note: semantic replay mode walks the in-memory/mmap tree, not the snapshot kvs file.",
    ),
    "translator-replay": (
        "replayed memiavl leaves translated with flatkv.ImportTranslator, then reduced to logical payload",
        "Scan progress: replayed memiavl iterator -> translated flatkv logical bucket counts",
        TRANSLATOR_NOTE,
    ),
}
COMPOSITE_SCAN = (
    "Scan progress: composite migrate_evm logical view -> flatkv rows plus memiavl rows to the right of boundary"
)


def header(
    backend: str, mode: str, db_dir: str, source: str, normalization: str, requested: int, version: int
) -> dict[str, Any]:
    return {
        "backend": backend,
        "mode": mode,
        "db_dir": db_dir,
        "source": source,
        "normalization": normalization,
        "requested_height": requested,
        "version": version,
    }


class Out:
    """stdout carries the report; narration goes to stdout, or stderr for `--json`. Every line is
    flushed: runners read live, and a buffered banner would look like a hang."""

    def __init__(self, json_output: bool, generation: Generation) -> None:
        self.json_output = json_output
        self.narration: TextIO = sys.stderr if json_output else sys.stdout
        self.generation = generation
        self.fourth = "legacy" if generation is Generation.LEGACY else "misc"

    def say(self, text: str) -> None:
        self.narration.write(text + "\n")
        self.narration.flush()

    def banner(self, fields: dict[str, Any]) -> None:
        report = DigestReport(
            generation=self.generation, **fields, account=ZERO, code=ZERO, storage=ZERO, misc=ZERO, final=ZERO
        )
        self.say("\n".join([*header_lines(report, BANNER), ""]))

    def stdout(self, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()


@dataclass
class Pacer:
    """The `slow` fault: spread a scan over `seconds`, sleeping (I/O-bound, not CPU-bound)."""

    seconds: float
    total: int
    started: float = 0.0
    next_check: int = 0
    check_every: int = 4096

    def __post_init__(self) -> None:
        self.started = time.monotonic()
        self.total = max(1, self.total)
        # with a pace, look at the clock often enough to sleep in small steps
        self.check_every = max(1, min(4096, self.total // 400)) if self.seconds else 1 << 62
        self.next_check = self.check_every

    def tick(self, done: int) -> None:
        if done < self.next_check:
            return
        self.next_check += self.check_every
        lag = self.started + self.seconds * done / self.total - time.monotonic()
        if lag > 0:
            time.sleep(lag)

    def finish(self) -> None:
        remaining = self.started + self.seconds - time.monotonic()
        if self.seconds and remaining > 0:
            time.sleep(remaining)
