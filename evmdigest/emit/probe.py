"""Write-once probe: refuse to publish to a store that would let a second run overwrite a sealed verdict.

Sealed verdicts rely on the store refusing a conditional write to an existing key (S3:
`If-None-Match: *` answered 412; folder: link(2) failing with EEXIST). Some S3-compatible stores
(older MinIO, some gateways) ignore the header and overwrite. Before the first publish to a sink
in a process, and in the flow's preflight, the probe writes a small object to a fixed key twice
through the sink's one emission path, skipping the existence pre-check: the first write may land or
already be refused (a probe from an earlier run), the second MUST be refused. Nothing is deleted, so
no permission beyond the PutObject and GetObject that publishing needs is used.

    ensure_write_once(sink)                                   # raises OverwritingStore, cached per sink
    ensure_write_once(sink, allow_overwriting_store=True)     # logs a warning and carries on
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from evmdigest.emit.errors import SinkConflict, SinkError, SinkErrorKind
from evmdigest.emit.keys import PROBE_KEY
from evmdigest.emit.sink import Sink
from evmdigest.emit.stream import json_writer

log = logging.getLogger("evmdigest.emit")

OPT_OUT = "--allow-overwriting-store (DigestSink.allow_overwriting_store, flow parameter allow_overwriting_store)"
RISK = "a second run could overwrite a sealed verdict"


class OverwritingStore(SinkError):
    """The store accepted a second conditional write to the probe key: it does not enforce write-once."""

    def __init__(self, sink: Sink) -> None:
        super().__init__(
            SinkErrorKind.OTHER,
            f"the store {sink.describe()} overwrote the write-once probe object {sink.uri_for(PROBE_KEY)} "
            f"although the write was conditional (If-None-Match: *); {RISK}",
            hint=(
                "publish to a store that honours conditional writes (AWS S3, current MinIO, SeaweedFS, "
                f"Cloudflare R2, a local folder), or accept the risk explicitly with {OPT_OUT}"
            ),
            **sink.where(sink.full_key(PROBE_KEY)),
        )


def probe_write_once(sink: Sink) -> bool:
    """True if the store refused a second conditional write to PROBE_KEY (no cache: two writes each call)."""
    payload = {
        "purpose": "evm-digest write-once probe: the store must refuse to overwrite this object; safe to keep",
        "written_at": datetime.now(UTC).isoformat(),
    }
    for attempt in (1, 2):
        try:
            sink._emit(PROBE_KEY, json_writer(payload), sealed=False, check_exists=False)
        except SinkConflict:
            if attempt == 2:
                return True
    return False


_lock = threading.Lock()
_honours: dict[str, bool] = {}  # sink location (describe()) -> did the store refuse the second write
_warned: set[str] = set()


def ensure_write_once(
    sink: Sink, *, allow_overwriting_store: bool = False, warn: Callable[[str], None] | None = None
) -> bool:
    """Probe `sink` once per process (per location); True if it enforces write-once.

    A store that overwrites raises OverwritingStore, unless `allow_overwriting_store`: then `warn`
    (default: this module's logger) is told once per location and False is returned.
    Store failures (access denied, unreachable…) raise their SinkError, as a publish would.
    """
    where = sink.describe()
    with _lock:  # the flow's emit tasks run in threads: one probe per location
        honours = _honours.get(where)
        if honours is None:
            honours = _honours[where] = probe_write_once(sink)
        if honours:
            return True
        if not allow_overwriting_store:
            raise OverwritingStore(sink)
        first_warning = where not in _warned
        _warned.add(where)
    if first_warning:
        (warn or log.warning)(
            f"the store {where} does not enforce write-once (it overwrote {sink.uri_for(PROBE_KEY)} despite "
            f"If-None-Match: *); publishing anyway because the overwriting store was explicitly allowed: {RISK}"
        )
    return False
