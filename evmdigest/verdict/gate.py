"""The version gate: a digest is evidence only of the height its store actually opened."""

from __future__ import annotations

from collections.abc import Mapping

from evmdigest.models import Backend, DigestReport


class VersionGateError(Exception):
    """At least one scan opened another height than requested; nothing may be published."""

    hint = (
        "a store could not open the requested height (a memiavl snapshot missing at exactly that height, "
        "a FlatKV WAL that cannot reach it, or a build that clamps); pick a height every store holds"
    )

    def __init__(self, height: int, failures: list[str]) -> None:
        self.height = height
        self.failures = failures
        super().__init__(
            f"version gate failed at requested height {height}: " + "; ".join(failures) + f". Hint: {self.hint}"
        )


def check_versions(height: int, reports: Mapping[str, DigestReport]) -> None:
    """Raise VersionGateError naming every scan (by label) whose opened or requested height differs.

    A composite report's `version` is FlatKV's; the memIAVL side it read states its own version in the
    boundary (`memiavl_version=`), which must be the height too (unknown fails closed).
    """
    failures = []
    for label, report in reports.items():
        if report.version != height:
            failures.append(f"{label} opened version {report.version}, requested {height}")
        elif report.requested_height != height:
            failures.append(f"{label} reports requested_height {report.requested_height}, requested {height}")
        elif report.backend is Backend.COMPOSITE:
            memiavl = report.migration_boundary.memiavl_version if report.migration_boundary else None
            if memiavl != height:
                opened = "an unknown memIAVL version" if memiavl is None else f"memIAVL version {memiavl}"
                failures.append(f"{label} opened {opened} (memiavl_version), requested {height}")
    if failures:
        raise VersionGateError(height, failures)
