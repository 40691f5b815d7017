"""The seidb passes localization runs on one node at one height: inspect both sides in parallel, find-hash.

Every result is checked before the search sees it: the store must still be at the height the verdict
was taken at (`version:`), and the caller passes what each side's rows under a prefix must hash to
(from the verdict or the parent shard pass), so a store that changed under us fails loudly instead of
yielding wrong keys. FlatKV passes do not depend on the normalization: a cache shared by the
normalizations of one run reuses them (shard passes and small listings).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

from evmdigest.digest import BucketAccumulator, entry_hash
from evmdigest.localize.model import BucketResult, DivergentKey
from evmdigest.models import Backend, BucketDigest, FoundHash, InspectList, InspectReport, InspectShards, Normalization
from evmdigest.seidb.argv import DigestRequest, FindHashRequest, InspectRequest
from evmdigest.seidb.runner import SeidbRunner

Side = Literal["flatkv", "memiavl"]
SIDES: tuple[Side, Side] = ("flatkv", "memiavl")
T = TypeVar("T")
_CACHED_LIST_ENTRIES = 20_000  # listings are cached only while small: the cache must not hold a store


class StoreChanged(Exception):
    """A pass disagrees with what the verdict (or the previous pass) saw: the store changed, or seidb lied."""


@dataclass
class PassCache:
    """What one run's normalizations can share: FlatKV inspect results, and whole bucket searches whose
    both sides hash the same under either decoder (same rows, so the same passes and the same keys)."""

    reports: dict[InspectRequest, InspectReport] = field(default_factory=dict)
    searches: dict[tuple[object, ...], tuple[BucketResult, list[DivergentKey]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class Node:
    """The stores localization reads: the node's two dirs at the verdict's height, one memIAVL decoder."""

    flatkv_dir: Path
    memiavl_dir: Path
    height: int
    normalization: Normalization


def fold(report: InspectReport) -> BucketDigest:
    """What the rows a pass covered hash to: XOR of its shards, or of its listed entries."""
    acc = BucketAccumulator()
    if isinstance(report, InspectShards):
        for shard in report.shards.values():
            acc.acc ^= int(shard.digest, 16)
            acc.count += shard.count
    else:
        for key, entry in report.entries.items():
            acc.add_hash(entry_hash(bytes.fromhex(key), bytes.fromhex(entry.logical)))
    return acc.result()


class SeidbPasses:
    """Runs localization passes with one SeidbRunner; counts passes and seidb processes."""

    def __init__(self, runner: SeidbRunner, node: Node, cache: PassCache | None = None) -> None:
        self.runner, self.node = runner, node
        self.cache = cache or PassCache()
        self.seidb_runs = 0
        self._count_lock = threading.Lock()

    def _request(self, side: Side, bucket: str, prefix: str, list_limit: int | None, width: int) -> InspectRequest:
        node = self.node
        memiavl = side == "memiavl"
        return InspectRequest(
            backend=Backend.MEMIAVL if memiavl else Backend.FLATKV,
            db_dir=node.memiavl_dir if memiavl else node.flatkv_dir,
            height=node.height,
            bucket=bucket,
            key_offset=5,
            key_prefix=prefix,
            shard_next_bytes=None if list_limit is not None else width,
            list_pairs=list_limit is not None,
            # always explicit: seidb's own default is 1000, which would cut a listing short
            list_limit=list_limit,
            normalization=node.normalization if memiavl else None,
        )

    def _inspect_one(self, request: InspectRequest, expected: BucketDigest | None, partial: bool) -> InspectReport:
        shareable = request.backend is Backend.FLATKV
        if shareable:
            with self.cache.lock:
                cached = self.cache.reports.get(request)
            if cached is not None:
                return cached
        report = self.runner.run_inspect(request)
        with self._count_lock:
            self.seidb_runs += 1
        self._check(request, report, expected, partial)
        small = isinstance(report, InspectShards) or len(report.entries) <= _CACHED_LIST_ENTRIES
        if shareable and small:
            with self.cache.lock:
                self.cache.reports[request] = report
        return report

    def _check(
        self, request: InspectRequest, report: InspectReport, expected: BucketDigest | None, partial: bool
    ) -> None:
        where = f"{request.label} prefix {request.key_prefix or '(all)'}"
        if report.version != self.node.height:
            raise StoreChanged(f"{where}: opened version {report.version}, not the verdict's {self.node.height}")
        if isinstance(report, InspectList) and report.listed < report.matched and not partial:
            raise StoreChanged(f"{where}: {report.matched} rows match but only {report.listed} were listed")
        if expected is not None and fold(report) != expected:
            got = fold(report)
            raise StoreChanged(
                f"{where}: rows hash to count={got.count} {got.digest[:16]}…, but the verdict / previous pass saw "
                f"count={expected.count} {expected.digest[:16]}…; the store changed since, localize again"
            )

    def inspect(
        self,
        bucket: str,
        prefix: str,
        expected: dict[Side, BucketDigest | None],
        *,
        list_limit: int | None = None,
        sides: tuple[Side, ...] = SIDES,
        partial: bool = False,
        width: int = 1,
    ) -> dict[Side, InspectReport]:
        """Shard `prefix` `width` bytes deeper (`list_limit` None) or list it, on `sides` at once; each checked
        against `expected` (None: unknown). `partial`: a listing may stop at `list_limit` (then unchecked)."""

        def job(side: Side) -> Callable[[], InspectReport]:
            request = self._request(side, bucket, prefix, list_limit, width)
            return lambda: self._inspect_one(request, None if partial else expected[side], partial)

        jobs = {side: job(side) for side in sides}
        return run_parallel(jobs)

    def find_hash(self, side: Side, bucket: str, entry: str, expected: BucketDigest | None) -> list[FoundHash]:
        """Hits of a `--find-hash` digest scan of `side`, in `bucket` only."""
        node = self.node
        if side == "memiavl":
            scan = DigestRequest(Backend.MEMIAVL, node.memiavl_dir, node.height, node.normalization)
        else:
            scan = DigestRequest(Backend.FLATKV, node.flatkv_dir, node.height)
        result = self.runner.run_find_hash(FindHashRequest(scan, entry))
        with self._count_lock:
            self.seidb_runs += 1
        report = result.report
        if report.version != node.height:
            raise StoreChanged(f"{scan.label} find-hash: opened version {report.version}, not {node.height}")
        if expected is not None and report.bucket(bucket) != expected:
            raise StoreChanged(f"{scan.label} find-hash: the {bucket} bucket is not what the verdict saw")
        names = {bucket, "legacy"} if bucket == "misc" else {bucket}
        return [hit for hit in result.hits if hit.bucket in names]


def run_parallel(jobs: dict[Side, Callable[[], T]]) -> dict[Side, T]:
    """Run each side's job at once (seidb processes wait on I/O, so threads suffice); first error wins."""
    if len(jobs) == 1:
        ((side, job),) = jobs.items()
        return {side: job()}
    with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="localize") as pool:
        futures = {side: pool.submit(job) for side, job in jobs.items()}
        return {side: future.result() for side, future in futures.items()}
