"""seidb's progress lines (every 20,000,000 input rows) and the quantity they share with a sealed record.

The forms, as sei-chain 73f917b prints them (`evm_logical_digest.go`):

    progress backend=flatkv input_physical_rows=N digested account=A code=C storage=S misc=M
    progress backend=memiavl mode=semantic input_leaves=N digested account=deferred_until_finalize
             account_buffered=B code=C storage=S misc=M          (translator: no account_buffered)
    progress backend=composite source=flatkv input_physical_rows=N account_buffered=B code=C storage=S misc=M
    progress backend=composite source=memiavl input_leaves=N consumed_unmigrated=U account_buffered=B …

Input rows (physical rows, raw leaves) are not what a sealed record counts: it holds the logical
bucket counts. The digested bucket counts are: so the comparable quantity is their sum, with the
accounts buffered so far standing in for the deferred account bucket, and the account bucket left
out of both sides when a line shows neither (memIAVL translator).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from evmdigest.models import BUCKETS, LEGACY_BUCKET

PROGRESS_WORD = "progress"
INPUT_KEYS = ("input_physical_rows", "input_leaves")
ACCOUNT = BUCKETS[0]


@dataclass(frozen=True)
class ProgressLine:
    backend: str
    stage: str  # memIAVL mode or composite source; "" for flatkv
    input_rows: int
    counts: Mapping[str, int]  # digested bucket counts shown as numbers (misc under its modern name)
    account_buffered: int | None = None

    @property
    def counts_accounts(self) -> bool:
        return ACCOUNT in self.counts or self.account_buffered is not None

    def rows_done(self) -> int:
        """Logical rows digested so far, in the unit of a record's bucket counts."""
        done = sum(count for name, count in self.counts.items() if name != ACCOUNT)
        if ACCOUNT in self.counts:
            return done + self.counts[ACCOUNT]
        return done + (self.account_buffered or 0)


@dataclass(frozen=True)
class Reference:
    """Expected logical rows per bucket for one scan, and where that expectation came from."""

    counts: Mapping[str, int]
    source: str  # for people: "sealed record at height 1000", "flatkv's final count"
    height: int | None = field(default=None)

    def rows_expected(self, line: ProgressLine | None) -> int:
        """The reference total in the unit of `line.rows_done()` (all four buckets without a line yet)."""
        with_accounts = line is None or line.counts_accounts
        return sum(count for name, count in self.counts.items() if with_accounts or name != ACCOUNT)


def bucket_counts(counts: Mapping[str, int]) -> dict[str, int]:
    """Counts keyed by the modern bucket names (`legacy` is `misc`); other keys are dropped."""
    named = {BUCKETS[3] if name == LEGACY_BUCKET else name: int(value) for name, value in counts.items()}
    return {name: named[name] for name in BUCKETS if name in named}


def parse_progress(line: str) -> ProgressLine | None:
    """A digest progress line in any of the forms above, else None (other narration, inspect's `...`)."""
    words = line.split()
    if len(words) < 3 or words[0] != PROGRESS_WORD or not words[1].startswith("backend="):
        return None
    pairs = dict(word.split("=", 1) for word in words[1:] if "=" in word)
    input_key = next((key for key in INPUT_KEYS if key in pairs), None)
    if input_key is None:
        return None
    try:
        numbers = {key: int(value) for key, value in pairs.items() if value.isdigit()}
    except ValueError:
        return None
    counts = bucket_counts({name: numbers[name] for name in (*BUCKETS, LEGACY_BUCKET) if name in numbers})
    return ProgressLine(
        backend=pairs["backend"],
        stage=pairs.get("mode") or pairs.get("source") or "",
        input_rows=numbers.get(input_key, 0),
        counts=counts,
        account_buffered=numbers.get("account_buffered"),
    )
