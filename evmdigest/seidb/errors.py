"""Typed failures of the seidb contract layer. Each message names what went wrong and the fix."""

from __future__ import annotations

from collections.abc import Sequence


class SeidbError(Exception):
    """Base of every failure to obtain a trustworthy digest report from seidb."""

    hint: str = ""


class ReportError(SeidbError, ValueError):
    """seidb output that does not hold a complete, self-consistent report: fail closed."""

    def __init__(self, field: str, problem: str, *, line_no: int | None = None) -> None:
        where = f" (line {line_no})" if line_no is not None else ""
        super().__init__(f"seidb report {field}: {problem}{where}")
        self.field = field
        self.problem = problem
        self.line_no = line_no
        self.hint = "the report is unusable as evidence; re-run the scan and inspect seidb's full output"


class SeidbNotFound(SeidbError):
    def __init__(self, binary: str, reason: str) -> None:
        super().__init__(
            f"seidb binary {binary!r} {reason}; set the SeidbCli block's `path` (or pass --seidb PATH, "
            "or EVMDIGEST_SEIDB) to an executable seidb, e.g. one built by scripts/build-seidb"
        )
        self.binary = binary
        self.hint = "configure the seidb path"


def _render_tails(stdout_tail: str, stderr_tail: str) -> str:
    parts = []
    for name, tail in (("stdout", stdout_tail), ("stderr", stderr_tail)):
        body = tail.rstrip("\n") or "(empty)"
        parts.append(f"--- {name} (last {len(tail.encode())} bytes) ---\n{body}")
    return "\n".join(parts)


class SeidbFailed(SeidbError):
    """Non-zero exit. seidb prints its error on stdout and cobra on stderr, so both tails are kept."""

    def __init__(self, argv: Sequence[str], exit_code: int, stdout_tail: str, stderr_tail: str) -> None:
        self.argv = list(argv)
        self.exit_code = exit_code
        self.stdout_tail = stdout_tail
        self.stderr_tail = stderr_tail
        self.hint = "read seidb's own error in the tails below; a wrong --db-dir or missing snapshot is typical"
        super().__init__(
            f"seidb exited with code {exit_code}: {' '.join(self.argv)}\n{_render_tails(stdout_tail, stderr_tail)}"
        )


class SeidbTimeout(SeidbError):
    def __init__(self, argv: Sequence[str], timeout: float, stdout_tail: str, stderr_tail: str) -> None:
        self.argv = list(argv)
        self.timeout = timeout
        self.stdout_tail = stdout_tail
        self.stderr_tail = stderr_tail
        self.hint = "raise the scan timeout (SeidbCli.timeout / --timeout) if the store is simply large"
        super().__init__(
            f"seidb timed out after {timeout:g}s and its process group was killed: {' '.join(self.argv)}\n"
            f"{_render_tails(stdout_tail, stderr_tail)}"
        )
