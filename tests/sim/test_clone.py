"""The FlatKV temp clone, as the real binary makes it: `.seidb-flatkv-tool-<n>/` INSIDE the FlatKV dir,
with a `readonly-<n>/` view of real size held open during the scan; removed on a normal exit and on an
error after opening; left behind when the process is killed (Go has no handler for SIGTERM/SIGINT).
The dir must be writable and have room: the failures are seidb's own texts."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from evmdigest.sim import make_fixture
from tests.plugins.sim import MakeNode, SimNode
from tests.simtools import run, scan

LOGS_ON_STDERR = {"SEI_LOG_OUTPUT": "stderr"}


def _entries(directory: Path) -> set[str]:
    return {entry.name for entry in directory.iterdir()}


def _clones(node: SimNode) -> list[Path]:
    return sorted(node.flatkv_dir.glob(".seidb-flatkv-tool-*"))


def _start_slow_scan(sim_binary: Path, node: SimNode, side: str = "flatkv") -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        node.digest_argv(sim_binary, side),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **LOGS_ON_STDERR},
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # the banner comes after the clone is open
        if line.startswith("Scan progress:"):
            return proc
    raise AssertionError(f"the scan ended before its banner: {proc.wait()}")


@pytest.mark.parametrize("side", ["flatkv", "composite"])
def test_clone_lives_inside_the_dir_during_the_scan_and_goes_away_after(
    sim_binary: Path, make_node: MakeNode, tmp_path: Path, side: str
) -> None:
    node = make_node(tmp_path, rows=4000, slow=2.0)
    before = _entries(node.flatkv_dir)
    proc = _start_slow_scan(sim_binary, node, side)
    try:
        (clone,) = _clones(node)
        assert re.fullmatch(r"\.seidb-flatkv-tool-\d+", clone.name) and clone.stat().st_mode & 0o777 == 0o700
        (readonly,) = clone.glob("readonly-*")
        wal = readonly / "storage" / "000002.log"
        size = (node.flatkv_dir / "rows.bin").stat().st_size // 16
        assert wal.stat().st_size == size > 0
        held = {os.readlink(fd) for fd in Path(f"/proc/{proc.pid}/fd").iterdir()}
        assert str(wal) in held  # another process's live clone is recognisable
        assert os.readlink(clone / "current").startswith("snapshot-")
    finally:
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert _entries(node.flatkv_dir) == before


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_a_killed_scan_leaves_its_clone_behind(
    sim_binary: Path, make_node: MakeNode, tmp_path: Path, signum: signal.Signals
) -> None:
    node = make_node(tmp_path, rows=4000, slow=5.0)
    proc = _start_slow_scan(sim_binary, node)
    proc.send_signal(signum)
    proc.communicate(timeout=30)
    assert proc.returncode == -signum  # ended by the signal, no cleanup ran
    (clone,) = _clones(node)
    (readonly,) = clone.glob("readonly-*")
    assert (readonly / "storage" / "000002.log").stat().st_size > 0
    assert scan(sim_binary, node, "flatkv").version == node.height  # a stale clone does not stop the next scan


def test_errors_after_opening_remove_the_clone(sim_binary: Path, make_node: MakeNode, tmp_path: Path) -> None:
    node = make_node(tmp_path, rows=200)
    before = _entries(node.flatkv_dir)
    above = run(node.digest_argv(sim_binary, "flatkv", height=node.height + 5), env=LOGS_ON_STDERR)
    assert above.returncode == 1 and "reached 1001" in above.stdout
    assert ".seidb-flatkv-tool-" in above.stderr  # it was made (the logs name it), then removed
    node.set_faults("flatkv", exit_error="iterate: pebble: corruption")
    failed = run(node.digest_argv(sim_binary, "flatkv"))
    assert failed.returncode == 1 and failed.stdout.endswith("iterate: pebble: corruption\n")
    # no memIAVL snapshot one below H: the FlatKV clone is already open when that fails
    composite = run(node.digest_argv(sim_binary, "composite", height=node.height - 1), env=LOGS_ON_STDERR)
    assert composite.returncode == 1 and composite.stdout.startswith("read metadata: open ")
    assert _entries(node.flatkv_dir) == before


@pytest.fixture
def world_readable_dir() -> Iterator[Path]:
    # pytest's tmp dirs are private to root; the unprivileged user must be able to read the fixture
    path = Path(tempfile.mkdtemp(prefix="sim-perm-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_an_unwritable_flatkv_dir_fails_as_mkdir_permission_denied(sim_binary: Path, world_readable_dir: Path) -> None:
    make_fixture(world_readable_dir / "node", height=100, rows=60)
    flatkv = world_readable_dir / "node" / "flatkv"
    argv = [str(sim_binary), "evm-logical-digest", "--backend", "flatkv", "-d", str(flatkv), "--height", "100"]
    if os.geteuid() == 0:  # root writes anywhere: run the real binary's situation as an unprivileged user
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot make a dir unwritable for the scan")
        done = run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *argv])
    else:
        flatkv.chmod(0o555)
        done = run(argv)
        flatkv.chmod(0o755)
    message = f"open flatkv read-only: create temp dir under {flatkv}: mkdir {flatkv}/.seidb-flatkv-tool-"
    assert done.returncode == 1 and done.stdout.startswith(message)
    assert re.fullmatch(r"\d+: permission denied\n", done.stdout.removeprefix(message))
    assert done.stderr.startswith("Error: " + done.stdout.strip() + "\nUsage:\n")
    assert _entries(flatkv) == {"rows.bin", "sim-store.json", "changelog"}


NO_SPACE = re.compile(
    r"open flatkv read-only: failed to open FlatKV at version (\d+): readonly open: create readonly working dir: "
    r"clone account: copy 000002\.log: write (\S+)/\.seidb-flatkv-tool-\d+/readonly-\d+/account/000002\.log: "
    r"no space left on device\n"
)


def _small_filesystem(path: Path) -> bool:
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(path)], capture_output=True)
    return done.returncode == 0


def test_a_full_disk_fails_with_seidbs_text_and_leaves_nothing(sim_binary: Path, tmp_path: Path) -> None:
    mount = tmp_path / "small"
    if not _small_filesystem(mount):
        pytest.skip("cannot mount a small tmpfs here (needs CAP_SYS_ADMIN); the disk_full fault test stands in")
    try:
        make_fixture(mount / "node", height=100, rows=40000)
        flatkv = mount / "node" / "flatkv"
        used = shutil.disk_usage(mount).used
        # leave room for the clone's dirs and hard link, not for its copied WAL files
        subprocess.run(["mount", "-o", f"remount,size={used + 64 * 1024}", str(mount)], check=True)
        before = _entries(flatkv)
        argv = [str(sim_binary), "evm-logical-digest", "--backend", "flatkv", "-d", str(flatkv), "--height", "100"]
        done = run(argv, env=LOGS_ON_STDERR)
        match = NO_SPACE.fullmatch(done.stdout)
        assert done.returncode == 1 and match and match.groups() == ("100", str(flatkv)), done.stdout
        assert 'level=ERROR msg="FlatKV LoadVersionReadOnly failed"' in done.stderr
        assert _entries(flatkv) == before
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_disk_full_fault_gives_the_same_text(sim_binary: Path, make_node: MakeNode, tmp_path: Path) -> None:
    """A stand-in for machines where no small filesystem can be mounted (the test above is the real one)."""
    node = make_node(tmp_path, rows=60)
    node.set_faults("flatkv", disk_full=True)
    before = _entries(node.flatkv_dir)
    done = run(node.digest_argv(sim_binary, "flatkv"), env=LOGS_ON_STDERR)
    match = NO_SPACE.fullmatch(done.stdout)
    assert done.returncode == 1 and match and match.group(2) == str(node.flatkv_dir)
    assert _entries(node.flatkv_dir) == before


def test_a_held_store_lock_does_not_stop_a_scan(sim_binary: Path, make_node: MakeNode, tmp_path: Path) -> None:
    """The real tool never contends for a live node's lock: FlatKV is read through a clone (LOCK files are
    not cloned) and memIAVL is opened read-only, which takes no lock. So there is no 'store locked' text."""
    node = make_node(tmp_path, rows=60)
    handles = []
    for directory in (node.flatkv_dir, node.memiavl_dir):
        handle = (directory / "LOCK").open("w")
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        handles.append(handle)
    try:
        runs = (("flatkv", "snapshot"), ("memiavl", "snapshot"), ("memiavl", "replay"), ("composite", "snapshot"))
        for side, mode in runs:
            assert scan(sim_binary, node, side, open_mode=mode).version == node.height
    finally:
        for handle in handles:
            handle.close()
