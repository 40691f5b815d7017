"""Localization passes across two nodes of any kind (issue 15): side `a` is one node, side `b` the other.

The search (search.py) names its two sides `flatkv` and `memiavl`; here they hold node A and node B
(`A`, `B` below), whatever each reads. A memiavl node's side is its memIAVL (the run's decoder), a
flatkv or pair node's its FlatKV, FlatKV's migration marker rows taken out as the digest takes them out.
seidb cannot inspect a composite view (73f917b: `--inspect-bucket` with `--backend composite` ends in
`unknown --backend "composite" (want flatkv|memiavl)`), so a composite node's side of each pass is built
from a pass on its FlatKV and one on its memIAVL (semantic, the composite backend's decoder), combined as
digestCompositeMigrateEVM combines them:
- every FlatKV row but the marker rows, plus the memIAVL rows whose raw key (physical key minus `evm/`)
  the boundary does not cover; a shard wholly left of the boundary is dropped, one that may straddle it is
  taken whole (a healthy node deleted what it migrated; the check below catches one that did not);
- accounts are merged, not added: composite seeds each account from its FlatKV row and lets unmigrated
  memIAVL nonce / code-hash leaves overwrite fields, so both stores' account rows are listed (at most
  `list_rows` under the prefix), merged the same way, and sharded here.
A key both stores hold right of the boundary is counted twice by composite (`both_stores`: reported).
Every combined pass must hash to what the composite digest / parent pass saw, duplicates counted twice;
if not, CombineError: that bucket is not localized rather than localized wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from evmdigest.kinds import NodeSpec
from evmdigest.localize.combine import Cover, combine_shards, fold_rows, merge_accounts, shard_rows, without_markers
from evmdigest.localize.keys import EVM_PREFIX, KEY_OFFSET, MARKER_KEYS
from evmdigest.localize.model import Limits
from evmdigest.localize.passes import SIDES, Node, PassCache, SeidbPasses, Side, StoreChanged, fold, run_parallel
from evmdigest.models import (
    Backend,
    BucketDigest,
    FoundHash,
    InspectEntry,
    InspectList,
    InspectReport,
    InspectShards,
    NodeKind,
    Normalization,
)
from evmdigest.seidb.argv import DigestRequest, FindHashRequest, InspectRequest
from evmdigest.seidb.runner import SeidbRunner

_MARKER_PREFIX = b"migration/".hex()


class CombineError(StoreChanged):
    """A composite node's side of a pass cannot be combined exactly: its bucket is not localized."""


