"""The generic process runner, on real bash children: live per-stream lines, tags, tails, stops, cleanup."""

from __future__ import annotations

import signal
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest

from evmdigest.seidb import process
from evmdigest.seidb.process import TAIL_BYTES, ProcessInterrupted, ProcessRunner, ProcessStartError, ProcessTimeout
from evmdigest.seidb.procs import RUN_TAG_ENV, SCAN_TAG_ENV, request_stop, reset_stop, wait_idle


def _script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "cmd"
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _dead_soon(*pids: int) -> bool:
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(_alive(pid) for pid in pids)


def test_each_stream_reaches_its_own_consumers_while_the_command_runs(tmp_path: Path) -> None:
    """The command waits until the stdout consumer has seen its first line: batch delivery would time out."""
    gate = tmp_path / "gate"
    argv = _script(
        tmp_path, f'echo first; echo oops >&2\nwhile [ ! -e "{gate}" ]; do sleep 0.05; done\necho last\nexit 3\n'
    )
    out: list[str] = []
    err: list[str] = []

    def on_stdout(line: str) -> None:
        out.append(line)
        gate.touch()

    result = ProcessRunner().run([argv], timeout=20, stdout=[on_stdout], stderr=[err.append])
    assert (out, err, result.exit_code) == (["first", "last"], ["oops"], 3)
    assert result.stdout_tail == "first\nlast\n" and result.stderr_tail == "oops\n"
    assert result.started_at <= result.finished_at and result.consumer_error is None


def test_tags_env_and_stdin(tmp_path: Path) -> None:
    argv = _script(tmp_path, f'echo "$EXTRA ${RUN_TAG_ENV} ${SCAN_TAG_ENV}"\ncat\n')  # cat: stdin is /dev/null
    runner = ProcessRunner(env={"EXTRA": "x"}, run_tag="run-1")
    first = runner.run([argv], timeout=20).stdout_tail.split()
    second = runner.run([argv], timeout=20).stdout_tail.split()
    assert first[:2] == second[:2] == ["x", "run-1"]
    assert len(first[2]) == 32 and first[2] != second[2]  # a fresh tag per process


def test_a_failing_consumer_is_dropped_while_the_stream_drains(tmp_path: Path) -> None:
    argv = _script(tmp_path, 'for i in $(seq 1 20000); do printf "line %0100d\\n" "$i"; done\n')  # ~2 MB
    seen: list[str] = []

    def broken(line: str) -> None:
        raise RuntimeError(f"cannot take {line[:7]}")

    result = ProcessRunner().run([argv], timeout=60, stdout=[broken, seen.append])
    assert result.exit_code == 0 and len(seen) == 20000
    assert isinstance(result.consumer_error, RuntimeError) and str(result.consumer_error) == "cannot take line 00"
    assert len(result.stdout_tail.encode()) <= TAIL_BYTES and result.stdout_tail.endswith(f"{20000:0100d}\n")


