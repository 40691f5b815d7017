"""Typed failures of the seidb contract layer. Each message names what went wrong and the fix."""

from __future__ import annotations

import signal
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


def render_tails(stdout_tail: str, stderr_tail: str) -> str:
    parts = []
    for name, tail in (("stdout", stdout_tail), ("stderr", stderr_tail)):
        body = tail.rstrip("\n") or "(empty)"
        parts.append(f"--- {name} (last {len(tail.encode())} bytes) ---\n{body}")
    return "\n".join(parts)


def strip_usage(text: str) -> str:
    """`text` without cobra's usage block (`Usage:` to the end; cobra prints it last) or its help pointer."""
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if line.rstrip("\r\n") == "Usage:":
            lines = lines[:index]
            break
    return "".join(line for line in lines if not line.startswith("Run 'seidb --help' for usage."))


def flag_value(argv: Sequence[str], name: str) -> str | None:
    for index, arg in enumerate(argv):
        if arg == name and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def scan_label(argv: Sequence[str]) -> str:
    """What a seidb command line scans, for one-line messages: `memiavl/semantic at 213200000`, ..."""
    backend = flag_value(argv, "--backend") or "seidb"
    normalization = flag_value(argv, "--memiavl-normalization")
    label = f"{backend}/{normalization}" if backend == "memiavl" and normalization else backend
    if bucket := flag_value(argv, "--inspect-bucket"):
        label += f" inspect {bucket}"
    if "--find-hash" in argv:
        label += " find-hash"
    height = flag_value(argv, "--height")
    return f"{label} at {height}" if height is not None else label


class _OneLine(SeidbError):
    """One line for terminals and state messages (`one_line`, `hint`); the detail in `details`."""

    def __init__(self, one_line: str, hint: str, details: str) -> None:
        self.one_line = one_line
        self.hint = hint
        self.details = details
        super().__init__(f"{one_line} — hint: {hint}" if hint else one_line)

    def __reduce__(self) -> tuple[object, ...]:
        # Prefect may pickle a task's exception; rebuild from the state, not through __init__'s arguments.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


def _rebuild(cls: type[BaseException], args: tuple[object, ...], state: dict[str, object]) -> BaseException:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class SeidbFailed(_OneLine):
    """Non-zero exit, classified by failures.classify. seidb prints its error on stdout and cobra
    repeats it on stderr with the usage text; the usage is dropped, both tails stay in `details`."""

    def __init__(
        self,
        argv: Sequence[str],
        exit_code: int,
        stdout_tail: str,
        stderr_tail: str,
        *,
        reason: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.argv = list(argv)
        self.exit_code = exit_code
        self.stdout_tail = stdout_tail
        self.stderr_tail = strip_usage(stderr_tail)
        self.reason = reason or f"seidb exited with code {exit_code}"
        details = f"command: {' '.join(self.argv)}\n{render_tails(stdout_tail, self.stderr_tail)}"
        hint = hint if hint is not None else "seidb's full output is in the task log (debug level)"
        super().__init__(f"{scan_label(self.argv)}: {self.reason}", hint, details)


class SeidbTimeout(_OneLine):
    def __init__(self, argv: Sequence[str], timeout: float, stdout_tail: str, stderr_tail: str) -> None:
        self.argv = list(argv)
        self.timeout = timeout
        self.stdout_tail = stdout_tail
        self.stderr_tail = strip_usage(stderr_tail)
        super().__init__(
            f"{scan_label(self.argv)}: seidb timed out after {timeout:g}s and was stopped",
            "raise the scan timeout (SeidbCli.timeout / --timeout) if the store is simply large",
            f"command: {' '.join(self.argv)}\n{render_tails(stdout_tail, self.stderr_tail)}",
        )


class SeidbInterrupted(_OneLine):
    """The run was interrupted (SIGINT/SIGTERM): the scan was stopped and its clone removed."""

    def __init__(self, argv: Sequence[str], signum: int, stdout_tail: str, stderr_tail: str) -> None:
        self.argv = list(argv)
        self.signum = signum
        name = signal.Signals(signum).name if signum in signal.Signals.__members__.values() else str(signum)
        super().__init__(
            f"{scan_label(self.argv)}: stopped because the run received {name}",
            "",
            f"command: {' '.join(self.argv)}\n{render_tails(stdout_tail, strip_usage(stderr_tail))}",
        )


class FlatKVDirUnusable(_OneLine):
    """Preflight: seidb could not clone FlatKV inside its dir (not writable, or too little free space)."""

    def __init__(self, flatkv_dir: str, reason: str, hint: str) -> None:
        self.flatkv_dir = flatkv_dir
        self.reason = reason
        super().__init__(f"FlatKV dir {flatkv_dir}: {reason}", hint, reason)
