"""SeidbRunner: one configured seidb binary, each command run through the safe process runner.

`run_digest` is the digest report (parsed live by the one report parser), `run_inspect` an inspect
pass (the inspect parser), `run_find_hash` a digest scan plus its FOUND-HASH hits; `run_lines` runs
any request of argv.py with the caller's line consumers. Failures are typed and one line each:
SeidbNotFound, SeidbFailed classified from seidb's own text (failures.py), SeidbTimeout,
SeidbInterrupted, ReportError (with the command and the stdout tail attached as a note).
Every command that reads FlatKV (backend flatkv or
composite, inspect and find-hash included) is journaled, and a killed one's new clone dirs are
removed (journal.py, clones.py). seidb gets a minimal environment (process.KEEP_ENV) and, for
`--json` runs, SEI_LOG_OUTPUT=stderr unless set, so seilog lines never land beside the JSON.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from evmdigest.models import Backend, DigestReport, FoundHash, InspectReport
from evmdigest.seidb.argv import DigestRequest, FindHashRequest, InspectRequest, SeidbRequest, build_argv, help_argv
from evmdigest.seidb.errors import SeidbError, SeidbInterrupted, SeidbNotFound, SeidbTimeout
from evmdigest.seidb.failures import classify
from evmdigest.seidb.inspect import InspectParser, parse_found_hash
from evmdigest.seidb.journal import ClonedScan
from evmdigest.seidb.parse import ReportParser
from evmdigest.seidb.process import (
    LineConsumer,
    ProcessInterrupted,
    ProcessResult,
    ProcessRunner,
    ProcessStartError,
    ProcessTimeout,
    Stream,
)
from evmdigest.seidb.procs import DEFAULT_GRACE_S

LineCallback = Callable[[Stream, str], None]
HELP_TIMEOUT_S = 30.0
LOG_OUTPUT_ENV = "SEI_LOG_OUTPUT"


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


def flatkv_dir_of(request: SeidbRequest) -> Path | None:
    """The FlatKV dir a request makes seidb clone into, if it reads FlatKV at all."""
    scan = request.scan if isinstance(request, FindHashRequest) else request
    if scan.backend is Backend.FLATKV:
        return scan.db_dir
    if scan.backend is Backend.COMPOSITE:
        flatkv: Path | None = getattr(scan, "flatkv_dir", None)  # a composite request names both dirs
        return flatkv
    return None


class _CobraError:
    """Keeps the first `Error: ` line of stderr, seen live (the stderr tail may lose it under the usage)."""

    def __init__(self) -> None:
        self.text: str | None = None

    def __call__(self, line: str) -> None:
        if self.text is None and line.startswith("Error: "):
            self.text = line.removeprefix("Error: ").strip()


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
        grace: float = DEFAULT_GRACE_S,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout: must be > 0 seconds, got {timeout}")
        self.binary = str(binary)
        self.timeout = timeout
        self.env = dict(env or {})
        self.run_tag = run_tag
        self.grace = grace
        self.process = ProcessRunner(env=self.env, run_tag=run_tag, grace=grace)

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
        env: Mapping[str, str] | None = None,
    ) -> ProcessResult:
        try:
            return self.process.run(argv, timeout=timeout, stdout=stdout, stderr=stderr, after_kill=after_kill, env=env)
        except ProcessStartError as exc:
            raise SeidbNotFound(argv[0], f"could not be started ({exc.strerror})") from exc
        except (ProcessTimeout, ProcessInterrupted) as exc:
            error: SeidbError
            if isinstance(exc, ProcessTimeout):
                error = SeidbTimeout(exc.argv, exc.timeout, exc.stdout_tail, exc.stderr_tail)
            else:
                error = SeidbInterrupted(exc.argv, exc.signum, exc.stdout_tail, exc.stderr_tail)
            for note in getattr(exc, "__notes__", []):
                error.add_note(note)
            raise error from None

    def _extra_env(self, json_output: bool) -> dict[str, str]:
        # seilog writes to stdout by default, beside the one JSON object the parser reads there.
        if json_output and LOG_OUTPUT_ENV not in self.env and LOG_OUTPUT_ENV not in os.environ:
            return {LOG_OUTPUT_ENV: "stderr"}
        return {}

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

        Raises a classified SeidbFailed on a non-zero exit, then the first error a consumer raised (a
        parser's ReportError, say) with the command and stdout tail noted. A killed command's new
        FlatKV clone dirs are removed (whoever killed it), then, when we killed it, `after_kill` runs.
        """
        binary = self.resolve()
        use_json = self.supports_json() if json_output is None else json_output
        argv = build_argv(binary, request, json_output=use_json)
        cobra = _CobraError()
        flatkv_dir = flatkv_dir_of(request)
        clone = ClonedScan(flatkv_dir, self.process.run_tags()) if flatkv_dir is not None else None

        def cleanup() -> None:
            try:
                if clone is not None:
                    report = clone.cleanup()
                    if any(why.startswith("could not remove") for _, why in report.kept):
                        raise OSError(report.summary())
            finally:
                if after_kill is not None:
                    after_kill()

        left: str | None = None
        try:
            result = self._run(
                argv,
                timeout=self.timeout,
                stdout=stdout,
                stderr=[cobra, *stderr],
                after_kill=cleanup,
                env=self._extra_env(use_json),
            )
            if result.exit_code < 0 and clone is not None:
                # Killed by a signal this scan did not send (a run-tag stop from another thread, such as the
                # fleet's node timeout or a cancellation hook; the OOM killer): seidb left its clone too.
                report = clone.cleanup()
                left = report.summary() if report.kept else None
        finally:
            if clone is not None:
                clone.close()
        if result.exit_code != 0:
            failed = classify(argv, result.exit_code, result.stdout_tail, result.stderr_tail, cobra_error=cobra.text)
            if left:
                failed.add_note(left)
            raise failed
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
        stderr: list[LineConsumer] = [parser.feed_narration]  # --json builds narrate on stderr
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
