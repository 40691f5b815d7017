"""Fail closed on migration state: a node's declared kind must fit what its stores say about the migration.

A missing boundary marker changes no digest (real runs, README "A node in the middle of its migration"),
so a composite digest that matches proves nothing about the markers; these rules read them instead:
- composite, `status=not_started`, FlatKV holding rows (narration `composite flatkv rows=N`, N > 0):
  composite counts every FlatKV row AND every memIAVL leaf; on a migrating node that lost its marker the
  digest still matches, so the lost marker would go unnoticed. Unknown N (no narration seen) fails too.
- composite, `status=complete`, memIAVL still holding EVM rows (a memIAVL scan, run only then): seidb
  skips memIAVL once complete, so those rows would be silently ignored.
- pair or flatkv whose FlatKV report XORed out `migration/migration-boundary`: FlatKV holds a boundary
  marker, so the migration is under way and FlatKV alone holds only part of the state. Free: the FlatKV
  report's `flatkv_marker_adjustment` line says it, no extra scan.
Each is an error (one line naming the markers, a hint; exit 2): nothing is published for the node.
"""

from __future__ import annotations

from evmdigest.models import Backend, DigestReport, MigrationStatus, NodeKind

BOUNDARY_MARKER = "migration/migration-boundary"
VERSION_MARKER = "migration/migration-version"


class MigrationStateError(Exception):
    """The node's migration markers contradict its declared kind; nothing is published for it."""

    def __init__(self, what: str, hint: str) -> None:
        self.what = what
        self.hint = hint
        self.one_line = what
        super().__init__(f"{what}. Hint: {hint}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.what, self.hint))  # flow failures are pickled across processes


def needs_memiavl_check(kind: NodeKind, report: DigestReport) -> bool:
    """A composite node whose migration is complete: its memIAVL must be scanned to prove it empty."""
    boundary = report.migration_boundary
    return kind is NodeKind.COMPOSITE and boundary is not None and boundary.status is MigrationStatus.COMPLETE


def check_migration_state(
    kind: NodeKind, reports: list[DigestReport], memiavl_left: DigestReport | None = None
) -> None:
    """Raise MigrationStateError if the reports' markers contradict `kind`; `memiavl_left` is the memIAVL
    scan `needs_memiavl_check` asked for."""
    for report in reports:
        if report.backend is Backend.FLATKV and kind in (NodeKind.PAIR, NodeKind.FLATKV):
            _no_boundary_in_flatkv(kind, report)
        elif report.backend is Backend.COMPOSITE:
            _composite(report, memiavl_left)


def _no_boundary_in_flatkv(kind: NodeKind, report: DigestReport) -> None:
    if BOUNDARY_MARKER not in report.marker_adjustments:
        return
    raise MigrationStateError(
        f"node declared {kind.value}, but its FlatKV holds the {BOUNDARY_MARKER} marker "
        f"(`flatkv_marker_adjustment: omitted {BOUNDARY_MARKER}`): its migration is in progress and FlatKV "
        "holds only the migrated part of the EVM state",
        "declare the node composite (--kind composite, with its FlatKV and memIAVL dirs): seidb's composite "
        "backend reads the split state as one",
    )


def _composite(report: DigestReport, memiavl_left: DigestReport | None) -> None:
    boundary = report.migration_boundary
    if boundary is None:  # the parser refuses such a report; kept to fail closed
        raise MigrationStateError("composite report names no migration boundary", "check the seidb build")
    if boundary.status is MigrationStatus.NOT_STARTED:
        rows = report.composite_counts.flatkv_rows if report.composite_counts else None
        if rows == 0:
            return  # not started and FlatKV empty: the composite digest is memIAVL's alone
        held = "rows of unknown number (no `composite flatkv rows=` line seen)" if rows is None else f"{rows} rows"
        raise MigrationStateError(
            f"node declared composite, but its migration boundary reads status=not_started (neither "
            f"{BOUNDARY_MARKER} nor {VERSION_MARKER} in FlatKV) while FlatKV holds {held}: composite would "
            "count them beside every memIAVL leaf, and a migrating node that lost its boundary marker "
            "digests the same",
            f"if the node is migrating, restore its {BOUNDARY_MARKER} marker; otherwise declare it by what it "
            "holds: pair (FlatKV and memIAVL each hold the whole state) or memiavl (FlatKV holds none of it)",
        )
    if boundary.status is MigrationStatus.COMPLETE:
        if memiavl_left is None:
            raise MigrationStateError(
                f"composite node with a complete migration ({VERSION_MARKER}): memIAVL was not checked",
                "this is a bug: the flow must scan memIAVL for a completed migration",
            )
        if memiavl_left.final.count:
            raise MigrationStateError(
                f"node declared composite: FlatKV's {VERSION_MARKER} marker says the migration is complete "
                f"(migration_version={boundary.migration_version}), yet memIAVL still holds "
                f"{memiavl_left.final.count} EVM rows at height {memiavl_left.version}; composite skips memIAVL "
                "once complete, so they would go unseen",
                "find out why the migration left memIAVL rows behind before sealing; if memIAVL deliberately "
                "keeps the whole state beside a migrated FlatKV, declare the node pair",
            )
