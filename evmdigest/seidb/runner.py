"""Run `seidb evm-logical-digest`: argv (never a shell string), live lines, timeout, typed errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from evmdigest.models import Backend, DigestReport, Normalization, OpenMode
from evmdigest.seidb.errors import ReportError, SeidbFailed, SeidbNotFound, SeidbTimeout
from evmdigest.seidb.parse import ReportParser
from evmdigest.seidb.procs import RUN_TAG_ENV, SCAN_TAG_ENV, kill_group_and_tagged, pdeathsig_prefix

Stream = Literal["stdout", "stderr"]
LineCallback = Callable[[Stream, str], None]
TAIL_BYTES = 4096
HELP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class DigestRequest:
    backend: Backend
    db_dir: Path
    height: int
    normalization: Normalization | None = None
    open_mode: OpenMode = OpenMode.SNAPSHOT

    def __post_init__(self) -> None:
        if self.backend is Backend.COMPOSITE:
            raise ValueError("backend: composite scans take two dirs and are not run by this gate yet")
        if self.backend is Backend.MEMIAVL and self.normalization is None:
            raise ValueError("normalization: a memiavl scan needs one (semantic or translator)")
        if self.backend is Backend.FLATKV and self.normalization is not None:
            raise ValueError("normalization: only memiavl scans take one; drop it for flatkv")
        if self.height < 0:
            raise ValueError(f"height: must be >= 0 (0 means current), got {self.height}")

    @property
    def label(self) -> str:
        return self.backend.value if self.normalization is None else f"memiavl/{self.normalization.value}"


def build_argv(binary: str, request: DigestRequest, *, json_output: bool) -> list[str]:
    argv = [binary, "evm-logical-digest", "--backend", request.backend.value, "--db-dir", str(request.db_dir)]
    argv += ["--height", str(request.height)]
    if request.normalization is not None:
        argv += ["--memiavl-normalization", request.normalization.value]
        argv += ["--memiavl-open-mode", request.open_mode.value]
    if json_output:
        argv.append("--json")
    return argv


@dataclass
class ScanResult:
    request: DigestRequest
    report: DigestReport
    argv: list[str]
    json_output: bool
    started_at: float
    finished_at: float


class _Tail:
    """The last TAIL_BYTES of a stream, for error messages."""

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self._size = 0

    def add(self, chunk: bytes) -> None:
        self._chunks.append(chunk[-TAIL_BYTES:])
        self._size += len(self._chunks[-1])
        while self._size > TAIL_BYTES and len(self._chunks) > 1:
            self._size -= len(self._chunks.popleft())

    def text(self) -> str:
        return b"".join(self._chunks)[-TAIL_BYTES:].decode("utf-8", errors="replace")


@dataclass
class _Pump:
    name: Stream
    pipe: IO[bytes]
    on_line: LineCallback | None
    parser: ReportParser | None
    tail: _Tail = field(default_factory=_Tail)
    error: BaseException | None = None

    def run(self) -> None:
        try:
            for raw in iter(self.pipe.readline, b""):
                self.tail.add(raw)
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if self.parser is not None and self.error is None:
                    try:
                        self.parser.feed(line)
                    except ReportError as exc:
                        self.error = exc  # keep draining so the child never blocks on a full pipe
                if self.on_line is not None:
                    self.on_line(self.name, line)
        finally:
            self.pipe.close()


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
                try:
                    help_run = subprocess.run(
                        [binary, "evm-logical-digest", "--help"],
                        capture_output=True,
                        timeout=HELP_TIMEOUT_S,
                        env=self._child_env(),
                        check=False,
                    )
                    text = help_run.stdout + help_run.stderr
                    self._json_support[key] = help_run.returncode == 0 and b"--json" in text
                except subprocess.TimeoutExpired:
                    self._json_support[key] = False  # the scan itself will surface a hung binary
            return self._json_support[key]

    def _child_env(self, scan_id: str | None = None) -> dict[str, str]:
        env = {**os.environ, **self.env}
        if scan_id is not None:
            env[SCAN_TAG_ENV] = scan_id
        if self.run_tag is not None:
            env[RUN_TAG_ENV] = self.run_tag
        return env

    def run_digest(
        self,
        request: DigestRequest,
        *,
        on_line: LineCallback | None = None,
        json_output: bool | None = None,
    ) -> ScanResult:
        binary = self.resolve()
        use_json = self.supports_json() if json_output is None else json_output
        argv = build_argv(binary, request, json_output=use_json)
        scan_id = uuid.uuid4().hex
        parser = ReportParser()
        started = time.time()
        try:
            proc = subprocess.Popen(
                pdeathsig_prefix() + argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self._child_env(scan_id),
                start_new_session=True,
            )
        except OSError as exc:
            raise SeidbNotFound(binary, f"could not be started ({exc.strerror})") from exc
        assert proc.stdout is not None and proc.stderr is not None
        pumps = [_Pump("stdout", proc.stdout, on_line, parser), _Pump("stderr", proc.stderr, on_line, None)]
        threads = [threading.Thread(target=p.run, name=f"seidb-{p.name}", daemon=True) for p in pumps]
        for thread in threads:
            thread.start()
        deadline = started + self.timeout
        try:
            exit_code = proc.wait(timeout=max(0.0, deadline - time.time()))
            for thread in threads:  # a grandchild may still hold the pipes open
                thread.join(timeout=max(0.0, deadline - time.time()))
            if any(thread.is_alive() for thread in threads):
                raise subprocess.TimeoutExpired(argv, self.timeout)
        except subprocess.TimeoutExpired:
            self._reap(proc, scan_id, threads)
            raise SeidbTimeout(argv, self.timeout, pumps[0].tail.text(), pumps[1].tail.text()) from None
        except BaseException:
            self._reap(proc, scan_id, threads)  # cancellation or Ctrl-C must not leave the scan running
            raise
        finished = time.time()
        stdout_tail, stderr_tail = pumps[0].tail.text(), pumps[1].tail.text()
        if exit_code != 0:
            raise SeidbFailed(argv, exit_code, stdout_tail, stderr_tail)
        try:
            if pumps[0].error is not None:
                raise pumps[0].error
            report = parser.finish()
        except ReportError as exc:
            exc.add_note(f"command: {' '.join(argv)}\n--- stdout tail ---\n{stdout_tail}")
            raise
        return ScanResult(request, report, argv, use_json, started, finished)

    @staticmethod
    def _reap(proc: subprocess.Popen[bytes], scan_id: str, threads: list[threading.Thread]) -> None:
        kill_group_and_tagged(proc.pid, SCAN_TAG_ENV, scan_id)
        proc.wait()
        for thread in threads:
            thread.join(timeout=5)
