"""What a person reads about a scan's progress: the artifact description, the log line, the table cell."""

from __future__ import annotations

from evmdigest.progress.tracker import Phase, Snapshot


def duration(seconds: float) -> str:
    """<1 s, 45 s, 12 min 5 s, 2 h 3 min."""
    whole = max(0, round(seconds))
    if whole < 1:
        return "<1 s"
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def _about(seconds: float) -> str:
    text = duration(seconds)
    return text if text.startswith("<") else f"~{text}"


def _rows(count: int) -> str:
    return f"{count:,}"


def measured(snap: Snapshot) -> str:
    """`42% of ~2,900,000 rows (1,234,567 so far), 52,300 rows/s, ~32 s left`, or what part of it is known."""
    parts = []
    if snap.rows is not None and snap.expected is not None and snap.percent is not None:
        parts.append(f"{snap.percent:g}% of ~{_rows(snap.expected)} rows ({_rows(snap.rows)} so far)")
    elif snap.rows is not None:
        parts.append(f"{_rows(snap.rows)} rows so far")
    if snap.rate:
        parts.append(f"{_rows(round(snap.rate))} rows/s")
    if snap.eta is not None:
        parts.append(f"{_about(snap.eta)} left")
    return ", ".join(parts)


NO_REFERENCE = "no percent: no sealed record for this node and no finished scan to compare with yet"


def describe(snap: Snapshot, title: str) -> str:
    """The progress artifact's description: the phase first (a progress bar only holds a number)."""
    head = f"**{snap.phase.value}** · {title}"
    if snap.phase is Phase.DONE:
        rows = f"{_rows(snap.rows)} rows in " if snap.rows is not None else ""
        return f"{head}: {rows}{duration(snap.elapsed)}"
    if snap.phase in (Phase.FAILED, Phase.CANCELLED):
        reason = snap.reason.strip().splitlines()[0] if snap.reason.strip() else ""
        return f"{head} after {duration(snap.elapsed)}" + (f": {reason}" if reason else "")
    if snap.phase in (Phase.PENDING, Phase.OPENING):
        return f"{head}: opening the store"
    text = measured(snap)
    reference = f"expected rows from the {snap.reference.source}" if snap.reference else NO_REFERENCE
    return f"{head}: {text or 'waiting for the first progress line'} ({reference})"


def log_line(snap: Snapshot) -> str:
    """The INFO line for the run log: `flatkv: scanning 42% of ~2,900,000 rows (…), 52,300 rows/s, ~32 s left`."""
    text = measured(snap) or "no progress line yet"
    suffix = "" if snap.reference else " (no reference count, so no estimate)"
    return f"{snap.label}: {snap.phase.value} {text}{suffix}"


def table_state(snap: Snapshot) -> str:
    """The in-flight table's state cell: pending, opening, scanning 42%, finalizing, done, failed, cancelled."""
    if snap.phase is Phase.SCANNING and snap.percent is not None:
        return f"scanning {snap.percent:g}%"
    return snap.phase.value


def table_row(snap: Snapshot) -> dict[str, str]:
    rows = "" if snap.rows is None else _rows(snap.rows)
    left = "" if snap.eta is None else _about(snap.eta)
    return {"scan": snap.label, "state": table_state(snap), "rows": rows, "time left": left}
