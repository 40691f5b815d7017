"""Signals end `evm-digest run` promptly and completely, through the real console script: SIGTERM and
SIGINT during the scans exit 143 / 130 within 10 s, kill -9 leaves no orphan; never a process carrying
the run's tag (seidb, its grandchild, the ephemeral Prefect server) nor a FlatKV clone behind.

The node: a slow FlatKV scan (its clone dir exists while it runs) and memIAVL scans that hang after
starting a grandchild `sleep 3600` (the `hang` fault). A test tag in EVMDIGEST_RUN_TAG marks every
process the run starts (the CLI adds its own tag next to it), which is how leftovers are found.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from evmdigest.seidb.journal import STATE_DIR_ENV
from evmdigest.seidb.procs import RUN_TAG_ENV, pids_tagged
from tests.plugins.sim import MakeNode, SimNode

EVM_DIGEST = str(Path(sys.executable).parent / "evm-digest")
HEIGHT = 213200000
EXIT_WITHIN_S = 10.0


@dataclass
class Run:
    proc: subprocess.Popen[bytes]
    tag: str
    node: SimNode
    stderr: Path

    def tagged(self) -> list[int]:
        return pids_tagged(RUN_TAG_ENV, self.tag)

    def cmdlines(self) -> list[str]:
        lines = []
        for pid in self.tagged():
            with contextlib.suppress(OSError):  # gone meanwhile
                lines.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        return lines

    def clones(self) -> list[Path]:
        return sorted(self.node.flatkv_dir.glob(".seidb-flatkv-tool-*"))


def _start(node: SimNode, sim_binary: Path, tmp_path: Path, api: str | None, argv: list[str] | None = None) -> Run:
    tag = f"signals-{uuid.uuid4().hex[:12]}"
    env = {name: value for name, value in os.environ.items() if not name.startswith("PREFECT_")}
    env.update({RUN_TAG_ENV: tag, STATE_DIR_ENV: str(tmp_path / "state"), "PREFECT_HOME": str(tmp_path / "prefect")})
    if api is not None:
        env["PREFECT_API_URL"] = api
    else:  # the ephemeral server: where the orphan was; this machine is slow to start it
        env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "600"
    stderr = tmp_path / "cli.stderr"
    argv = argv or [EVM_DIGEST, "run", "--height", str(HEIGHT), "--flatkv-dir", str(node.flatkv_dir),
                    "--memiavl-dir", str(node.memiavl_dir), "--seidb", str(sim_binary),
                    "--sink", (tmp_path / "sealed").as_uri(), "--timeout", "3600"]  # fmt: skip
    with stderr.open("wb") as err:
        # its own session, like a command started from a terminal; a group signal then stays with it
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    return Run(proc, tag, node, stderr)


def _scanning(run: Run) -> None:
    """Until the FlatKV clone exists and the hanging memIAVL scan's grandchild runs."""
    deadline = time.monotonic() + 600
    while not (run.clones() and any(line.startswith("sleep 3600") for line in run.cmdlines())):
        if run.proc.poll() is not None:
            pytest.fail(f"the run ended before its scans started: {run.stderr.read_text()[-3000:]}")
        assert time.monotonic() < deadline, "the scans never started"
        time.sleep(0.2)


def _nothing_left(run: Run, since: float) -> float:
    """Seconds from `since` until no tagged process and no clone remain (fails after EXIT_WITHIN_S)."""
    while run.tagged() or run.clones():
        if time.monotonic() - since > EXIT_WITHIN_S:
            pytest.fail(f"left behind after {EXIT_WITHIN_S}s: {run.cmdlines()} clones={run.clones()}")
        time.sleep(0.1)
    return time.monotonic() - since


@pytest.fixture
def node(tmp_path: Path, make_node: MakeNode) -> SimNode:
    node = make_node(tmp_path, height=HEIGHT, rows=2000)
    node.set_faults("flatkv", slow=3600.0)
    node.set_faults("memiavl", hang=True)
    return node


