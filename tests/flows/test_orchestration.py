"""orchestration.py: which failures mean "Prefect unavailable" (exit 3), and tracebacks kept off the console.

The exceptions are built the way httpx and Prefect raise them; the console test runs a record through
Prefect's real console handler (after Prefect configured logging).
"""

from __future__ import annotations

import logging

import httpx
import pytest

from evmdigest.exits import OrchestrationUnavailable
from flows import orchestration

CLOSED = "http://127.0.0.1:9/api"


def test_preflight_refuses_a_closed_port_quickly_and_skips_ephemeral_mode() -> None:
    with pytest.raises(OrchestrationUnavailable) as err:
        orchestration.preflight({"PREFECT_API_URL": CLOSED})
    assert str(err.value).startswith(f"Prefect API {CLOSED} is unreachable: ")
    assert err.value.exit_code == 3 and "retry" in str(err.value.hint)
    orchestration.preflight({})  # no URL: the ephemeral server's start is judged when it happens


def test_credentials_in_the_api_url_are_not_shown() -> None:
    with pytest.raises(OrchestrationUnavailable) as err:
        orchestration.preflight({"PREFECT_API_URL": "http://user:s3cret@127.0.0.1:9/api"})
    assert "s3cret" not in str(err.value) and "s3cret" not in str(err.value.hint)


def _status_error(code: int) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", "http://127.0.0.1:4200/api/flow_runs/")
    return httpx.HTTPStatusError("server said no", request=request, response=httpx.Response(code, request=request))


def _raised_from(cause: BaseException, outer: BaseException) -> BaseException:
    try:
        try:
            raise cause
        except BaseException as exc:
            raise outer from exc
    except BaseException as final:
        return final


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), True),
        (httpx.ReadTimeout("timed out"), True),
        (_status_error(503), True),
        (_status_error(500), True),
        (_status_error(404), False),
        (_status_error(422), False),
        (RuntimeError("Timed out while attempting to connect to ephemeral Prefect API server."), True),
        (_raised_from(httpx.ConnectError("refused"), RuntimeError("Failed to reach API at http://x/api/")), True),
        (_raised_from(httpx.ConnectError("refused"), ValueError("wrapped")), True),
        (RuntimeError("something else"), False),
        (ValueError("node: bad label"), False),
    ],
)
def test_which_failures_mean_orchestration_unavailable(error: BaseException, unavailable: bool) -> None:
    mapped = orchestration.unavailable(error, {"PREFECT_API_URL": "http://127.0.0.1:4200/api"})
    assert (mapped is not None) is unavailable
    if mapped is not None:
        assert mapped.exit_code == 3 and str(mapped).startswith("Prefect API http://127.0.0.1:4200/api is unavailable")


def test_console_lines_lose_their_traceback_but_other_handlers_keep_it() -> None:
    import flows.evm_logical_digest  # noqa: F401  (Prefect configures its logging on import)

    console = next(h for h in logging.getLogger().handlers if type(h).__name__ == "PrefectConsoleHandler")
    orchestration.quiet_console_tracebacks()
    orchestration.quiet_console_tracebacks()  # idempotent
    try:
        raise ValueError("inner detail")
    except ValueError as exc:
        record = logging.LogRecord(
            "prefect.flow_runs", logging.ERROR, __file__, 1, "run failed", None, (type(exc), exc, exc.__traceback__)
        )
    record.flow_run_name = "quiet-test"  # what Prefect's run logger adds
    assert console.formatter is not None
    shown = console.formatter.format(record)
    assert "run failed" in shown and "Traceback" not in shown and "inner detail" not in shown
    stored = logging.Formatter().format(record)  # what the API handler formats: the detail is kept
    assert "Traceback" in stored and "inner detail" in stored
    assert record.exc_info is not None
