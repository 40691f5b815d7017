"""Localize a node: every mismatched bucket of a published verdict, or named buckets ad hoc."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from evmdigest.localize.model import BucketResult, DivergentKey, Limits, Localization, RecordRef
from evmdigest.localize.passes import Node, PassCache, SeidbPasses
from evmdigest.localize.search import BucketSearch, Expected
from evmdigest.models import BUCKETS, LEGACY_BUCKET, BucketDigest
from evmdigest.seidb.runner import SeidbRunner
from evmdigest.verdict.outcome import PublishedRecord
from evmdigest.verdict.records import EndpointDigestRecord


def localize(
    passes: SeidbPasses, buckets: Mapping[str, Expected], *, limits: Limits, node: str | None = None
) -> Localization:
    """Search each bucket in turn (in digest order); keys come out sorted by bucket, then key."""
    results: list[BucketResult] = []
    keys: list[DivergentKey] = []
    for bucket in (name for name in BUCKETS if name in buckets):
        expected = dict(buckets[bucket])
        # Known digests equal under another decoder mean the same rows on both sides: reuse that search.
        known = None if None in expected.values() else (bucket, expected["flatkv"], expected["memiavl"], limits)
        if known is not None and known in passes.cache.searches:
            result, found = passes.cache.searches[known]
        else:
            search = BucketSearch(passes, bucket, limits, expected)
            result, found = search.run(), search.keys()
            if known is not None:
                passes.cache.searches[known] = (result, found)
        results.append(result)
        keys += found
    return Localization(
        height=passes.node.height,
        normalization=passes.node.normalization,
        node=node,
        limits=limits,
        buckets=results,
        keys=keys,
        seidb_runs=passes.seidb_runs,
    )


def record_buckets(record: EndpointDigestRecord) -> dict[str, Expected]:
    """The record's mismatched buckets, with both sides' digests as the verdict saw them."""
    buckets: dict[str, Expected] = {}
    for label, verdict in record.per_bucket.items():
        if verdict.match:
            continue
        name = BUCKETS[3] if label == LEGACY_BUCKET else label
        flatkv: BucketDigest | None = BucketDigest(count=verdict.flatkv_count, digest=verdict.flatkv)
        if name == BUCKETS[3] and record.marker_adjustments:
            flatkv = None  # seidb's inspect lists the markers its digest XORs out: learn FlatKV's misc from a pass
        buckets[name] = {"flatkv": flatkv, "memiavl": BucketDigest(count=verdict.memiavl_count, digest=verdict.memiavl)}
    return buckets


def localize_record(
    runner: SeidbRunner,
    published: PublishedRecord,
    flatkv_dir: Path,
    memiavl_dir: Path,
    *,
    limits: Limits | None = None,
    cache: PassCache | None = None,
) -> Localization:
    """Localize every mismatched bucket of a published verdict on the stores it was taken from."""
    record = published.record
    node = Node(flatkv_dir, memiavl_dir, record.height, record.normalization)
    passes = SeidbPasses(runner, node, cache)
    return localize(passes, record_buckets(record), limits=limits or Limits(), node=record.node)


def unknown(buckets: Iterable[str]) -> dict[str, Expected]:
    """Buckets to localize with no verdict at hand: the first shard pass learns both sides' digests."""
    return {bucket: {"flatkv": None, "memiavl": None} for bucket in buckets}


def record_ref(published: PublishedRecord) -> RecordRef | None:
    """How a divergence report names the record it explains (None if the record's key is unknown)."""
    if published.key is None:
        return None
    return RecordRef(key=published.key, uncompressed_sha256=published.uncompressed_sha256)
