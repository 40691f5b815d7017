"""Run one external command safely: its own session, tagged, dying with us, lines live, nothing left behind.

Every seidb command goes through `ProcessRunner.run`. The child starts in a new session (its own
process group) behind `setpriv --pdeathsig KILL` where util-linux has it, with stdin on /dev/null, a
minimal environment (`KEEP_ENV`: PATH, HOME, locale, TZ, SEI_*/SEIDB_*, plus the runner's extra env;
no cloud credentials, no PREFECT_*) and two tags its descendants inherit: the run tags and a fresh
per-process tag. One pump thread per stream decodes lines and hands each to that stream's consumers
while the child runs, keeping the last TAIL_BYTES of both streams for error messages. On timeout, on
`request_stop` (a signal to the CLI), or on any BaseException while waiting (cancellation, Ctrl-C),
`_stop` applies the one stop policy (procs.stop_processes: SIGTERM, grace, SIGKILL), the child is
reaped and the caller's `after_kill` hook runs (for what a killed command leaves behind, such as
seidb's FlatKV clone). procs.py's docstring describes the whole process-tree design.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Literal

from evmdigest.seidb.procs import (
    DEFAULT_GRACE_S,
    RUN_TAG_ENV,
    SCAN_TAG_ENV,
    active_command,
    add_tag,
    pdeathsig_prefix,
    stop_processes,
    stop_requested,
)

Stream = Literal["stdout", "stderr"]
LineConsumer = Callable[[str], None]
TAIL_BYTES = 4096
REAP_JOIN_S = 5.0  # after a kill the pipes close at once; this only bounds a pathological pump
STOP_POLL_S = 0.1
# What a child may inherit from our environment; everything else (AWS_*, PREFECT_*, tokens) stays here.
KEEP_ENV = re.compile(r"PATH|HOME|LANG|LANGUAGE|TZ|LC_[A-Z_]+|SEI_\w+|SEIDB_\w+")


def minimal_environ(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Our environment filtered by KEEP_ENV, then `extra` (the SeidbCli block's env) on top."""
    kept = {name: value for name, value in os.environ.items() if KEEP_ENV.fullmatch(name)}
    return {**kept, **(extra or {})}


class ProcessStartError(Exception):
    """The command could not be started at all (exec failed)."""

    def __init__(self, argv: Sequence[str], error: OSError) -> None:
        self.argv = list(argv)
        self.strerror = error.strerror or str(error)
        super().__init__(f"could not start {argv[0]!r}: {self.strerror}")


class ProcessInterrupted(Exception):
    """A stop was requested (SIGINT/SIGTERM to the CLI); the command was stopped, or never started."""

    def __init__(self, argv: Sequence[str], signum: int, stdout_tail: str = "", stderr_tail: str = "") -> None:
        self.argv = list(argv)
        self.signum = signum
        self.stdout_tail = stdout_tail
        self.stderr_tail = stderr_tail
        super().__init__(f"{argv[0]} was stopped: this process received signal {signum}")


class ProcessTimeout(Exception):
    """The command outlived its timeout; it and its descendants were stopped. The tails say where it was."""

    def __init__(self, argv: Sequence[str], timeout: float, stdout_tail: str, stderr_tail: str) -> None:
        self.argv = list(argv)
        self.timeout = timeout
        self.stdout_tail = stdout_tail
        self.stderr_tail = stderr_tail
        super().__init__(f"{argv[0]} timed out after {timeout:g}s and was killed")


@dataclass(frozen=True)
class ProcessResult:
    argv: list[str]
    exit_code: int
    stdout_tail: str
    stderr_tail: str
    started_at: float
    finished_at: float
    consumer_error: Exception | None = None  # the first a line consumer raised (stdout's before stderr's)


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
    consumers: list[LineConsumer]
    tail: _Tail = field(default_factory=_Tail)
    error: Exception | None = None

    def run(self) -> None:
        try:
            for raw in iter(self.pipe.readline, b""):
                self.tail.add(raw)
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                for consumer in list(self.consumers):
                    try:
                        consumer(line)
                    except Exception as exc:
                        # Drop only this consumer and keep draining, so the child never blocks on a full pipe.
                        self.consumers.remove(consumer)
                        self.error = self.error or exc
        finally:
            self.pipe.close()


