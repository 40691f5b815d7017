"""Leave nothing behind in the node's FlatKV dir: a killed scan's clone is removed, and only it; a clone
another live process holds is never touched; preflight reports and ages out stale clones and refuses a
dir seidb cannot clone into. Real seidb-sim scans and real processes throughout."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from evmdigest.models import Backend
from evmdigest.seidb import (
    DigestRequest,
    FindHashRequest,
    InspectRequest,
    SeidbFailed,
    SeidbRequest,
    SeidbRunner,
    SeidbTimeout,
)
from evmdigest.seidb.clones import remove_new, stale_clones
from evmdigest.seidb.errors import FlatKVDirUnusable, SeidbInterrupted
from evmdigest.seidb.journal import STATE_DIR_ENV, ClonedScan, entries, recover
from evmdigest.seidb.preflight import check_flatkv_dir
from evmdigest.seidb.procs import RUN_TAG_ENV, alive, pids_tagged, request_stop, reset_stop
from evmdigest.sim import make_fixture
from tests.plugins.sim import MakeNode, SimNode

Listing = dict[str, tuple[str, int, int, int]]


def listing(root: Path) -> Listing:
    """Every entry under `root` (not root itself, whose mtime seidb's mkdir changes): type, size, mtime, mode."""
    found: Listing = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file"
        found[str(path.relative_to(root))] = (kind, st.st_size if kind == "file" else 0, st.st_mtime_ns, st.st_mode)
    return found


def _clones(directory: Path) -> list[Path]:
    return sorted(directory.glob(".seidb-flatkv-tool-*"))


def _wait_for(condition: object, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state"
    monkeypatch.setenv(STATE_DIR_ENV, str(path))
    return path


@pytest.fixture
def slow_node(tmp_path: Path, make_node: MakeNode) -> SimNode:
    return make_node(tmp_path, rows=4000, slow=600.0)


def test_a_timed_out_flatkv_scan_leaves_the_dir_exactly_as_it_was(sim_binary: Path, slow_node: SimNode) -> None:
    before = listing(slow_node.flatkv_dir)
    clone_seen: list[bool] = []

    def watch(line: str) -> None:  # the banner (stderr with --json) comes once the clone is open
        if line.startswith("Scan progress:"):
            clone_seen.append(bool(_clones(slow_node.flatkv_dir)))

    runner = SeidbRunner(sim_binary, timeout=8, grace=2)
    with pytest.raises(SeidbTimeout) as err:
        runner.run_lines(
            DigestRequest(Backend.FLATKV, slow_node.flatkv_dir, slow_node.height), stdout=[watch], stderr=[watch]
        )
    assert clone_seen == [True], err.value.details
    assert listing(slow_node.flatkv_dir) == before  # no new entry, nothing changed or removed
    assert entries() == []  # the journal entry went with the cleanup


def test_a_flatkv_scan_killed_by_someone_else_leaves_the_dir_exactly_as_it_was(
    sim_binary: Path, slow_node: SimNode
) -> None:
    # Another thread's run-tag stop (the fleet's node timeout, a cancellation hook) or the OOM killer:
    # seidb dies of a signal the scan did not send, and its clone must go all the same.
    before = listing(slow_node.flatkv_dir)
    failures: list[BaseException] = []

    def scan() -> None:
        try:
            SeidbRunner(sim_binary, timeout=600, grace=2, run_tag="killed-elsewhere").run_lines(
                DigestRequest(Backend.FLATKV, slow_node.flatkv_dir, slow_node.height)
            )
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=scan)
    thread.start()
    _wait_for(lambda: _clones(slow_node.flatkv_dir) and pids_tagged(RUN_TAG_ENV, "killed-elsewhere"), "the clone")
    for pid in pids_tagged(RUN_TAG_ENV, "killed-elsewhere"):
        os.kill(pid, signal.SIGKILL)
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert len(failures) == 1 and isinstance(failures[0], SeidbFailed), failures
    assert "killed by SIGKILL (not by this run)" in str(failures[0])
    assert listing(slow_node.flatkv_dir) == before
    assert entries() == []


@pytest.mark.parametrize("command", ["inspect", "find-hash"])
def test_every_flatkv_reading_command_is_cleaned_up_after_a_kill(
    sim_binary: Path, make_node: MakeNode, tmp_path: Path, command: str
) -> None:
    node = make_node(tmp_path, rows=400)
    node.set_faults("flatkv", hang=True)  # opens its clone, starts a grandchild, never ends
    before = listing(node.flatkv_dir)
    digest = DigestRequest(Backend.FLATKV, node.flatkv_dir, node.height)
    request: SeidbRequest = (
        InspectRequest(Backend.FLATKV, node.flatkv_dir, node.height, "storage", key_offset=5, shard_next_bytes=1)
        if command == "inspect"
        else FindHashRequest(digest, "AB" * 32)
    )
    with pytest.raises(SeidbTimeout) as err:
        SeidbRunner(sim_binary, timeout=6, grace=2).run_lines(request)
    assert ".seidb-flatkv-tool-" in err.value.details  # the clone existed: seidb's log names it
    assert listing(node.flatkv_dir) == before


@pytest.fixture
def stop_reset() -> Iterator[None]:
    yield
    reset_stop()


@pytest.mark.usefixtures("stop_reset")
def test_a_clone_another_live_scan_holds_is_never_removed(sim_binary: Path, slow_node: SimNode) -> None:
    flatkv = slow_node.flatkv_dir
    ours: list[BaseException] = []

    def our_scan() -> None:
        try:
            SeidbRunner(sim_binary, timeout=3600, grace=2).run_digest(
                DigestRequest(Backend.FLATKV, flatkv, slow_node.height)
            )
        except BaseException as exc:
            ours.append(exc)

    thread = threading.Thread(target=our_scan)
    thread.start()
    _wait_for(lambda: len(_clones(flatkv)) == 1, "our scan's clone")
    (our_clone,) = _clones(flatkv)
    # another seidb on the same dir, started after our snapshot: its clone is "new" to us, but held
    other = subprocess.Popen(slow_node.digest_argv(sim_binary, "flatkv"), stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None
        for line in other.stdout:
            if "Scan progress:" in line:
                break
        (their_clone,) = set(_clones(flatkv)) - {our_clone}
        request_stop(signal.SIGTERM)  # what the CLI's signal watcher does
        thread.join(120)
        assert isinstance(ours[0], SeidbInterrupted)
        assert _clones(flatkv) == [their_clone] and other.poll() is None  # theirs kept, they still run
    finally:
        other.kill()
        other.wait()
    # once nobody holds it, the same rule removes it: holding was what protected it
    assert remove_new(flatkv, set()).removed == [their_clone]


def _fake_clone(flatkv: Path, name: str, age_s: float) -> Path:
    clone = flatkv / name
    (clone / "readonly-1" / "storage").mkdir(parents=True)
    (clone / "readonly-1" / "storage" / "000002.log").write_bytes(b"x" * 4096)
    then = time.time() - age_s
    os.utime(clone, (then, then))
    return clone


def test_preflight_reports_stale_clones_and_removes_only_old_unheld_ones_of_ours(
    slow_node: SimNode, tmp_path: Path
) -> None:
    flatkv = slow_node.flatkv_dir
    old = _fake_clone(flatkv, ".seidb-flatkv-tool-1", 7200)
    young = _fake_clone(flatkv, ".seidb-flatkv-tool-2", 60)
    held = _fake_clone(flatkv, ".seidb-flatkv-tool-3", 7200)
    foreign = _fake_clone(flatkv, ".seidb-flatkv-tool-4", 7200)
    os.chown(foreign, 65534, 65534)
    lookalike = flatkv / ".seidb-flatkv-tool-x"  # not seidb's name pattern: never considered
    lookalike.mkdir()
    holder = subprocess.Popen(["sleep", "600"], cwd=held / "readonly-1")
    try:
        checked = check_flatkv_dir(flatkv, min_free_mb=1)
    finally:
        holder.kill()
        holder.wait()
    by_path = {clone.path: clone for clone in checked.stale}
    assert set(by_path) == {old, young, held, foreign}
    assert by_path[old].removed and not old.exists()
    assert by_path[young].why_kept == "younger than the stale age" and young.exists()
    assert by_path[held].why_kept == f"held by pid {holder.pid}" and held.exists()
    assert by_path[foreign].why_kept == "owned by uid 65534, not us" and foreign.exists()
    assert lookalike.exists()
    assert by_path[old].size == 4096 and by_path[old].age_s >= 7000
    warning = next(line for line in checked.warnings() if str(young) in line)
    assert warning == f"stale seidb clone {young} (0.0 MiB, 1 min old) kept: younger than the stale age"


def test_preflight_refuses_a_full_filesystem_with_one_line(slow_node: SimNode) -> None:
    with pytest.raises(FlatKVDirUnusable) as err:
        check_flatkv_dir(slow_node.flatkv_dir, min_free_mb=2**40)
    assert err.value.one_line.startswith(f"FlatKV dir {slow_node.flatkv_dir}: only ")
    assert "MiB required" in err.value.one_line and "\n" not in str(err.value) and err.value.hint


@pytest.fixture
def world_readable_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="preflight-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_preflight_refuses_a_dir_seidb_cannot_write(world_readable_dir: Path) -> None:
    make_fixture(world_readable_dir / "node", height=100, rows=60)
    flatkv = world_readable_dir / "node" / "flatkv"
    code = (
        "from pathlib import Path; from evmdigest.seidb.preflight import check_flatkv_dir\n"
        f"check_flatkv_dir(Path({str(flatkv)!r}))"
    )
    if os.geteuid() == 0:  # root may write anywhere: check as the unprivileged user a node may run as
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot check as an unprivileged user")
        argv = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code]
    else:
        flatkv.chmod(0o555)
        argv = [sys.executable, "-c", code]
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, STATE_DIR_ENV: str(world_readable_dir / "state")},
    )
    assert done.returncode == 1
    assert f"FlatKVDirUnusable: FlatKV dir {flatkv}: not writable by uid" in done.stderr


