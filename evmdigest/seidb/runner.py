"""SeidbRunner: one configured seidb binary, each command run through the safe process runner.

`run_digest` is the digest report (parsed live by the one report parser), `run_inspect` an inspect
pass (the inspect parser), `run_find_hash` a digest scan plus its FOUND-HASH hits; `run_lines` runs
any request of argv.py with the caller's line consumers. Failures are typed: SeidbNotFound,
SeidbFailed (both tails), SeidbTimeout, ReportError (with the command and the stdout tail attached).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from evmdigest.models import DigestReport, FoundHash, InspectReport
from evmdigest.seidb.argv import DigestRequest, FindHashRequest, InspectRequest, SeidbRequest, build_argv, help_argv
from evmdigest.seidb.errors import SeidbFailed, SeidbNotFound, SeidbTimeout
from evmdigest.seidb.inspect import InspectParser, parse_found_hash
from evmdigest.seidb.parse import ReportParser
from evmdigest.seidb.process import (
    LineConsumer,
    ProcessResult,
    ProcessRunner,
    ProcessStartError,
    ProcessTimeout,
    Stream,
)

LineCallback = Callable[[Stream, str], None]
HELP_TIMEOUT_S = 30.0


@dataclass
class ScanResult:
    request: DigestRequest
    report: DigestReport
    argv: list[str]
    json_output: bool
    started_at: float
    finished_at: float


@dataclass
class FindHashResult:
    """A `--find-hash` scan: its digest report and every FOUND-HASH hit, in printed order."""

    request: FindHashRequest
    report: DigestReport
    hits: list[FoundHash]
    argv: list[str]


def _with_command(exc: Exception, result: ProcessResult) -> Exception:
    exc.add_note(f"command: {' '.join(result.argv)}\n--- stdout tail ---\n{result.stdout_tail}")
    return exc


class SeidbRunner:
    """One configured seidb binary. `--json` support is detected once per binary file."""

    _json_support: dict[tuple[object, ...], bool] = {}  # noqa: RUF012 - a process-wide cache
    _lock = threading.Lock()

    def __init__(
        self,
        binary: str | Path,
        *,
        timeout: float = 3600.0,
        env: Mapping[str, str] | None = None,
        run_tag: str | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout: must be > 0 seconds, got {timeout}")
        self.binary = str(binary)
        self.timeout = timeout
        self.env = dict(env or {})
        self.run_tag = run_tag
        self.process = ProcessRunner(env=self.env, run_tag=run_tag)

    def resolve(self) -> str:
        found = shutil.which(self.binary)
        if found is None:
            path = Path(self.binary)
            reason = "is not executable" if path.exists() else "was not found (not a file, not on PATH)"
            raise SeidbNotFound(self.binary, reason)
        return found

    def supports_json(self) -> bool:
        binary = self.resolve()
        stat = Path(binary).stat()
        # The configured env is part of the key: a wrapper may pick its build from it.
        key = (os.path.realpath(binary), stat.st_mtime_ns, stat.st_size, tuple(sorted(self.env.items())))
        with self._lock:
            if key not in self._json_support:
                self._json_support[key] = self._probe_json(binary)
            return self._json_support[key]

    def _probe_json(self, binary: str) -> bool:
        seen: list[bool] = []

        def look(line: str) -> None:
            if "--json" in line:
                seen.append(True)

        try:
            result = self._run(help_argv(binary), timeout=HELP_TIMEOUT_S, stdout=[look], stderr=[look])
        except SeidbTimeout:
            return False  # the scan itself will surface a hung binary
        return result.exit_code == 0 and bool(seen)

    def _run(
        self,
        argv: list[str],
        *,
        timeout: float,
        stdout: Sequence[LineConsumer] = (),
        stderr: Sequence[LineConsumer] = (),
        after_kill: Callable[[], None] | None = None,
    ) -> ProcessResult:
        try:
            return self.process.run(argv, timeout=timeout, stdout=stdout, stderr=stderr, after_kill=after_kill)
        except ProcessStartError as exc:
            raise SeidbNotFound(argv[0], f"could not be started ({exc.strerror})") from exc
        except ProcessTimeout as exc:
            error = SeidbTimeout(exc.argv, exc.timeout, exc.stdout_tail, exc.stderr_tail)
            for note in getattr(exc, "__notes__", []):
                error.add_note(note)
            raise error from None

    def run_lines(
        self,
        request: SeidbRequest,
        *,
        stdout: Sequence[LineConsumer] = (),
        stderr: Sequence[LineConsumer] = (),
        json_output: bool | None = None,
        after_kill: Callable[[], None] | None = None,
    ) -> ProcessResult:
        """Run `request`, feeding each line to its stream's consumers as it arrives.

        Raises SeidbFailed on a non-zero exit, then the first error a consumer raised (a parser's
        ReportError, say) with the command and stdout tail noted; `after_kill` runs after any kill.
        """
        binary = self.resolve()
        use_json = self.supports_json() if json_output is None else json_output
        argv = build_argv(binary, request, json_output=use_json)
        result = self._run(argv, timeout=self.timeout, stdout=stdout, stderr=stderr, after_kill=after_kill)
        if result.exit_code != 0:
            raise SeidbFailed(argv, result.exit_code, result.stdout_tail, result.stderr_tail)
        if result.consumer_error is not None:
            raise _with_command(result.consumer_error, result)
        return result

    def run_digest(
        self,
        request: DigestRequest,
        *,
        on_line: LineCallback | None = None,
        json_output: bool | None = None,
        after_kill: Callable[[], None] | None = None,
    ) -> ScanResult:
        """One digest report, parsed while seidb prints it; `on_line(stream, line)` sees every line."""
        use_json = self.supports_json() if json_output is None else json_output
        parser = ReportParser()
        stdout: list[LineConsumer] = [parser.feed]
        stderr: list[LineConsumer] = []
        if on_line is not None:
            stdout.append(lambda line: on_line("stdout", line))
            stderr.append(lambda line: on_line("stderr", line))
        result = self.run_lines(request, stdout=stdout, stderr=stderr, json_output=use_json, after_kill=after_kill)
        try:
            report = parser.finish()
        except Exception as exc:
            _with_command(exc, result)
            raise
        return ScanResult(request, report, result.argv, use_json, result.started_at, result.finished_at)

    def run_inspect(self, request: InspectRequest, *, json_output: bool | None = None) -> InspectReport:
        """One `--inspect-bucket` pass (shards or a listing), parsed while seidb prints it."""
        parser = InspectParser()
        result = self.run_lines(request, stdout=[parser.feed], json_output=json_output)
        try:
            return parser.finish()
        except Exception as exc:
            _with_command(exc, result)
            raise

    def run_find_hash(self, request: FindHashRequest, *, json_output: bool | None = None) -> FindHashResult:
        """A digest scan that hunts one entry hash: the report and its FOUND-HASH hits (either stream:
        `--json` builds narrate on stderr)."""
        parser = ReportParser()
        hits: list[FoundHash] = []

        def hunt(line: str) -> None:
            hit = parse_found_hash(line)
            if hit is not None:
                hits.append(hit)

        result = self.run_lines(request, stdout=[parser.feed, hunt], stderr=[hunt], json_output=json_output)
        try:
            report = parser.finish()
        except Exception as exc:
            _with_command(exc, result)
            raise
        return FindHashResult(request, report, hits, result.argv)