class ProcessRunner:
    """Spawns commands with a minimal environment, extra env and run tags; see the module docstring."""

    def __init__(
        self, *, env: Mapping[str, str] | None = None, run_tag: str | None = None, grace: float = DEFAULT_GRACE_S
    ) -> None:
        if grace < 0:
            raise ValueError(f"grace: must be >= 0 seconds, got {grace}")
        self.env = dict(env or {})
        self.run_tag = run_tag
        self.grace = grace

    def run_tags(self) -> str | None:
        """The run tags a child carries: those we inherited (the CLI's) plus this runner's."""
        inherited = os.environ.get(RUN_TAG_ENV)
        return add_tag(inherited, self.run_tag) if self.run_tag else inherited

    def child_env(self, process_tag: str | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {**minimal_environ(self.env), **(extra or {})}
        if process_tag is not None:
            env[SCAN_TAG_ENV] = process_tag
        tags = self.run_tags()
        if tags:
            env[RUN_TAG_ENV] = tags
        return env

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        stdout: Sequence[LineConsumer] = (),
        stderr: Sequence[LineConsumer] = (),
        after_kill: Callable[[], None] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ProcessResult:
        """Run `argv` to completion; raise ProcessStartError, ProcessTimeout or ProcessInterrupted, never
        leave it running. `env` is extra environment for this command only."""
        argv = list(argv)
        signum = stop_requested()
        if signum is not None:
            raise ProcessInterrupted(argv, signum)
        with active_command():
            return self._run(argv, timeout, stdout, stderr, after_kill, env)

    def _run(
        self,
        argv: list[str],
        timeout: float,
        stdout: Sequence[LineConsumer],
        stderr: Sequence[LineConsumer],
        after_kill: Callable[[], None] | None,
        env: Mapping[str, str] | None,
    ) -> ProcessResult:
        tag = uuid.uuid4().hex
        started = time.time()
        try:
            proc = subprocess.Popen(
                pdeathsig_prefix() + argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self.child_env(tag, env),
                start_new_session=True,
            )
        except OSError as exc:
            raise ProcessStartError(argv, exc) from exc
        assert proc.stdout is not None and proc.stderr is not None
        pumps = [_Pump("stdout", proc.stdout, list(stdout)), _Pump("stderr", proc.stderr, list(stderr))]
        threads = [threading.Thread(target=p.run, name=f"{argv[0]}-{p.name}", daemon=True) for p in pumps]
        for thread in threads:
            thread.start()
        deadline = started + timeout
        try:
            exit_code = self._wait(proc, deadline, argv, timeout)
            for thread in threads:  # a grandchild may still hold the pipes open
                thread.join(timeout=max(0.0, deadline - time.time()))
            if any(thread.is_alive() for thread in threads):
                raise subprocess.TimeoutExpired(argv, timeout)
        except subprocess.TimeoutExpired:
            cleanup = self._reap(proc, tag, threads, after_kill)
            timed_out = ProcessTimeout(argv, timeout, pumps[0].tail.text(), pumps[1].tail.text())
            if cleanup:
                timed_out.add_note(cleanup)
            raise timed_out from None
        except _Interrupted as stop:
            cleanup = self._reap(proc, tag, threads, after_kill)
            interrupted = ProcessInterrupted(argv, stop.signum, pumps[0].tail.text(), pumps[1].tail.text())
            if cleanup:
                interrupted.add_note(cleanup)
            raise interrupted from None
        except BaseException as exc:
            cleanup = self._reap(proc, tag, threads, after_kill)  # cancellation or Ctrl-C must not leave it running
            if cleanup:
                exc.add_note(cleanup)
            raise
        return ProcessResult(
            argv=argv,
            exit_code=exit_code,
            stdout_tail=pumps[0].tail.text(),
            stderr_tail=pumps[1].tail.text(),
            started_at=started,
            finished_at=time.time(),
            consumer_error=pumps[0].error or pumps[1].error,
        )

    @staticmethod
    def _wait(proc: subprocess.Popen[bytes], deadline: float, argv: list[str], timeout: float) -> int:
        """The exit code; TimeoutExpired at the deadline, _Interrupted as soon as a stop is requested."""
        while True:
            signum = stop_requested()
            if signum is not None:
                raise _Interrupted(signum)
            remaining = deadline - time.time()
            if remaining <= 0:
                raise subprocess.TimeoutExpired(argv, timeout)
            try:
                return proc.wait(timeout=min(remaining, STOP_POLL_S))
            except subprocess.TimeoutExpired:
                continue

    def _reap(
        self,
        proc: subprocess.Popen[bytes],
        tag: str,
        threads: list[threading.Thread],
        after_kill: Callable[[], None] | None,
    ) -> str | None:
        """Stop, reap, run the cleanup hook; return a note if the cleanup failed (the kill's cause stays the error)."""
        self._stop(proc, tag)
        for thread in threads:
            thread.join(timeout=REAP_JOIN_S)
        if after_kill is not None:
            try:
                after_kill()
            except Exception as exc:
                return f"cleanup after the kill failed: {type(exc).__name__}: {exc}"
        return None

    def _stop(self, proc: subprocess.Popen[bytes], tag: str) -> None:
        """The stop policy (procs.stop_processes) on the command's group and every process carrying its tag."""
        stop_processes(pgid=proc.pid, tag=(SCAN_TAG_ENV, tag), grace=self.grace, reap=proc.wait)


class _Interrupted(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
