"""One parser for every `seidb evm-logical-digest` output form: seed-era text, current text, --json.

It fails closed: a report is returned only when every field the verdict rests on is present, well
formed, unambiguous, and the final digest re-derives from the four bucket accumulators. JSON reports
may be one line (seidb --json) or pretty-printed (jq, `json.dumps(indent=2)`).

A little over 300 lines on purpose: one line-fed state machine reads every form, so a text report and
a JSON report in one output can be cross-checked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from evmdigest.digest import final_digest
from evmdigest.models import (
    BUCKET_NAMES,
    BUCKETS,
    HEX64,
    LEGACY_BUCKET,
    Backend,
    BucketDigest,
    DigestReport,
    Generation,
    ZeroCensus,
    fourth_bucket_name,
)
from evmdigest.seidb.boundary import CompositeNarration, boundary_from_json, boundary_from_normalization
from evmdigest.seidb.errors import ReportError
from evmdigest.seidb.textform import BANNER_HEADER, CENSUS_HEADER, HEADER_KEYS, INT_KEYS, REPORT_HEADER, final_label

REQUIRED_KEYS = ("backend", "requested_height", "version")

_NAMES = "|".join(BUCKET_NAMES)
_FOURTH = f"{BUCKETS[3]}|{LEGACY_BUCKET}"
_BUCKET_LINE = re.compile(rf"^({_NAMES})\s+count=(\S*)\s+bucket_digest=(\S*)\s*$")
_BUCKET_START = re.compile(rf"^({_NAMES})\s+count=")
_FINAL_LINE = re.compile(r"^FINAL_DIGEST\s+(\S+)\s+count=(\S*)\s+digest=(\S*)\s*$")
_MARKER_LINE = re.compile(rf"^flatkv_marker_adjustment: omitted (\S+) from ({_FOURTH}) bucket in final result$")
_CENSUS_FIELDS = frozenset(ZeroCensus.model_fields)
_JSON_REPORT_KEYS = frozenset({"final", "requested_height", "account"})
_JSON_BLOCK_MAX_LINES = 10_000  # a pretty-printed report is ~60 lines; a longer "block" is narration


def _int_field(field: str, raw: str, line_no: int | None) -> int:
    if not raw.isdigit():
        raise ReportError(field, f"expected a non-negative integer, got {raw!r}", line_no=line_no)
    return int(raw)


def _bucket(field: str, count: Any, digest: Any, line_no: int | None) -> BucketDigest:
    if isinstance(count, str):
        count = _int_field(f"{field}.count", count, line_no)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ReportError(f"{field}.count", f"expected a non-negative integer, got {count!r}", line_no=line_no)
    if not isinstance(digest, str) or not HEX64.match(digest):
        raise ReportError(f"{field}.digest", f"expected 64 hex characters, got {digest!r}", line_no=line_no)
    return BucketDigest(count=count, digest=digest)


class ReportParser:
    """Line-fed parser, so a runner can parse a million-line narration without holding it."""

    def __init__(self) -> None:
        self._line_no = 0
        self._in_report = False
        self._in_header = False
        self._in_census = False
        self._text: dict[str, Any] = {}
        self._text_seen = False
        self._buckets: dict[str, tuple[BucketDigest, int]] = {}
        self._final: tuple[str, BucketDigest, int] | None = None
        self._markers: list[tuple[str, str]] = []
        self._census: dict[str, int] = {}
        self._json: DigestReport | None = None
        self._json_block: list[str] | None = None  # lines of a pretty-printed JSON object being collected
        self._narration = CompositeNarration()

    def feed_narration(self, line: str) -> None:
        """A line of the other stream (stderr): only composite count lines are read from it."""
        self._narration.feed(line)

    def feed_lines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.feed(line)

    def feed(self, raw_line: str) -> None:
        self._line_no += 1
        line = raw_line.rstrip("\r\n")
        if self._json_block is not None or line == "{":
            self._feed_json_block(line)
        else:
            self._feed_line(line)

    def _feed_line(self, line: str) -> None:
        stripped = line.strip()
        if not stripped:
            self._in_header = False
            self._in_census = False
            return
        if stripped.startswith("{"):
            self._feed_json(stripped)
            return
        if stripped == BANNER_HEADER:
            self._in_report = self._in_header = False
            return
        if stripped == REPORT_HEADER:
            self._in_report = self._in_header = self._text_seen = True
            return
        if line.startswith(" "):
            self._narration.feed(line)
        if not self._in_report or line.startswith(" ") or stripped.startswith("FOUND-HASH "):
            return  # narration, progress lines and --find-hash hits never carry report fields
        if self._in_header:
            self._feed_header(stripped)
        elif stripped == CENSUS_HEADER:
            self._in_census = True
        elif self._in_census:
            self._feed_census(stripped)
        elif stripped.startswith("FINAL_DIGEST"):
            self._feed_final(stripped)
        elif _BUCKET_START.match(stripped):
            self._feed_bucket(stripped)
        elif stripped.startswith("flatkv_marker_adjustment:"):
            match = _MARKER_LINE.match(stripped)
            if not match:
                raise ReportError("marker_adjustments", f"malformed line {stripped!r}", line_no=self._line_no)
            self._markers.append((match.group(1), match.group(2)))

    def _set_text(self, key: str, value: Any) -> None:
        if key in self._text and self._text[key] != value:
            raise ReportError(key, f"two conflicting values {self._text[key]!r} and {value!r}", line_no=self._line_no)
        self._text[key] = value

    def _feed_header(self, stripped: str) -> None:
        key, sep, value = stripped.partition(":")
        if not sep or key not in HEADER_KEYS:
            return
        value = value.strip()
        self._set_text(key, _int_field(key, value, self._line_no) if key in INT_KEYS else value)

    def _feed_census(self, stripped: str) -> None:
        for token in stripped.split():
            name, sep, value = token.partition("=")
            if not sep or name not in _CENSUS_FIELDS:
                raise ReportError("zero_census", f"unexpected token {token!r}", line_no=self._line_no)
            self._census[name] = _int_field(f"zero_census.{name}", value, self._line_no)

    def _feed_bucket(self, stripped: str) -> None:
        match = _BUCKET_LINE.match(stripped)
        if not match:
            raise ReportError("bucket", f"malformed bucket line {stripped!r}", line_no=self._line_no)
        name, count, digest = match.groups()
        bucket = _bucket(name, count, digest, self._line_no)
        previous = self._buckets.get(name)
        if previous and previous[0] != bucket:
            raise ReportError(name, "two conflicting bucket lines", line_no=self._line_no)
        self._buckets[name] = (bucket, self._line_no)

    def _feed_final(self, stripped: str) -> None:
        match = _FINAL_LINE.match(stripped)
        if not match:
            raise ReportError("final", f"malformed FINAL_DIGEST line {stripped!r}", line_no=self._line_no)
        label, count, digest = match.groups()
        final = _bucket("final", count, digest, self._line_no)
        if self._final and (self._final[0], self._final[1]) != (label, final):
            raise ReportError("final", "two conflicting FINAL_DIGEST lines", line_no=self._line_no)
        self._final = (label, final, self._line_no)

    def _feed_json(self, stripped: str) -> None:
        try:
            obj = json.loads(stripped)
        except json.JSONDecodeError as exc:
            if '"final"' in stripped or '"requested_height"' in stripped:
                raise ReportError("json", f"malformed JSON report: {exc.msg}", line_no=self._line_no) from exc
            return  # a log line that merely starts with a brace
        if not isinstance(obj, dict) or not _JSON_REPORT_KEYS.intersection(obj):
            return  # structured logs are narration too
        report = _report_from_json(obj, self._line_no)
        if self._json is not None and self._json != report:
            raise ReportError("json", "two conflicting JSON reports", line_no=self._line_no)
        self._json = report

    def _feed_json_block(self, line: str) -> None:
        # Pretty-printed JSON (jq, json.dumps(indent=...), Go's MarshalIndent) opens with a bare "{" line
        # and closes with a "}" line at column 0; the joined lines are then one JSON report.
        block = self._json_block = [*(self._json_block or []), line]
        if line.rstrip() == "}":
            self._json_block = None
            text = "\n".join(block)
            try:
                json.loads(text)
            except json.JSONDecodeError:
                self._replay(block)
                return
            self._feed_json(text)
        elif len(block) > _JSON_BLOCK_MAX_LINES:
            self._json_block = None
            self._replay(block)

    def _replay(self, lines: list[str]) -> None:
        """Lines collected as a JSON block that was not one: read them as ordinary output after all."""
        end = self._line_no
        self._line_no -= len(lines)
        for line in lines:
            self._line_no += 1
            self._feed_line(line)
        self._line_no = end

    def finish(self) -> DigestReport:
        block, self._json_block = self._json_block, None
        if block is not None:  # never closed: not a JSON report (a cut one fails closed below)
            self._replay(block)
        text_report = self._finish_text() if self._text_seen else None
        if self._json is None and text_report is None:
            raise ReportError("output", f"holds no '{REPORT_HEADER}' section and no JSON report")
        if self._json is not None and text_report is not None and _verdict(self._json) != _verdict(text_report):
            raise ReportError("report", "a JSON report and a text report disagree")
        report = self._json or text_report
        assert report is not None
        counts = self._narration.counts()
        if counts is not None and report.backend is Backend.COMPOSITE:
            report = report.model_copy(update={"composite_counts": counts})
        return report

    def _finish_text(self) -> DigestReport:
        for key in REQUIRED_KEYS:
            if key not in self._text:
                raise ReportError(key, f"missing from the '{REPORT_HEADER}' section")
        if "misc" in self._buckets and LEGACY_BUCKET in self._buckets:
            raise ReportError("misc", "both a `misc` and a `legacy` bucket line (two report generations mixed)")
        generation = Generation.LEGACY if LEGACY_BUCKET in self._buckets else Generation.MISC
        fourth = fourth_bucket_name(generation)
        for name in (*BUCKETS[:3], fourth):
            if name not in self._buckets:
                raise ReportError(name, "bucket line missing from 'Bucket digests'")
        if self._final is None:
            raise ReportError("final", "no FINAL_DIGEST line")
        label, final, line_no = self._final
        expected_label = final_label(fourth)
        if label != expected_label:
            raise ReportError("final", f"label {label!r} does not match buckets ({expected_label})", line_no=line_no)
        for marker, bucket in self._markers:
            if bucket != fourth:
                raise ReportError("marker_adjustments", f"{marker} names bucket {bucket!r}, report uses {fourth!r}")
        census = None
        if self._census:
            missing = sorted(_CENSUS_FIELDS - set(self._census))
            if missing:
                raise ReportError("zero_census", f"incomplete census, missing {', '.join(missing)}")
            census = ZeroCensus(**self._census)
        buckets = {name: self._buckets[name][0] for name in BUCKETS[:3]}
        buckets["misc"] = self._buckets[fourth][0]
        boundary = None
        if self._text["backend"] == "composite":
            boundary = boundary_from_normalization(str(self._text.get("normalization", "")))
            _require_boundary(boundary)
        return _checked(
            dict(
                generation=generation,
                **self._text,
                **buckets,
                final=final,
                marker_adjustments=tuple(marker for marker, _ in self._markers),
                zero_census=census,
                migration_boundary=boundary,
            )
        )


def _require_boundary(boundary: object, line_no: int | None = None) -> None:
    if boundary is None:
        raise ReportError(
            "migration_boundary",
            "a composite report must name its boundary (normalization `boundary=MigrationBoundary{...}`)",
            line_no=line_no,
        )


def _verdict(report: DigestReport) -> dict[str, Any]:
    return report.model_dump(include={"backend", "requested_height", "version", *BUCKETS, "final"})


def _report_from_json(obj: dict[str, Any], line_no: int) -> DigestReport:
    fields: dict[str, Any] = {"generation": Generation.JSON}
    for key in REQUIRED_KEYS:
        if key not in obj:
            raise ReportError(key, "missing from the JSON report", line_no=line_no)
    for key in INT_KEYS:
        value = obj[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ReportError(key, f"expected a non-negative integer, got {value!r}", line_no=line_no)
        fields[key] = value
    for key in ("backend", "mode", "db_dir", "source", "normalization"):
        value = obj.get(key)
        if value not in (None, "") and not isinstance(value, str):
            raise ReportError(key, f"expected a string, got {value!r}", line_no=line_no)
        if value not in (None, ""):
            fields[key] = value
    for name in (*BUCKETS, "final"):
        entry = obj.get(name)
        if not isinstance(entry, dict):
            raise ReportError(name, "bucket missing from the JSON report", line_no=line_no)
        fields[name] = _bucket(name, entry.get("count"), entry.get("digest"), line_no)
    markers = obj.get("marker_adjustments") or []
    if not isinstance(markers, list) or not all(isinstance(m, str) for m in markers):
        raise ReportError("marker_adjustments", f"expected a list of strings, got {markers!r}", line_no=line_no)
    fields["marker_adjustments"] = tuple(markers)
    if obj.get("backend") == "composite":
        fields["migration_boundary"] = boundary_from_json(obj, line_no=line_no)
        _require_boundary(fields["migration_boundary"], line_no)
    census = obj.get("zero_census")
    if census is not None:
        try:
            parsed = ZeroCensus.model_validate(census, strict=True)
        except ValidationError as exc:
            raise ReportError("zero_census", f"malformed census: {exc.errors()[0]['msg']}", line_no=line_no) from exc
        # An all-zero census is what builds without a census print; the text form omits it too.
        fields["zero_census"] = parsed if any(parsed.model_dump().values()) else None
    return _checked(fields)


def _checked(fields: dict[str, Any]) -> DigestReport:
    try:
        report = DigestReport.model_validate(fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or "report"
        raise ReportError(field, error["msg"]) from exc
    expected = final_digest({name: report.bucket(name) for name in BUCKETS})
    if report.final.count != expected.count:
        raise ReportError(
            "final.count", f"{report.final.count} is not the bucket counts' sum {expected.count} (garbled report)"
        )
    if report.final.digest != expected.digest:
        raise ReportError(
            "final.digest",
            "does not equal sha256 over the four bucket accumulators (report garbled or truncated)",
        )
    return report


def parse_report(text: str | bytes) -> DigestReport:
    """Parse one seidb digest output (any generation, narration included) or raise ReportError."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    parser = ReportParser()
    parser.feed_lines(text.split("\n"))
    return parser.finish()
