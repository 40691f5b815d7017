"""A real Prefect API for flow tests: one `prefect_test_harness` per session (it starts a server)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prefect.testing.utilities import prefect_test_harness


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """The API URL of a temporary Prefect server with its own database, shared by the session."""
    with prefect_test_harness(server_startup_timeout=120):
        from prefect.settings import PREFECT_API_URL

        url = PREFECT_API_URL.value()
        assert url, "prefect_test_harness did not configure an API URL"
        yield url


def read_events(api_url: str, event_prefix: str, *, resource_id: str | None = None) -> list[dict[str, Any]]:
    """Events the server has stored whose name starts with `event_prefix` (the UI's event feed)."""
    body: dict[str, Any] = {"filter": {"event": {"prefix": [event_prefix]}, "order": "ASC"}, "limit": 50}
    if resource_id:
        body["filter"]["resource"] = {"id": [resource_id]}
    response = httpx.post(f"{api_url}/events/filter", json=body, timeout=30)
    response.raise_for_status()
    events: list[dict[str, Any]] = response.json()["events"]
    return events


@pytest.fixture
def scan_log(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A file seidb-sim appends one JSON line per scan to (backend, normalization, start, end, pid)."""
    path = tmp_path / "scans.ndjson"
    monkeypatch.setenv("SEIDB_SIM_SCAN_LOG", str(path))
    return path
