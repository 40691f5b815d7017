"""Exit codes every console command shares, and how an expected failure reaches the terminal.

A failure is shown as `evm-digest: <one line>` and, when it carries one, `hint: <what to do>`; never a
traceback (Prefect's stored logs keep the detail). Any exception may take part: a `hint` attribute is
printed and `one_line` (else the first line of `str(exc)`) is the message. A `Failure` (or subclass)
also chooses the exit code; any other exception exits 2.
"""

from __future__ import annotations

import os
import sys
import traceback
from enum import IntEnum
from typing import TextIO

DEBUG_ENV = "EVMDIGEST_DEBUG"  # set to print the traceback of an unexpected error as well


class ExitCode(IntEnum):
    OK = 0  # run: every normalization matches, or nothing to seal
    MISMATCH = 1  # run: digests differ, records published
    FAILED = 2  # nothing published: parameters, gate, seidb, sink, tampering
    ORCHESTRATION = 3  # the Prefect API is unreachable or the ephemeral server failed: retry later
    SIGINT = 130
    SIGTERM = 143


RUN_EXIT_CODES = """\
exit codes (run and demo):
  0    every normalization matches, or nothing to seal
  1    digests differ (the mismatch records are published)
  2    nothing published: a parameter, the version gate, seidb or the sink failed
  3    orchestration unavailable (PREFECT_API_URL unreachable, or the temporary
       Prefect server failed to start): nothing was scanned; retry later
  130  interrupted (SIGINT); 143 terminated (SIGTERM)"""

VERIFY_EXIT_CODES = """\
exit codes (verify):
  0    the object re-hashes to its seal (and to --sha256)
  1    mismatch, missing seal or tampered object
  2    the object or its store could not be reached"""

FLEET_EXIT_CODES = """\
exit codes (fleet):
  0    complete: every node sealed, all nodes agree and each node's stores match
  1    a disagreement between nodes or a node's own mismatch (odd nodes on the last line)
  2    incomplete (a node failed or timed out; the others are sealed) or bad input
  3    orchestration unavailable (PREFECT_API_URL unreachable, or the temporary
       Prefect server failed to start); retry later
  130  interrupted (SIGINT); 143 terminated (SIGTERM)"""

COMMON_EXIT_CODES = """\
exit codes (parse, schema): 0 ok, 2 the input is unusable.
Every failure prints `evm-digest: <one line>` and, where there is one, `hint: <what to do>`.
Set EVMDIGEST_DEBUG=1 to see the traceback of an unexpected error."""


class Failure(Exception):
    """An expected failure: one line for the terminal, a hint for the operator, the exit code for scripts."""

    exit_code: int = ExitCode.FAILED

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code


class OrchestrationUnavailable(Failure):
    """Prefect could not be reached or started; nothing was scanned or published. A later retry can succeed."""

    exit_code = ExitCode.ORCHESTRATION


def one_line(exc: BaseException) -> str:
    line = getattr(exc, "one_line", None)
    if isinstance(line, str) and line:
        return line
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return first or type(exc).__name__


def exit_code_of(exc: BaseException) -> int:
    # Only a Failure chooses its code: other exceptions' `exit_code` (SeidbFailed's) is seidb's own.
    return int(exc.exit_code) if isinstance(exc, Failure) else int(ExitCode.FAILED)


def is_expected(exc: BaseException) -> bool:
    return isinstance(exc, Failure) or bool(getattr(exc, "hint", None))


def print_failure(exc: BaseException, *, prog: str = "evm-digest", stream: TextIO | None = None) -> int:
    """Print the failure as one line (+ hint); return the exit code a script should see."""
    out = stream or sys.stderr
    hint = getattr(exc, "hint", None)
    if is_expected(exc):
        print(f"{prog}: {one_line(exc)}", file=out)
    else:
        print(f"{prog}: unexpected error: {type(exc).__name__}: {one_line(exc)}", file=out)
        hint = hint or f"this looks like a bug; run again with {DEBUG_ENV}=1 for the traceback and report it"
    if hint:
        print(f"hint: {hint}", file=out)
    if os.environ.get(DEBUG_ENV):
        traceback.print_exception(exc, file=out)
    return exit_code_of(exc)
