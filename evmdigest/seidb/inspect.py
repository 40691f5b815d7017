"""One parser for `seidb evm-logical-digest --inspect-bucket` output (text and JSON), and one for FOUND-HASH.

Text, as the real binary prints it: the `key=.. logical=..` lines stream out during the scan, so they
come BEFORE `version:` and the `inspect bucket=..` header; memIAVL adds `  memiavl inspect total
leaves=<n>` before `version:`. memIAVL prints its accounts in map order: entries are a map, never a
sequence to compare line by line. The parser fails closed: counts must add up, every key must match
the prefix it was listed under, and nothing may be half there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from evmdigest.models import (
    HEX,
    HEX64,
    BucketDigest,
    FoundHash,
    InspectEntry,
    InspectList,
    InspectReport,
    InspectShards,
)
from evmdigest.seidb.errors import ReportError

_KEY_LINE = re.compile(r"^key=([0-9A-Fa-f]*) logical=([0-9A-Fa-f]*)(?: (\S.*))?$")
_SHARD_LINE = re.compile(r"^shard=([0-9A-Fa-f]*) count=(\d+) bucket_digest=([0-9A-Fa-f]{64})$")
_HEADER_LINE = re.compile(r"^inspect bucket=(\S*) key_offset=(\d+) key_prefix=([0-9A-Fa-f]*) matched=(\d+)$")
_LISTED_LINE = re.compile(r"^listed=(\d+) list_limit=(-?\d+)$")
_VERSION_LINE = re.compile(r"^version: (\d+)$")
_TOTAL_LINE = re.compile(r"^memiavl inspect total leaves=(\d+)$")
_FOUND = re.compile(r"^FOUND-HASH bucket=(\S+) keyhex=(\S*) logicalhex=(\S*) rawhex=(\S*)$")


class InspectParser:
    """Line-fed: a listing of millions of keys is parsed without holding the output."""

    def __init__(self) -> None:
        self._line_no = 0
        self._fields: dict[str, Any] = {}
        self._entries: dict[str, InspectEntry] = {}
        self._shards: dict[str, BucketDigest] = {}
        self._json: InspectReport | None = None

    def feed_lines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.feed(line)

    def _set(self, key: str, value: Any) -> None:
        if key in self._fields and self._fields[key] != value:
            raise ReportError(key, f"two conflicting values {self._fields[key]!r} and {value!r}", line_no=self._line_no)
        self._fields[key] = value

    def feed(self, raw_line: str) -> None:
        self._line_no += 1
        line = raw_line.rstrip("\r\n")
        stripped = line.strip()
        if stripped.startswith("{"):
            self._feed_json(stripped)
        elif stripped.startswith("key="):
            self._feed_key(stripped)
        elif stripped.startswith("shard="):
            self._feed_shard(stripped)
        elif stripped.startswith("inspect "):
            match = _HEADER_LINE.match(stripped)
            if not match:
                raise ReportError("inspect", f"malformed header line {stripped!r}", line_no=self._line_no)
            bucket, offset, prefix, matched = match.groups()
            self._set("bucket", bucket)
            self._set("key_offset", int(offset))
            self._set("key_prefix", prefix.upper())
            self._set("matched", int(matched))
        elif stripped.startswith("listed="):
            match = _LISTED_LINE.match(stripped)
            if not match:
                raise ReportError("listed", f"malformed line {stripped!r}", line_no=self._line_no)
            self._set("listed", int(match.group(1)))
            self._set("list_limit", int(match.group(2)))
        elif stripped.startswith("version:"):
            match = _VERSION_LINE.match(stripped)
            if not match:
                raise ReportError("version", f"malformed line {stripped!r}", line_no=self._line_no)
            self._set("version", int(match.group(1)))
        elif match := _TOTAL_LINE.match(stripped):
            self._set("total_leaves", int(match.group(1)))
        # anything else is narration: progress (`  ...`), seilog and storage-engine lines

    def _feed_key(self, stripped: str) -> None:
        match = _KEY_LINE.match(stripped)
        if not match:
            raise ReportError("entries", f"malformed key line {stripped!r}", line_no=self._line_no)
        _add_entry(self._entries, *match.groups(), line_no=self._line_no)

    def _feed_shard(self, stripped: str) -> None:
        match = _SHARD_LINE.match(stripped)
        if not match or not HEX.match(match.group(1)):
            raise ReportError("shards", f"malformed shard line {stripped!r}", line_no=self._line_no)
        shard, count, digest = match.groups()
        _add_shard(self._shards, shard, int(count), digest, line_no=self._line_no)

    def _feed_json(self, stripped: str) -> None:
        try:
            obj = json.loads(stripped)
        except json.JSONDecodeError as exc:
            if '"inspect_bucket"' in stripped:
                raise ReportError("json", f"malformed JSON inspect report: {exc.msg}", line_no=self._line_no) from exc
            return
        if not isinstance(obj, dict) or "inspect_bucket" not in obj:
            return  # a structured log line
        report = _from_json(obj, self._line_no)
        if self._json is not None and self._json != report:
            raise ReportError("json", "two conflicting JSON inspect reports", line_no=self._line_no)
        self._json = report

    def finish(self) -> InspectReport:
        if self._json is not None:
            if self._fields or self._entries or self._shards:
                raise ReportError("inspect", "a JSON inspect report mixed with text inspect lines")
            return self._json
        for key in ("version", "bucket", "matched"):
            if key not in self._fields:
                raise ReportError(key, "missing (no `version:` / `inspect bucket=..` line): output incomplete")
        fields = {"form": "text", **self._fields}
        if "listed" in fields:
            if self._shards:
                raise ReportError("shards", "shard lines in a --list output")
            return _checked_list(fields, self._entries)
        if self._entries:
            raise ReportError("listed", "key lines but no `listed=` line: output incomplete")
        return _checked_shards(fields, self._shards)


def _add_entry(entries: dict[str, InspectEntry], key: str, logical: str, meta: str | None, *, line_no: int) -> None:
    if not HEX.match(key) or not key:
        raise ReportError("entries.key", f"expected even-length hex, got {key!r}", line_no=line_no)
    if not HEX.match(logical):
        raise ReportError("entries.logical", f"expected even-length hex, got {logical!r}", line_no=line_no)
    key = key.upper()
    if key in entries:
        raise ReportError("entries", f"key {key} listed twice", line_no=line_no)
    entries[key] = InspectEntry(logical=logical, meta=meta or None)


def _add_shard(shards: dict[str, BucketDigest], shard: str, count: int, digest: str, *, line_no: int) -> None:
    shard = shard.lower()
    if shard in shards:
        raise ReportError("shards", f"shard {shard} printed twice", line_no=line_no)
    if not HEX64.match(digest):
        raise ReportError("shards", f"shard {shard}: digest {digest!r} is not 64 hex", line_no=line_no)
    shards[shard] = BucketDigest(count=count, digest=digest)


def _validated(model: type[InspectShards] | type[InspectList], fields: dict[str, Any]) -> InspectReport:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ReportError(".".join(str(part) for part in error["loc"]) or "inspect", error["msg"]) from exc


def _matches(key_hex: str, offset: int, prefix_hex: str) -> bool:
    return bytes.fromhex(key_hex)[offset:].startswith(bytes.fromhex(prefix_hex))


def _checked_list(fields: dict[str, Any], entries: dict[str, InspectEntry]) -> InspectReport:
    report = _validated(InspectList, {**fields, "entries": entries})
    assert isinstance(report, InspectList)
    if len(entries) != report.listed:
        raise ReportError("listed", f"says {report.listed} but {len(entries)} key lines were printed")
    expected = report.matched if report.list_limit <= 0 else min(report.matched, report.list_limit)
    if report.listed != expected:
        raise ReportError("listed", f"{report.listed} with matched={report.matched} list_limit={report.list_limit}")
    for key in entries:
        if not _matches(key, report.key_offset, report.key_prefix):
            where = f"key_prefix {report.key_prefix} at offset {report.key_offset}"
            raise ReportError("entries", f"key {key} does not have {where}")
    return report


def _checked_shards(fields: dict[str, Any], shards: dict[str, BucketDigest]) -> InspectReport:
    report = _validated(InspectShards, {**fields, "shards": shards})
    assert isinstance(report, InspectShards)
    total = sum(shard.count for shard in shards.values())
    if total != report.matched:
        raise ReportError("shards", f"counts add up to {total}, not matched={report.matched}: output incomplete")
    for shard in shards:
        if not shard.startswith(report.key_prefix.lower()):
            raise ReportError("shards", f"shard {shard} does not start with key_prefix {report.key_prefix}")
    return report


def _int(obj: dict[str, Any], key: str, line_no: int, default: int | None = None) -> int:
    value = obj.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ReportError(key, f"expected an integer, got {value!r}", line_no=line_no)
    return value


def _from_json(obj: dict[str, Any], line_no: int) -> InspectReport:
    # sei-chain's JSON omits empty fields (list_limit 0, listed 0, no entries / shards)
    fields: dict[str, Any] = {"form": "json", "bucket": obj.get("inspect_bucket")}
    for key in ("version", "key_offset", "matched"):
        fields[key] = _int(obj, key, line_no)
    for key in ("backend", "mode"):
        if obj.get(key) not in (None, ""):
            fields[key] = obj[key]
    if "requested_height" in obj:
        fields["requested_height"] = _int(obj, "requested_height", line_no)
    prefix = obj.get("key_prefix") or ""
    if not isinstance(prefix, str) or not HEX.match(prefix):
        raise ReportError("key_prefix", f"expected hex, got {prefix!r}", line_no=line_no)
    fields["key_prefix"] = prefix.upper()
    if obj.get("list") is True:
        entries: dict[str, InspectEntry] = {}
        for entry in _records(obj, "entries", line_no):
            name, logical, meta = entry.get("key"), entry.get("logical"), entry.get("meta")
            if not isinstance(name, str) or not isinstance(logical, str) or not isinstance(meta, str | None):
                raise ReportError("entries", f"malformed entry {entry!r}", line_no=line_no)
            _add_entry(entries, name, logical, meta, line_no=line_no)
        fields |= {"listed": _int(obj, "listed", line_no, 0), "list_limit": _int(obj, "list_limit", line_no, 0)}
        return _checked_list(fields, entries)
    if obj.get("list") not in (False, None):
        raise ReportError("list", f"expected a boolean, got {obj.get('list')!r}", line_no=line_no)
    shards: dict[str, BucketDigest] = {}
    for shard in _records(obj, "shards", line_no):
        label, count, digest = shard.get("shard"), shard.get("count"), shard.get("digest")
        if not (isinstance(label, str) and HEX.match(label) and isinstance(count, int) and isinstance(digest, str)):
            raise ReportError("shards", f"malformed shard {shard!r}", line_no=line_no)
        _add_shard(shards, label, count, digest, line_no=line_no)
    fields["shard_next_bytes"] = _int(obj, "shard_next_bytes", line_no, 0)
    return _checked_shards(fields, shards)


def _records(obj: dict[str, Any], key: str, line_no: int) -> list[dict[str, Any]]:
    value = obj.get(key) or []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ReportError(key, "expected a list of objects", line_no=line_no)
    return value


def parse_inspect(text: str | bytes) -> InspectReport:
    """Parse one inspect run's output (text or JSON, narration included) or raise ReportError."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    parser = InspectParser()
    parser.feed_lines(text.split("\n"))
    return parser.finish()


def parse_found_hash(line: str) -> FoundHash | None:
    """A `FOUND-HASH ...` line -> FoundHash; None for any other line; ReportError if it is malformed."""
    stripped = line.strip()
    if not stripped.startswith("FOUND-HASH"):
        return None
    match = _FOUND.match(stripped)
    if not match:
        raise ReportError("found_hash", f"malformed line {stripped!r}")
    bucket, key, logical, raw = match.groups()
    try:
        return FoundHash.model_validate({"bucket": bucket, "key": key, "logical": logical, "raw": raw})
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ReportError(f"found_hash.{error['loc'][0]}", error["msg"]) from exc


def found_hashes(text: str | bytes) -> list[FoundHash]:
    """Every FOUND-HASH hit in a digest run's output, in printed order."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return [hit for line in text.split("\n") if (hit := parse_found_hash(line)) is not None]