def test_the_next_preflight_cleans_up_after_a_killed_owner(sim_binary: Path, slow_node: SimNode) -> None:
    """kill -9 of the Python process running a scan: pdeathsig ends seidb, its clone and journal entry stay;
    the next preflight finds the entry's owner dead and removes exactly that clone."""
    flatkv = slow_node.flatkv_dir
    before = listing(flatkv)
    code = (
        "import sys; from pathlib import Path; from evmdigest.models import Backend\n"
        "from evmdigest.seidb import DigestRequest, SeidbRunner\n"
        f"SeidbRunner(sys.argv[1]).run_digest(DigestRequest(Backend.FLATKV, Path(sys.argv[2]), {slow_node.height}))\n"
    )
    owner = subprocess.Popen([sys.executable, "-c", code, str(sim_binary), str(flatkv)])
    try:
        _wait_for(lambda: _clones(flatkv) and entries(), "the scan's clone and journal entry")
    finally:
        owner.kill()
        owner.wait()
    (entry,) = entries()
    _wait_for(lambda: not any(alive(pid) for pid in _sim_pids(flatkv)), "pdeathsig to end seidb", timeout=30)
    assert len(_clones(flatkv)) == 1 and not entry.owner_alive()
    checked = check_flatkv_dir(flatkv, min_free_mb=1)
    assert [len(c.removed) for c in checked.recovered] == [1] and entries() == []
    assert listing(flatkv) == before


def _sim_pids(flatkv: Path) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(flatkv).encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def test_recover_leaves_the_entries_of_live_owners(slow_node: SimNode) -> None:
    scan = ClonedScan(slow_node.flatkv_dir, "tag-a")
    try:
        assert recover() == [] and len(entries()) == 1  # we are alive: not ours to clean up
        assert [c.flatkv_dir for c in recover(run_tag="tag-a")] == [slow_node.flatkv_dir]
        assert entries() == []
    finally:
        scan.close()


def test_stale_clones_report_only(slow_node: SimNode) -> None:
    old = _fake_clone(slow_node.flatkv_dir, ".seidb-flatkv-tool-9", 99999)
    (found,) = stale_clones(slow_node.flatkv_dir, remove_older_than=None)
    assert found.path == old and not found.removed and old.exists()