def test_timeout_stops_the_group_runs_the_cleanup_and_keeps_the_tails(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    argv = _script(tmp_path, f'sleep 3600 &\necho "$! $$" > {pids}\necho working\necho busy >&2\nsleep 3600\n')
    cleaned: list[bool] = []
    started = time.monotonic()
    with pytest.raises(ProcessTimeout) as err:
        ProcessRunner().run(
            [argv], timeout=1.5, after_kill=lambda: cleaned.append(_alive(int(pids.read_text().split()[1])))
        )
    assert time.monotonic() - started < 20
    assert (err.value.stdout_tail, err.value.stderr_tail, err.value.timeout) == ("working\n", "busy\n", 1.5)
    assert cleaned == [False]  # the hook ran once, after the command was gone
    assert _dead_soon(*(int(pid) for pid in pids.read_text().split()))


class _Cancelled(BaseException):
    """Stands in for Prefect's cancellation or Ctrl-C: any BaseException raised while the runner waits."""


@pytest.fixture
def cancel_after() -> Iterator[None]:
    def fire(signum: int, frame: FrameType | None) -> None:
        raise _Cancelled

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.usefixtures("cancel_after")
def test_cancellation_while_waiting_stops_reaps_and_cleans_up(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    argv = _script(tmp_path, f"echo $$ > {pid_file}\nsleep 3600\n")
    cleaned: list[str] = []
    with pytest.raises(_Cancelled):
        ProcessRunner().run([argv], timeout=60, after_kill=lambda: cleaned.append("done"))
    assert cleaned == ["done"]
    assert _dead_soon(int(pid_file.read_text()))


def test_a_failed_cleanup_is_noted_on_the_error_it_followed(tmp_path: Path) -> None:
    argv = _script(tmp_path, "sleep 3600\n")

    def cleanup() -> None:
        raise OSError("disk gone")

    with pytest.raises(ProcessTimeout) as err:
        ProcessRunner().run([argv], timeout=0.5, after_kill=cleanup)
    assert err.value.__notes__ == ["cleanup after the kill failed: OSError: disk gone"]


def test_no_cleanup_after_a_normal_exit(tmp_path: Path) -> None:
    cleaned: list[str] = []
    result = ProcessRunner().run([_script(tmp_path, "exit 0\n")], timeout=20, after_kill=lambda: cleaned.append("x"))
    assert result.exit_code == 0 and cleaned == []


def test_exec_failure_without_setpriv_is_a_start_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # With setpriv, setpriv itself reports a failed exec (exit 127); this is the path of hosts without it.
    monkeypatch.setattr(process, "pdeathsig_prefix", list)
    with pytest.raises(ProcessStartError, match="could not start"):
        ProcessRunner().run([str(tmp_path / "missing")], timeout=5)


def test_stop_policy_sends_sigterm_first_and_waits_for_a_graceful_exit(tmp_path: Path) -> None:
    said = tmp_path / "said"
    argv = _script(tmp_path, f"trap 'echo bye > {said}; exit 0' TERM\necho up\nwhile true; do sleep 0.1; done\n")
    started = time.monotonic()
    with pytest.raises(ProcessTimeout):
        ProcessRunner(grace=120).run([argv], timeout=1.0)
    assert said.read_text() == "bye\n"  # its own TERM handler ran
    assert time.monotonic() - started < 60  # it left at once, long before the 120 s grace ended


def test_stop_policy_kills_after_the_grace_period(tmp_path: Path) -> None:
    pid_file, said = tmp_path / "pid", tmp_path / "said"
    argv = _script(
        tmp_path, f"trap 'echo ignored >> {said}' TERM\necho $$ > {pid_file}\nwhile true; do sleep 0.1; done\n"
    )
    started = time.monotonic()
    with pytest.raises(ProcessTimeout):
        ProcessRunner(grace=1.0).run([argv], timeout=1.0)
    assert time.monotonic() - started >= 2.0  # timeout + the whole grace period
    assert said.read_text() == "ignored\n" and not _alive(int(pid_file.read_text()))


def test_a_child_gets_a_minimal_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_SECRET_ACCESS_KEY": "secret", "AWS_ACCESS_KEY_ID": "id", "PREFECT_API_URL": "http://x",
        "GITHUB_TOKEN": "t",
        "SEI_LOG_OUTPUT": "stderr", "SEIDB_SIM_PROGRESS_EVERY": "5", "LC_ALL": "C.UTF-8", "TZ": "UTC", "LANG": "C",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    argv = _script(tmp_path, "tr '\\0' '\\n' < /proc/$$/environ\n")
    out = ProcessRunner(env={"EXTRA": "from the block"}, run_tag="r1").run([argv], timeout=20).stdout_tail
    names = {line.split("=", 1)[0] for line in out.splitlines()}
    assert names - {"PATH", "HOME"} == {
        "SEI_LOG_OUTPUT", "SEIDB_SIM_PROGRESS_EVERY", "LC_ALL", "TZ", "LANG", "EXTRA", RUN_TAG_ENV, SCAN_TAG_ENV,
    }  # fmt: skip
    assert "secret" not in out and "EXTRA=from the block" in out


def test_run_tags_add_to_the_inherited_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RUN_TAG_ENV, "cli-tag")
    argv = _script(tmp_path, f'echo "${RUN_TAG_ENV}"\n')
    assert ProcessRunner(run_tag="flow-run").run([argv], timeout=20).stdout_tail == "cli-tag,flow-run\n"


@pytest.fixture
def stop_reset() -> Iterator[None]:
    yield
    reset_stop()


@pytest.mark.usefixtures("stop_reset")
def test_a_stop_request_stops_running_commands_and_refuses_new_ones(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    argv = _script(tmp_path, f"echo $$ > {pid_file}\nsleep 3600\n")
    outcome: list[BaseException] = []
    cleaned: list[str] = []

    def scan() -> None:
        try:
            ProcessRunner().run([argv], timeout=3600, after_kill=lambda: cleaned.append("done"))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=scan)
    thread.start()
    deadline = time.monotonic() + 60
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    request_stop(signal.SIGTERM)
    assert wait_idle(60)
    thread.join(60)
    (error,) = outcome
    assert isinstance(error, ProcessInterrupted) and error.signum == signal.SIGTERM
    assert cleaned == ["done"] and _dead_soon(int(pid_file.read_text()))
    with pytest.raises(ProcessInterrupted):
        ProcessRunner().run([argv], timeout=5)
