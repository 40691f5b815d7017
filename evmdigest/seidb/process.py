"""Run one external command safely: its own session, tagged, dying with us, lines live, nothing left behind.

Every seidb command goes through `ProcessRunner.run`. The child starts in a new session (its own
process group) behind `setpriv --pdeathsig KILL` where util-linux has it, with stdin on /dev/null and
two tags in its environment that its descendants inherit: the run tag (the flow run; the cancellation
hook kills by it) and a fresh per-process tag. One pump thread per stream decodes lines and hands each
to that stream's consumers while the child runs, keeping the last TAIL_BYTES of both streams for error
messages. On timeout, or any BaseException while waiting (cancellation, Ctrl-C), `_stop` ends the group
and every tagged process, the child is reaped, and the caller's `after_kill` hook runs (for what a
killed command leaves behind, such as a temp dir).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Literal

from evmdigest.seidb.procs import RUN_TAG_ENV, SCAN_TAG_ENV, kill_group_and_tagged, pdeathsig_prefix

Stream = Literal["stdout", "stderr"]
LineConsumer = Callable[[str], None]
TAIL_BYTES = 4096
REAP_JOIN_S = 5.0  # after a kill the pipes close at once; this only bounds a pathological pump


class ProcessStartError(Exception):
    """The command could not be started at all (exec failed)."""

    def __init__(self, argv: Sequence[str], error: OSError) -> None:
        self.argv = list(argv)
        self.strerror = error.strerror or str(error)
        super().__init__(f"could not start {argv[0]!r}: {self.strerror}")


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
    """Spawns commands with a shared extra environment and run tag; see the module docstring."""

    def __init__(self, *, env: Mapping[str, str] | None = None, run_tag: str | None = None) -> None:
        self.env = dict(env or {})
        self.run_tag = run_tag

    def child_env(self, process_tag: str | None = None) -> dict[str, str]:
        env = {**os.environ, **self.env}
        if process_tag is not None:
            env[SCAN_TAG_ENV] = process_tag
        if self.run_tag is not None:
            env[RUN_TAG_ENV] = self.run_tag
        return env

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        stdout: Sequence[LineConsumer] = (),
        stderr: Sequence[LineConsumer] = (),
        after_kill: Callable[[], None] | None = None,
    ) -> ProcessResult:
        """Run `argv` to completion; raise ProcessStartError or ProcessTimeout, never leave it running."""
        argv = list(argv)
        tag = uuid.uuid4().hex
        started = time.time()
        try:
            proc = subprocess.Popen(
                pdeathsig_prefix() + argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self.child_env(tag),
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
            exit_code = proc.wait(timeout=max(0.0, deadline - time.time()))
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

    @staticmethod
    def _stop(proc: subprocess.Popen[bytes], tag: str) -> None:
        """The stop policy, in one place: SIGKILL the process group and every process carrying the tag."""
        kill_group_and_tagged(proc.pid, SCAN_TAG_ENV, tag)
        proc.wait()
