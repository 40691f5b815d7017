"""The migration boundary of a composite report, from the `normalization:` text or JSON `migration_boundary`.

seidb prints it as sei-db's `MigrationBoundary.String()` inside the normalization line:
`... boundary=MigrationBoundary{status=in_progress, module=evm, key=<hex>} version_known=false
migration_version=0 memiavl_version=<H>`. A missing marker reads `status=not_started` and changes no
digest, so the status must be read, never assumed.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from evmdigest.models import CompositeCounts, MigrationBoundary
from evmdigest.seidb.errors import ReportError

_FLATKV_ROWS = re.compile(r"^composite flatkv rows=(\d+)$")
_MEMIAVL_LEAVES = re.compile(r"^composite memiavl(?:-replay)? leaves=(\d+) consumed_unmigrated=(\d+)$")
_BOUNDARY = re.compile(r"^MigrationBoundary\{status=([a-z_]+)(?:, module=([^,}]*), key=([0-9A-Fa-f]*))?\}$")
_IN_NORMALIZATION = re.compile(
    r"boundary=(MigrationBoundary\{[^}]*\})"
    r"(?:\s+version_known=(\S+)\s+migration_version=(\S+)\s+memiavl_version=(\S+))?"
)


def _int(field: str, raw: str, line_no: int | None) -> int:
    if not raw.isdigit():
        raise ReportError(field, f"expected a non-negative integer, got {raw!r}", line_no=line_no)
    return int(raw)


def _validated(fields: dict[str, Any], line_no: int | None) -> MigrationBoundary:
    try:
        return MigrationBoundary.model_validate(fields)
    except ValidationError as exc:
        raise ReportError("migration_boundary", exc.errors()[0]["msg"], line_no=line_no) from exc


def parse_boundary_text(text: str, *, line_no: int | None = None) -> MigrationBoundary:
    """`MigrationBoundary{...}` alone (the JSON `migration_boundary` value) -> typed boundary."""
    match = _BOUNDARY.match(text.strip())
    if not match:
        raise ReportError("migration_boundary", f"not a MigrationBoundary{{...}} string: {text!r}", line_no=line_no)
    status, module, key = match.groups()
    if status not in ("not_started", "in_progress", "complete"):
        raise ReportError("migration_boundary.status", f"unknown status {status!r}", line_no=line_no)
    fields: dict[str, Any] = {"status": status}
    if module is not None:
        fields |= {"module": module, "key": key.lower()}
    return _validated(fields, line_no)


def boundary_from_normalization(normalization: str, *, line_no: int | None = None) -> MigrationBoundary | None:
    """The boundary and the version fields of a composite `normalization:` text, or None if it names none."""
    match = _IN_NORMALIZATION.search(normalization)
    if match is None:
        return None
    boundary = parse_boundary_text(match.group(1), line_no=line_no)
    known, migration_version, memiavl_version = match.group(2, 3, 4)
    if known is None:
        return boundary
    if known not in ("true", "false"):
        raise ReportError("migration_boundary.version_known", f"expected true or false, got {known!r}", line_no=line_no)
    return _validated(
        {
            **boundary.model_dump(exclude_none=True),
            "version_known": known == "true",
            "migration_version": _int("migration_boundary.migration_version", migration_version, line_no),
            "memiavl_version": _int("migration_boundary.memiavl_version", memiavl_version, line_no),
        },
        line_no,
    )


def boundary_from_json(obj: dict[str, Any], *, line_no: int | None = None) -> MigrationBoundary | None:
    """JSON reports: `migration_boundary` (string), completed by the normalization text when it has one.

    sei-chain's golden file replaces the normalization text and records the memIAVL version it held
    as `memiavl_version_in_normalization`; that is read too.
    """
    raw = obj.get("migration_boundary")
    normalization = obj.get("normalization")
    from_text = boundary_from_normalization(normalization, line_no=line_no) if isinstance(normalization, str) else None
    if raw in (None, ""):
        return from_text
    if not isinstance(raw, str):
        raise ReportError("migration_boundary", f"expected a string, got {raw!r}", line_no=line_no)
    boundary = parse_boundary_text(raw, line_no=line_no)
    if from_text is not None:
        if from_text.boundary_text() != boundary.boundary_text():
            raise ReportError("migration_boundary", "differs from the boundary in normalization", line_no=line_no)
        return from_text
    extra = obj.get("memiavl_version_in_normalization")
    if extra in (None, ""):
        return boundary
    version = _int("memiavl_version_in_normalization", str(extra), line_no)
    return _validated({**boundary.model_dump(exclude_none=True), "memiavl_version": version}, line_no)


class CompositeNarration:
    """Reads a composite scan's count lines (`composite flatkv rows=N`, `composite memiavl leaves=N
    consumed_unmigrated=M`) from narration: stdout in text builds, stderr in --json builds. They are the
    only place seidb says whether FlatKV holds rows, which the migration-state check needs."""

    def __init__(self) -> None:
        self._fields: dict[str, int] = {}

    def feed(self, line: str) -> None:
        text = line.strip()
        if not text.startswith("composite "):
            return
        if match := _FLATKV_ROWS.match(text):
            self._set("flatkv_rows", int(match.group(1)))
        elif match := _MEMIAVL_LEAVES.match(text):
            self._set("memiavl_leaves", int(match.group(1)))
            self._set("consumed_unmigrated", int(match.group(2)))

    def _set(self, name: str, value: int) -> None:
        if self._fields.get(name, value) != value:
            raise ReportError(f"composite_counts.{name}", f"two conflicting values {self._fields[name]} and {value}")
        self._fields[name] = value

    def counts(self) -> CompositeCounts | None:
        return CompositeCounts(**self._fields) if self._fields else None
