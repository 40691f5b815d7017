"""exits.py: one exit-code table, and every failure printed as one line + hint (never a traceback)."""

from __future__ import annotations

import io

import pytest

from evmdigest.exits import DEBUG_ENV, ExitCode, Failure, OrchestrationUnavailable, exit_code_of, print_failure


class _SeidbLike(Exception):
    """Shaped like SeidbFailed: a multi-line message, a hint, and seidb's own `exit_code`."""

    hint = "read seidb's error"
    exit_code = 1


def _printed(exc: BaseException) -> tuple[list[str], int]:
    out = io.StringIO()
    code = print_failure(exc, stream=out)
    return out.getvalue().splitlines(), code


def test_a_failure_is_one_line_and_its_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    lines, code = _printed(Failure("the sink refused the write\nsecond line of detail", hint="check credentials"))
    assert lines == ["evm-digest: the sink refused the write", "hint: check credentials"]
    assert code == ExitCode.FAILED


def test_orchestration_unavailable_exits_3() -> None:
    lines, code = _printed(OrchestrationUnavailable("Prefect API x is unreachable", hint="retry later"))
    assert code == 3 and lines[0] == "evm-digest: Prefect API x is unreachable"


def test_an_exception_with_a_hint_is_expected_and_its_own_exit_code_is_not_ours() -> None:
    lines, code = _printed(_SeidbLike("seidb exited with code 1: seidb evm-logical-digest\n--- stdout ---\nboom"))
    assert lines == ["evm-digest: seidb exited with code 1: seidb evm-logical-digest", "hint: read seidb's error"]
    assert code == 2  # seidb's exit code 1 would read as "digests differ"
    assert exit_code_of(Failure("x", exit_code=3)) == 3


def test_an_unexpected_error_says_so_and_shows_its_traceback_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    try:
        raise KeyError("boom")
    except KeyError as exc:
        error = exc
    lines, code = _printed(error)
    assert lines[0] == "evm-digest: unexpected error: KeyError: 'boom'"
    assert lines[1].startswith("hint: this looks like a bug; run again with EVMDIGEST_DEBUG=1")
    assert code == 2 and not any("Traceback" in line for line in lines)
    monkeypatch.setenv(DEBUG_ENV, "1")
    lines, _ = _printed(error)
    assert "Traceback (most recent call last):" in lines
