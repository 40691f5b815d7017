"""Is Prefect there? The one place that decides which failures mean "orchestration unavailable" (exit 3).

`preflight()` asks PREFECT_API_URL's /health before Prefect is even imported, so a dead API is reported
in about a second, not after Prefect's import and retries. `unavailable()` recognises the same fault
when it surfaces later: httpx transport errors, 5xx answers, Prefect's "Failed to reach API" and its
ephemeral server's start timeout. `quiet_console_tracebacks()` keeps tracebacks out of the terminal
while Prefect's API log handler still stores them with the run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from evmdigest.exits import OrchestrationUnavailable, one_line

API_URL_ENV = "PREFECT_API_URL"
HEALTH_TIMEOUT_S = 5.0
# Prefect raises these as plain RuntimeErrors; their text is the only handle on them.
_PREFECT_UNREACHABLE = ("Failed to reach API at", "ephemeral Prefect API server")


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.username or parts.password:
        parts = parts._replace(netloc=parts.hostname or "")
    return urlunsplit(parts)


def _hint(url: str | None) -> str:
    if url:
        return f"start the Prefect server at {url} (or fix PREFECT_API_URL), then retry; nothing was scanned"
    return (
        "the temporary Prefect server did not start (busy machine?): retry, or run `prefect server start` "
        "and set PREFECT_API_URL; nothing was scanned"
    )


def preflight(environ: Mapping[str, str] | None = None) -> None:
    """Raise OrchestrationUnavailable unless PREFECT_API_URL (when set) answers /health below 500."""
    env = os.environ if environ is None else environ
    url = env.get(API_URL_ENV)
    if not url:
        return  # ephemeral mode: a failing start is recognised by unavailable()
    shown = _redacted(url)
    headers = {"Authorization": f"Bearer {env['PREFECT_API_KEY']}"} if env.get("PREFECT_API_KEY") else {}
    try:
        response = httpx.get(f"{url.rstrip('/')}/health", headers=headers, timeout=HEALTH_TIMEOUT_S)
    except httpx.HTTPError as exc:
        reason = one_line(exc) or type(exc).__name__
        raise OrchestrationUnavailable(f"Prefect API {shown} is unreachable: {reason}", hint=_hint(shown)) from None
    if response.status_code >= 500:
        raise OrchestrationUnavailable(
            f"Prefect API {shown} answered HTTP {response.status_code} to /health", hint=_hint(shown)
        )


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _is_orchestration_fault(exc: BaseException) -> bool:
    if isinstance(exc, httpx.TransportError):
        return True
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code >= 500
    return isinstance(exc, RuntimeError) and any(text in str(exc) for text in _PREFECT_UNREACHABLE)


def unavailable(exc: BaseException, environ: Mapping[str, str] | None = None) -> OrchestrationUnavailable | None:
    """An OrchestrationUnavailable if `exc` (or what caused it) means Prefect could not be reached or started."""
    if isinstance(exc, OrchestrationUnavailable):
        return exc
    for link in _chain(exc):
        if _is_orchestration_fault(link):
            url = (os.environ if environ is None else environ).get(API_URL_ENV)
            shown = _redacted(url) if url else None
            where = f"Prefect API {shown}" if shown else "the temporary Prefect server"
            return OrchestrationUnavailable(f"{where} is unavailable: {one_line(link)}", hint=_hint(shown))
    return None


class _NoTraceback(logging.Formatter):
    """Formats with the wrapped formatter, leaving out exc_info/stack_info (the API handler keeps them)."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            return self.inner.format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


def quiet_console_tracebacks() -> None:
    """Strip tracebacks from Prefect's console handlers (call after Prefect configured logging)."""
    for name in ("", "prefect", "uvicorn", "fastapi"):
        for handler in logging.getLogger(name).handlers:
            console = type(handler).__name__ == "PrefectConsoleHandler"
            if console and not isinstance(handler.formatter, _NoTraceback):
                handler.setFormatter(_NoTraceback(handler.formatter))


def run_flow(start: Callable[[], Any]) -> Any:
    """`start()` (a flow call returning its state) behind the API preflight; an orchestration fault on the
    way becomes OrchestrationUnavailable (exit 3). Shared by `run`/`demo` and `fleet`."""
    preflight()
    if not os.environ.get(API_URL_ENV):
        # The ephemeral server's telemetry races its own SQLite file and prints a harmless traceback.
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    try:
        return start()
    except Exception as exc:
        mapped = unavailable(exc)
        if mapped is None:
            raise
        raise mapped from exc