def _interrupt(run: Run, signum: signal.Signals, *, group: bool) -> tuple[int, float]:
    _scanning(run)
    before = sorted(p.name for p in run.node.flatkv_dir.iterdir() if not p.name.startswith(".seidb-flatkv-tool-"))
    sent = time.monotonic()
    if group:
        os.killpg(run.proc.pid, signum)  # a terminal's Ctrl-C: the CLI and the ephemeral server's group
    else:
        os.kill(run.proc.pid, signum)
    code = run.proc.wait(timeout=60)
    took = time.monotonic() - sent
    _nothing_left(run, sent)
    assert sorted(p.name for p in run.node.flatkv_dir.iterdir()) == before
    print(f"\n{signum.name}: exit {code} after {took:.2f}s")
    return code, took


def test_sigterm_during_scans_exits_143_promptly_with_nothing_left(
    node: SimNode, sim_binary: Path, tmp_path: Path
) -> None:
    run = _start(node, sim_binary, tmp_path, api=None)
    code, took = _interrupt(run, signal.SIGTERM, group=False)
    assert (code, took < EXIT_WITHIN_S) == (143, True), run.stderr.read_text()[-3000:]
    assert "evm-digest: interrupted by SIGTERM: scans stopped" in run.stderr.read_text()
    left = [p for p in (tmp_path / "sealed").rglob("*") if p.is_file() and ".evm-digest" not in p.parts]
    assert left == []  # nothing published (the write-once probe's bookkeeping in .evm-digest/ may be there)


def test_sigint_to_the_group_exits_130_promptly_with_nothing_left(
    node: SimNode, sim_binary: Path, tmp_path: Path, prefect_api: str
) -> None:
    run = _start(node, sim_binary, tmp_path, api=prefect_api)
    code, took = _interrupt(run, signal.SIGINT, group=True)
    assert (code, took < EXIT_WITHIN_S) == (130, True), run.stderr.read_text()[-3000:]
    assert "evm-digest: interrupted by SIGINT: scans stopped" in run.stderr.read_text()


def test_sigterm_to_a_local_fleet_stops_every_gate_exits_143_with_nothing_left(
    node: SimNode, sim_binary: Path, tmp_path: Path, make_node: MakeNode, prefect_api: str
) -> None:
    other = make_node(tmp_path, height=HEIGHT, rows=2000)
    other.set_faults("flatkv", slow=3600.0)
    before = sorted(p.name for p in other.flatkv_dir.iterdir())
    argv = [EVM_DIGEST, "fleet", "--height", str(HEIGHT), "--seidb", str(sim_binary),
            "--sink", (tmp_path / "sealed").as_uri(), "--timeout", "3600",
            "--node", f"a={node.flatkv_dir},{node.memiavl_dir}",
            "--node", f"b={other.flatkv_dir},{other.memiavl_dir}"]  # fmt: skip
    run = _start(node, sim_binary, tmp_path, api=prefect_api, argv=argv)
    code, took = _interrupt(run, signal.SIGTERM, group=False)
    assert (code, took < EXIT_WITHIN_S) == (143, True), run.stderr.read_text()[-3000:]
    assert "evm-digest: interrupted by SIGTERM: scans stopped" in run.stderr.read_text()
    assert sorted(p.name for p in other.flatkv_dir.iterdir()) == before  # the other gate's clone is gone too


def test_kill_9_of_the_cli_leaves_no_orphan(node: SimNode, sim_binary: Path, tmp_path: Path) -> None:
    run = _start(node, sim_binary, tmp_path, api=None)
    _scanning(run)
    assert any("uvicorn" in line for line in run.cmdlines())  # the ephemeral server carries the tag too
    sent = time.monotonic()
    run.proc.kill()
    run.proc.wait(timeout=60)
    took = _nothing_left(run, sent)  # seidb by pdeathsig; grandchild, server and clone by the watchdog
    print(f"\nkill -9: nothing left after {took:.2f}s")
    log = (tmp_path / "state" / "watchdog.log").read_text()
    assert "run tag " in log and "removed 1 seidb clone dir(s)" in log
