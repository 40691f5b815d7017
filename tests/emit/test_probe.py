"""The write-once probe on both test servers, on a folder, and behind a proxy that strips If-None-Match.

The stripping proxy plays a store that ignores conditional writes (older MinIO, some gateways); it
re-signs what it forwards, so SeaweedFS (which checks SigV4) sees a valid request without the header.
"""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import pytest

from evmdigest.emit import Sink, SinkError, SinkErrorKind, open_sink
from evmdigest.emit.probe import PROBE_KEY, OverwritingStore, ensure_write_once, probe_write_once
from tests.plugins.s3 import Fault, FaultProxy, S3Target


def _s3(target: S3Target, prefix: str = "evm") -> Sink:
    return open_sink(target.url(prefix), endpoint_url=target.endpoint_url, max_attempts=1)


def _puts(proxy: FaultProxy) -> list[int]:
    """Statuses of the probe's PUTs through the proxy (a refused write is followed by a GET of its seal)."""
    return [status for method, path, status in proxy.log if method == "PUT" and PROBE_KEY in path]


def test_a_store_that_honours_if_none_match_passes_once_per_location(
    s3_bucket: S3Target, s3_fault_proxy: FaultProxy
) -> None:
    sink = _s3(s3_fault_proxy.target(s3_bucket))
    assert ensure_write_once(sink) is True
    assert _puts(s3_fault_proxy) in ([200, 412], [412, 412])  # first may land or meet an earlier probe; second refused
    probe = s3_bucket.client().get_object(Bucket=s3_bucket.bucket, Key=f"evm/{PROBE_KEY}")["Body"].read()
    assert "write-once probe" in json.loads(gzip.decompress(probe))["purpose"]

    seen = len(s3_fault_proxy.log)
    assert ensure_write_once(sink) is True  # cached for this location: no more requests
    assert ensure_write_once(_s3(s3_fault_proxy.target(s3_bucket))) is True  # same location, new Sink
    assert len(s3_fault_proxy.log) == seen
    assert probe_write_once(sink) is True  # uncached: an existing probe object is refused twice
    assert _puts(s3_fault_proxy)[2:] == [412, 412]


def test_a_store_that_ignores_if_none_match_is_refused(s3_bucket: S3Target, s3_fault_proxy: FaultProxy) -> None:
    s3_fault_proxy.strip_headers("If-None-Match")
    sink = _s3(s3_fault_proxy.target(s3_bucket), prefix="refused")
    with pytest.raises(OverwritingStore) as info:
        ensure_write_once(sink)
    text = str(info.value)
    assert "\n" not in text
    assert s3_fault_proxy.endpoint_url in text and f"s3://{s3_bucket.bucket}/refused" in text
    assert "a second run could overwrite a sealed verdict" in text and "--allow-overwriting-store" in text
    assert not info.value.retryable
    assert _puts(s3_fault_proxy) == [200, 200]  # both conditional writes landed: the overwrite it exists for
    with pytest.raises(OverwritingStore):
        ensure_write_once(sink)  # the verdict is cached too


def test_the_opt_out_warns_once_and_proceeds(
    s3_bucket: S3Target, s3_fault_proxy: FaultProxy, caplog: pytest.LogCaptureFixture
) -> None:
    s3_fault_proxy.strip_headers("If-None-Match")
    sink = _s3(s3_fault_proxy.target(s3_bucket), prefix="allowed")
    warnings: list[str] = []
    assert ensure_write_once(sink, allow_overwriting_store=True, warn=warnings.append) is False
    assert ensure_write_once(sink, allow_overwriting_store=True, warn=warnings.append) is False
    assert len(warnings) == 1
    assert s3_fault_proxy.endpoint_url in warnings[0] and "a second run could overwrite" in warnings[0]
    with pytest.raises(OverwritingStore):
        ensure_write_once(sink)  # allowed by one caller is not allowed for all

    caplog.set_level(logging.WARNING, logger="evmdigest.emit")
    other = _s3(s3_fault_proxy.target(s3_bucket), prefix="allowed-too")
    assert ensure_write_once(other, allow_overwriting_store=True) is False
    assert "explicitly allowed" in caplog.text


def test_a_folder_sink_runs_the_same_probe_and_passes(tmp_path: Path) -> None:
    sink = open_sink(tmp_path.as_uri())
    assert ensure_write_once(sink) is True
    assert (tmp_path / PROBE_KEY).is_file()
    assert probe_write_once(sink) is True  # link(2) refuses to replace the existing probe object
    assert sink.list_keys() == []  # bookkeeping like intents and claims: never listed as a record
    assert sink.list_keys(include_control=True) == [PROBE_KEY]
    assert not [p for p in (tmp_path / ".evm-digest").iterdir() if p.name != "write-once-probe"]  # no temp left


def test_store_failures_surface_as_what_they_are(s3_bucket: S3Target, s3_fault_proxy: FaultProxy) -> None:
    """A probe that cannot write (no PutObject permission) fails like a publish would, not as 'overwrites'."""
    s3_fault_proxy.inject(Fault(403, "AccessDenied", method="PUT"))
    with pytest.raises(SinkError) as info:
        ensure_write_once(_s3(s3_fault_proxy.target(s3_bucket), prefix="denied"))
    assert not isinstance(info.value, OverwritingStore) and info.value.kind is SinkErrorKind.ACCESS_DENIED
    assert "AccessDenied" in str(info.value) and "s3:PutObject" in str(info.value)