class NodePasses(SeidbPasses):
    """SeidbPasses over two nodes: `a` in the search's `flatkv` slot, `b` in its `memiavl` slot.

    `covers`: each composite side's boundary; `both_stores`: (side, bucket, key) -> (FlatKV, memIAVL logical) of
    keys a composite node holds on both stores right of its boundary, as the list passes met them."""

    def __init__(
        self,
        runner: SeidbRunner,
        a: NodeSpec,
        b: NodeSpec,
        height: int,
        normalization: Normalization,
        *,
        covers: dict[Side, Cover],
        limits: Limits,
        cache: PassCache | None = None,
    ) -> None:
        # Node carries the height and the memIAVL decoder of a memiavl node; its dirs are not read here
        super().__init__(runner, Node(_dir(a), _dir(b), height, normalization), cache)
        self.a, self.b, self.covers, self.limits = a, b, covers, limits
        self.both_stores: dict[tuple[Side, str, str], tuple[str, str]] = {}
        self._markers: dict[Side, dict[str, str]] = {}

    def spec(self, side: Side) -> NodeSpec:
        return self.a if side == "flatkv" else self.b

    # ---- one store's pass ------------------------------------------------------------------
    def _store(
        self,
        spec: NodeSpec,
        store: Backend,
        bucket: str,
        prefix: str,
        list_limit: int | None,
        width: int,
        *,
        key_offset: int = KEY_OFFSET,
    ) -> InspectReport:
        memiavl = store is Backend.MEMIAVL
        composite = spec.kind is NodeKind.COMPOSITE
        request = InspectRequest(
            backend=store,
            db_dir=spec.memiavl_dir if memiavl else spec.flatkv_dir,  # type: ignore[arg-type]
            height=self.node.height,
            bucket=bucket,
            key_offset=key_offset,
            key_prefix=prefix,
            shard_next_bytes=None if list_limit is not None else width,
            list_pairs=list_limit is not None,
            list_limit=list_limit,
            normalization=(Normalization.SEMANTIC if composite else self.node.normalization) if memiavl else None,
        )
        # unchecked here: the caller checks what the side's rows add up to
        return self._inspect_one(request, None, partial=True)

    def markers(self, side: Side) -> dict[str, str]:
        """FlatKV's migration marker rows on `side` (physical key -> logical), listed once per run."""
        if side not in self._markers:
            report = self._store(self.spec(side), Backend.FLATKV, "misc", _MARKER_PREFIX, 16, 1, key_offset=0)
            assert isinstance(report, InspectList)
            self._markers[side] = {k: e.logical for k, e in report.entries.items() if k in MARKER_KEYS}
        return self._markers[side]

    # ---- a side of a pass ------------------------------------------------------------------
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
        def job(side: Side) -> InspectReport:
            report, rows = self._side(side, bucket, prefix, list_limit, width, partial)
            want = None if partial else expected[side]
            if want is not None and rows != want:
                spec = self.spec(side)
                what = f"{spec.name} ({spec.kind.value}) {bucket} prefix {prefix or '(all)'}"
                raise CombineError(
                    f"{what}: its rows add up to count={rows.count} {rows.digest[:16]}…, but the digest / previous "
                    f"pass saw count={want.count} {want.digest[:16]}…"
                    + (
                        "; a composite side may hold memIAVL rows left of the boundary, or an account field that "
                        "is zero in memIAVL (inspect cannot tell a zero leaf from none)"
                        if spec.kind is NodeKind.COMPOSITE
                        else "; the store changed since, localize again"
                    )
                )
            return report

        jobs: dict[Side, Callable[[], InspectReport]] = {side: _bind(job, side) for side in sides}
        return run_parallel(jobs)

    def _side(
        self, side: Side, bucket: str, prefix: str, list_limit: int | None, width: int, partial: bool
    ) -> tuple[InspectReport, BucketDigest]:
        spec = self.spec(side)
        if spec.kind is NodeKind.MEMIAVL:
            report = self._store(spec, Backend.MEMIAVL, bucket, prefix, list_limit, width)
            _complete(report, partial, spec, bucket, prefix)
            return report, fold(report)
        markers = self.markers(side) if bucket == "misc" else {}
        if spec.kind is not NodeKind.COMPOSITE:
            report = self._store(spec, Backend.FLATKV, bucket, prefix, list_limit, width)
            _complete(report, partial, spec, bucket, prefix)
            report = without_markers(report, markers, prefix, width)
            return report, fold(report)
        return self._composite(side, spec, bucket, prefix, list_limit, width, partial, markers)

    def _composite(
        self,
        side: Side,
        spec: NodeSpec,
        bucket: str,
        prefix: str,
        list_limit: int | None,
        width: int,
        partial: bool,
        markers: dict[str, str],
    ) -> tuple[InspectReport, BucketDigest]:
        cover = self.covers[side]
        listing = bucket == "account" or list_limit is not None
        limit = (list_limit if partial else max(list_limit or 0, self.limits.list_rows)) if listing else None
        reports = run_parallel(
            {
                "flatkv": lambda: self._store(spec, Backend.FLATKV, bucket, prefix, limit, width),
                "memiavl": lambda: self._store(spec, Backend.MEMIAVL, bucket, prefix, limit, width),
            }
        )
        flat, mem = reports["flatkv"], reports["memiavl"]
        if not listing:
            assert isinstance(flat, InspectShards) and isinstance(mem, InspectShards)
            return combine_shards(bucket, prefix, width, flat, mem, markers, cover)
        assert isinstance(flat, InspectList) and isinstance(mem, InspectList)
        for store, report in ((Backend.FLATKV, flat), (Backend.MEMIAVL, mem)):
            if report.listed < report.matched and not partial:
                raise CombineError(
                    f"{spec.name} (composite) {bucket} prefix {prefix or '(all)'}: its {store.value} holds "
                    f"{report.matched} rows there, more than {limit} listed; the composite "
                    + ("merge of account rows needs every row listed" if bucket == "account" else "side needs them")
                )
        rows, total = self._combine_lists(side, bucket, flat, mem, markers)
        if list_limit is None:  # an account shard pass, answered from the merged listing
            return shard_rows(rows, prefix, width, flat), total
        entries = {k: InspectEntry(logical=v) for k, v in sorted(rows.items())[: list_limit if partial else None]}
        listed = InspectList(
            form=flat.form, version=flat.version, bucket=flat.bucket, key_offset=flat.key_offset,
            key_prefix=flat.key_prefix, matched=total.count, listed=len(entries), list_limit=list_limit,
            entries=entries,
        )  # fmt: skip
        return listed, total

    def _combine_lists(
        self, side: Side, bucket: str, flat: InspectList, mem: InspectList, markers: dict[str, str]
    ) -> tuple[dict[str, str], BucketDigest]:
        """The composite rows under the prefix (key -> logical) and what they hash to, duplicates twice."""
        cover = self.covers[side]
        fk = {k: e.logical for k, e in flat.entries.items() if k not in markers}
        mk = {k: e.logical for k, e in mem.entries.items()}
        if bucket == "account":
            rows = merge_accounts(fk, mk, cover)
            return rows, fold_rows(rows.items())
        unmigrated = {k: v for k, v in mk.items() if not cover.migrated(bytes.fromhex(k)[len(EVM_PREFIX) :])}
        for key in fk.keys() & unmigrated.keys():
            self.both_stores[(side, bucket, key)] = (fk[key], unmigrated[key])
        total = fold_rows([*fk.items(), *unmigrated.items()])
        return unmigrated | fk, total  # a key on both stores shows FlatKV's value; both_stores names it

    # ---- find-hash -------------------------------------------------------------------------
    def find_hash(self, side: Side, bucket: str, entry: str, expected: BucketDigest | None) -> list[FoundHash]:
        spec, node = self.spec(side), self.node
        if spec.kind is NodeKind.COMPOSITE:
            scan = DigestRequest.composite(spec.flatkv_dir, spec.memiavl_dir, node.height)  # type: ignore[arg-type]
        elif spec.kind is NodeKind.MEMIAVL:
            scan = DigestRequest(Backend.MEMIAVL, spec.memiavl_dir, node.height, node.normalization)  # type: ignore[arg-type]
        else:
            scan = DigestRequest(Backend.FLATKV, spec.flatkv_dir, node.height)  # type: ignore[arg-type]
        result = self.runner.run_find_hash(FindHashRequest(scan, entry))
        with self._count_lock:
            self.seidb_runs += 1
        if result.report.version != node.height:
            raise StoreChanged(f"{scan.label} find-hash: opened version {result.report.version}, not {node.height}")
        if expected is not None and result.report.bucket(bucket) != expected:
            raise StoreChanged(f"{scan.label} find-hash: the {bucket} bucket is not what the digest saw")
        return [hit for hit in result.hits if hit.bucket in ({bucket, "legacy"} if bucket == "misc" else {bucket})]


def _bind(job: Callable[[Side], InspectReport], side: Side) -> Callable[[], InspectReport]:
    return lambda: job(side)


def _dir(spec: NodeSpec) -> Path:
    found = spec.flatkv_dir or spec.memiavl_dir
    assert found is not None  # a NodeSpec always has its kind's dirs
    return found


def _complete(report: InspectReport, partial: bool, spec: NodeSpec, bucket: str, prefix: str) -> None:
    if isinstance(report, InspectList) and report.listed < report.matched and not partial:
        raise StoreChanged(
            f"{spec.name} {bucket} prefix {prefix or '(all)'}: {report.matched} rows match but {report.listed} listed"
        )
