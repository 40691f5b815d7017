"""The search for one mismatched bucket's diverging keys, pass by pass (see the package docstring).

A prefix (hex after `evm/` + kind) whose rows fit `list_rows` is listed on both sides and the two
listings compared as maps; a larger one is sharded one byte deeper and only its differing shards are
followed. Each pass is checked against what its rows must hash to (verdict, then parent shard), so
the keys named are exactly the ones whose entries differ.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from evmdigest.digest import entry_hash
from evmdigest.localize.keys import MARKER_KEYS, divergent_key
from evmdigest.localize.model import BucketResult, DivergentKey, Limits, Method, Status
from evmdigest.localize.passes import SIDES, SeidbPasses, Side, fold
from evmdigest.models import BucketDigest, InspectEntry, InspectList, InspectShards

ZERO = BucketDigest(count=0, digest="0" * 64)
ADDRESS_BYTES = 20  # account, code and storage keys start with an address after `evm/` + kind
# "Every shard differs" says "bucket-wide change" only over enough shards; over a few it is a few keys.
WHOLE_BUCKET_MIN_SHARDS = 16
Expected = dict[Side, BucketDigest | None]


@dataclass
class _Prefix:
    prefix: str
    expected: Expected  # what each side's rows under the prefix hash to; None: not known yet
    width: int = 1  # bytes the next shard pass splits on

    @property
    def rows(self) -> int | None:
        counts = [digest.count if digest else None for digest in self.expected.values()]
        return None if None in counts else max(c for c in counts if c is not None)

    def sides(self) -> tuple[Side, ...]:
        # a side known to hold no row under the prefix is not scanned: its answer is already known
        return tuple(side for side in SIDES if self.expected[side] != ZERO)


@dataclass
class BucketSearch:
    passes: SeidbPasses
    bucket: str
    limits: Limits
    expected: Expected
    found: dict[str, DivergentKey] = field(default_factory=dict)
    used: int = 0
    method: Method = "none"
    shards: int | None = None
    differing: int | None = None
    capped: bool = False
    whole_bucket: bool = False
    sampled: str = ""
    empty_side: Side | None = None
    stuck: list[str] = field(default_factory=list)

    def run(self) -> BucketResult:
        """Search the bucket; the result says how far it got (never silently short)."""
        root = _Prefix("", dict(self.expected))
        flat, mem = root.expected["flatkv"], root.expected["memiavl"]
        if flat is not None and mem is not None:
            if flat == mem:
                return self._result("the bucket matches")
            if ZERO in (flat, mem):
                self._one_side_empty(root)
                return self._finish()
            if abs(flat.count - mem.count) == 1 and self._find_hash(flat, mem):
                return self._result("one entry more on one side, named by its hash (find-hash)")
        self._narrow(root)
        return self._finish()

    # ---- the shortcuts ---------------------------------------------------------------------
    def _one_side_empty(self, root: _Prefix) -> None:
        (side,) = root.sides()
        self.method, self.empty_side = "one_side_empty", "memiavl" if side == "flatkv" else "flatkv"
        self.used += 1
        # every row of the non-empty side diverges, so a listing cut at the cap is still exact
        reports = self.passes.inspect(
            self.bucket, "", root.expected, list_limit=self.limits.max_keys, sides=(side,), partial=True
        )
        report = reports[side]
        assert isinstance(report, InspectList)
        entries = {k: e for k, e in report.entries.items() if k not in MARKER_KEYS}
        self._add(entries if side == "flatkv" else {}, entries if side == "memiavl" else {})
        self.capped = report.matched > report.listed

    def _find_hash(self, flat: BucketDigest, mem: BucketDigest) -> bool:
        """One side has one entry more; if XOR of the bucket digests is that entry's hash, find-hash names it.

        Sound by the counts and the hash: that side's rows hash to the other side's XOR this one entry,
        so the other side lacks exactly this key (a changed value would add its own hash to the XOR)."""
        side: Side = "flatkv" if flat.count > mem.count else "memiavl"
        wanted = f"{int(flat.digest, 16) ^ int(mem.digest, 16):064X}"
        self.used += 1
        hits = self.passes.find_hash(side, self.bucket, wanted, self.expected[side])
        if (
            len(hits) != 1
            or entry_hash(bytes.fromhex(hits[0].key), bytes.fromhex(hits[0].logical)).hex() != wanted.lower()
        ):
            return False  # the difference is more than one extra entry: search the long way
        entry = {hits[0].key: InspectEntry(logical=hits[0].logical)}
        self.method = "find_hash"
        self._add(entry if side == "flatkv" else {}, entry if side == "memiavl" else {})
        return True

    # ---- the search ------------------------------------------------------------------------
    def _narrow(self, root: _Prefix) -> None:
        queue: deque[_Prefix] = deque([root])
        while queue and not self.capped:
            if self.used >= self.limits.max_passes:
                break
            item = queue.popleft()
            rows = item.rows
            self.used += 1
            if rows is not None and rows <= self.limits.list_rows:
                self.method = "list" if item is root else self.method
                self._list(item, rows)
            else:
                self.method = "shards"
                queue.extend(self._shard(item))
            if len(self.found) >= self.limits.max_keys and queue:
                self.capped = True  # every queued prefix differs, so at least one more key diverges
        self.stuck += [item.prefix for item in queue]
        self.expected = root.expected  # completed by the first shard pass when there was no verdict

    def _list(self, item: _Prefix, rows: int) -> int:
        sides = item.sides()
        reports = self.passes.inspect(self.bucket, item.prefix, item.expected, list_limit=rows, sides=sides)
        listed: dict[Side, dict[str, InspectEntry]] = {side: {} for side in SIDES}
        for side, report in reports.items():
            assert isinstance(report, InspectList)
            listed[side] = report.entries
        return self._add({k: e for k, e in listed["flatkv"].items() if k not in MARKER_KEYS}, listed["memiavl"])

    def _shard(self, item: _Prefix) -> list[_Prefix]:
        reports = self.passes.inspect(self.bucket, item.prefix, item.expected, sides=item.sides(), width=item.width)
        shards: dict[Side, dict[str, BucketDigest]] = {side: {} for side in SIDES}
        for side, report in reports.items():
            assert isinstance(report, InspectShards)
            shards[side] = report.shards
            if item.expected[side] is None:
                item.expected[side] = fold(report)  # no verdict to check against: the bucket as this pass saw it
        names = sorted(shards["flatkv"].keys() | shards["memiavl"].keys())
        differing = [n for n in names if shards["flatkv"].get(n, ZERO) != shards["memiavl"].get(n, ZERO)]
        if item.prefix == "":
            return self._first_split(item, names, differing, shards)
        return self._children(item, differing, shards)

    def _first_split(
        self, root: _Prefix, names: list[str], differing: list[str], shards: dict[Side, dict[str, BucketDigest]]
    ) -> list[_Prefix]:
        self.shards, self.differing = len(names), len(differing)
        if not differing:
            return []
        if ZERO in root.expected.values():
            self._one_side_empty(root)
            return []
        if len(differing) > 1 and (root.rows or 0) <= self.limits.list_rows:
            return [root]  # small after all (no verdict told us): one listing beats one per shard
        children = self._children(root, differing, shards)
        if len(names) < WHOLE_BUCKET_MIN_SHARDS or len(differing) < len(names):
            return children
        # Every shard differs: a bucket-wide change, or keys scattered over every shard. One shard tells.
        sample = min(children, key=lambda child: (child.rows or 0, child.prefix))
        rows = sample.rows or 0
        if rows <= self.limits.list_rows and self.used < self.limits.max_passes:
            self.used += 1
            differ = self._list(sample, rows)
            if differ * 2 < rows:
                return [child for child in children if child is not sample]  # scattered keys: go on
            self.sampled = f"; {differ} of the {rows} rows of shard {sample.prefix} differ (the keys named)"
        self.whole_bucket = True
        return []

    def _children(
        self, item: _Prefix, differing: list[str], shards: dict[Side, dict[str, BucketDigest]]
    ) -> list[_Prefix]:
        children = []
        for name in differing:
            if name == item.prefix:
                self.stuck.append(name)  # keys that end exactly at this prefix: no deeper shard separates them
                continue
            expected: Expected = {side: shards[side].get(name, ZERO) for side in SIDES}
            children.append(_Prefix(name, expected, _next_width(name, expected == item.expected)))
        return children

    # ---- results ---------------------------------------------------------------------------
    def _add(self, flatkv: dict[str, InspectEntry], memiavl: dict[str, InspectEntry]) -> int:
        """Name the keys whose values differ (up to the cap); return how many differ."""
        diff = sorted(
            key for key in flatkv.keys() | memiavl.keys() if _logical(flatkv.get(key)) != _logical(memiavl.get(key))
        )
        room = self.limits.max_keys - len(self.found)
        self.capped = self.capped or len(diff) > room
        for key in diff[:room]:
            self.found[key] = divergent_key(self.bucket, key, _logical(flatkv.get(key)), _logical(memiavl.get(key)))
        return len(diff)

    def _finish(self) -> BucketResult:
        if self.whole_bucket:
            return self._result(
                f"every one of the {self.shards} shards differs{self.sampled or '; no shard small enough to sample'}:"
                " a change across the whole bucket (an encoding change?), not a few keys",
                Status.WHOLE_BUCKET,
            )
        if self.capped:
            more = f"more than {self.limits.max_keys} keys diverge; the first {len(self.found)} found are named"
            if self.empty_side is not None:
                more = f"{self.empty_side} has no {self.bucket} rows at all; " + more
            return self._result(more, Status.CAPPED)
        if self.stuck:
            return self._result(
                f"{len(self.stuck)} differing prefix(es) not examined (pass limit {self.limits.max_passes}, or keys "
                "ending at a shard prefix); the keys named are a subset",
                Status.INCOMPLETE,
            )
        same = self.expected["flatkv"] == self.expected["memiavl"]
        note = "the bucket matches" if same else f"{len(self.found)} diverging key(s)"
        if self.empty_side is not None:
            note = f"{self.empty_side} has no {self.bucket} rows at all; {note}"
        return self._result(note)

    def _result(self, note: str, status: Status = Status.COMPLETE) -> BucketResult:
        return BucketResult(
            bucket=self.bucket,
            status=status,
            keys_found=len(self.found),
            passes=self.used,
            method=self.method,
            flatkv=self.expected["flatkv"],
            memiavl=self.expected["memiavl"],
            shards=self.shards,
            differing_shards=self.differing,
            unresolved=self.stuck,
            note=note,
        )

    def keys(self) -> list[DivergentKey]:
        return [self.found[key] for key in sorted(self.found)]


def _next_width(prefix: str, unsplit: bool) -> int:
    """One byte per pass, except inside an address: rows that did not split on a byte of it belong to one
    contract (storage), so the next pass goes straight to the end of the address instead of 19 more passes."""
    done = len(prefix) // 2
    return ADDRESS_BYTES - done if unsplit and done < ADDRESS_BYTES else 1


def _logical(entry: InspectEntry | None) -> str | None:
    return None if entry is None else entry.logical
