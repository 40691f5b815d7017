"""Failures an operator can act on: every real seidb error file, and every error the simulator reproduces,
through the real runner. Each ends as ONE line (the scan, what is wrong) with a hint, no cobra usage."""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from evmdigest.models import Backend, Normalization, OpenMode
from evmdigest.seidb import DigestRequest, SeidbFailed, SeidbRunner
from evmdigest.seidb.failures import (
    FlatKVBehind,
    FlatKVDirNotWritable,
    FlatKVPruned,
    MemiavlPruned,
    MemiavlSnapshotMissing,
    OutOfDisk,
    SeidbKilled,
    classify,
)
from evmdigest.sim import make_fixture
from tests.plugins.sim import MakeNode, SimNode
from tests.simtools import REAL, REAL_HEIGHT

SEMANTIC = Normalization.SEMANTIC


def _real(name: str) -> tuple[list[str], int, str, str]:
    command = (REAL / f"{name}.cmd").read_text().strip().removeprefix("$ ").split("   (in")[0]
    read = (REAL / f"{name}.{{}}").as_posix().format
    return (
        shlex.split(command),
        int(Path(read("rc")).read_text()),
        Path(read("stdout")).read_text(),
        Path(read("stderr")).read_text(),
    )


def _one_line(error: SeidbFailed) -> None:
    """What every classified failure must look like to a person and in a state message."""
    assert "\n" not in str(error) and "Usage:" not in str(error)
    assert error.hint and str(error) == f"{error.one_line} — hint: {error.hint}"
    assert "Usage:" not in error.details and "--shard-next-bytes" not in error.details  # cobra's usage dropped


def test_real_flatkv_above_latest_names_flatkvs_latest_version() -> None:
    argv, rc, stdout, stderr = _real("error.flatkv-above-latest")
    error = classify(argv, rc, stdout, stderr)
    assert isinstance(error, FlatKVBehind) and (error.requested, error.latest) == (REAL_HEIGHT + 5, REAL_HEIGHT + 1)
    above, latest = REAL_HEIGHT + 5, REAL_HEIGHT + 1
    assert error.one_line == f"flatkv at {above}: FlatKV cannot reach {above}: its latest version is {latest}"
    assert str(REAL_HEIGHT + 1) in error.hint
    assert "LoadVersionReadOnly failed" in error.details  # the seilog lines stay in the details
    _one_line(error)


def test_real_memiavl_without_a_snapshot_names_the_nearest_heights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the real fixture's memIAVL root (memiavl-no-snapshot-at-h): snapshots at H-1 and H+1 only, plus the empty 0
    for height in (0, REAL_HEIGHT - 1, REAL_HEIGHT + 1, REAL_HEIGHT - 500):
        (tmp_path / "memiavl" / f"snapshot-{height:020d}").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)  # the recorded command names the root relatively, as it was run
    argv, rc, stdout, stderr = _real("error.memiavl-no-snapshot")
    error = classify(argv, rc, stdout, stderr)
    assert isinstance(error, MemiavlSnapshotMissing) and error.nearest == [REAL_HEIGHT - 1, REAL_HEIGHT + 1]
    assert error.one_line == (
        f"memiavl/semantic at {REAL_HEIGHT}: no memIAVL snapshot at {REAL_HEIGHT} under memiavl "
        f"(nearest snapshot heights: {REAL_HEIGHT - 1}, {REAL_HEIGHT + 1})"
    )
    assert "--memiavl-open-mode replay" in error.hint
    _one_line(error)


def test_the_error_line_is_the_first_not_the_tail() -> None:
    """An unknown failure keeps seidb's error text even when the stderr tail holds only cobra's usage."""
    argv, rc, _, stderr = _real("error.memiavl-no-snapshot")
    usage_only = stderr[stderr.index("Usage:") :]
    error = classify(argv, rc, "narration\n" * 50 + "iterate: pebble: corruption in 000042.sst\n", usage_only)
    assert error.one_line.endswith("seidb failed (exit 1): iterate: pebble: corruption in 000042.sst")
    live = classify(argv, rc, "", usage_only, cobra_error="open flatkv: something new")
    assert live.one_line.endswith(": open flatkv: something new")
    _one_line(error)


@pytest.fixture
def node(tmp_path: Path, make_node: MakeNode) -> SimNode:
    return make_node(tmp_path, rows=300, extra_snapshots=[900, 1100], flatkv_earliest=998)


def _fail(runner: SeidbRunner, request: DigestRequest) -> SeidbFailed:
    with pytest.raises(SeidbFailed) as err:
        runner.run_digest(request)
    _one_line(err.value)
    return err.value


def test_sim_memiavl_snapshot_missing_and_pruned(sim_binary: Path, node: SimNode) -> None:
    runner = SeidbRunner(sim_binary)
    missing = _fail(runner, DigestRequest(Backend.MEMIAVL, node.memiavl_dir, 1050, SEMANTIC))
    assert isinstance(missing, MemiavlSnapshotMissing) and missing.nearest == [1000, 1100]
    pruned = _fail(runner, DigestRequest(Backend.MEMIAVL, node.memiavl_dir, 800, SEMANTIC, OpenMode.REPLAY))
    assert isinstance(pruned, MemiavlPruned) and pruned.nearest == [900]
    assert (
        pruned.one_line
        == "memiavl/semantic at 800: memIAVL has no snapshot at or below 800 to replay from (nearest: 900)"
    )


def test_sim_flatkv_behind_and_pruned(sim_binary: Path, node: SimNode) -> None:
    runner = SeidbRunner(sim_binary)
    behind = _fail(runner, DigestRequest(Backend.FLATKV, node.flatkv_dir, 1200))
    assert isinstance(behind, FlatKVBehind) and behind.latest == 1100
    pruned = _fail(runner, DigestRequest(Backend.FLATKV, node.flatkv_dir, 990))
    assert (
        isinstance(pruned, FlatKVPruned)
        and pruned.one_line == "flatkv at 990: FlatKV has pruned 990: no FlatKV snapshot at or below it"
    )


def test_sim_out_of_disk(sim_binary: Path, node: SimNode) -> None:
    # the disk_full fault: the sim's stand-in for a full disk, with seidb's text (tests/sim/test_clone.py
    # shows the same text on a real full tmpfs)
    node.set_faults("flatkv", disk_full=True)
    error = _fail(SeidbRunner(sim_binary), DigestRequest(Backend.FLATKV, node.flatkv_dir, 1000))
    assert isinstance(error, OutOfDisk) and "no space left on device" in error.one_line
    assert str(node.flatkv_dir) in error.hint
    assert list(node.flatkv_dir.glob(".seidb-flatkv-tool-*")) == []


def test_sim_unknown_failure_keeps_its_first_line(sim_binary: Path, node: SimNode) -> None:
    node.set_faults("flatkv", exit_error="iterate: pebble: corruption")
    error = _fail(SeidbRunner(sim_binary), DigestRequest(Backend.FLATKV, node.flatkv_dir, 1000))
    assert type(error) is SeidbFailed
    assert error.one_line == "flatkv at 1000: seidb failed (exit 1): iterate: pebble: corruption"


@pytest.fixture
def world_readable_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="fail-perm-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _as_nobody(tmp: Path, sim_binary: Path) -> Path:
    """A seidb that runs as uid 65534 (root writes anywhere; the failure needs a user who cannot)."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv to run the scan as an unprivileged user")
    wrapper = tmp / "seidb-as-nobody"
    wrapper.write_text(f'#!/bin/sh\nexec {setpriv} --reuid=65534 --regid=65534 --clear-groups "{sim_binary}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXOTH | stat.S_IROTH)
    return wrapper


def test_sim_flatkv_dir_not_writable(sim_binary: Path, world_readable_dir: Path) -> None:
    make_fixture(world_readable_dir / "node", height=100, rows=60)
    flatkv = world_readable_dir / "node" / "flatkv"
    runner = SeidbRunner(_as_nobody(world_readable_dir, sim_binary))
    error = _fail(runner, DigestRequest(Backend.FLATKV, flatkv, 100))
    assert isinstance(error, FlatKVDirNotWritable) and error.flatkv_dir == str(flatkv)
    assert error.one_line == f"flatkv at 100: seidb cannot create its temporary clone in {flatkv}: permission denied"


def test_a_scan_killed_by_someone_else_says_so(tmp_path: Path) -> None:
    """seidb killed by a signal this run did not send (the OOM killer, typically): a real process that
    SIGKILLs itself stands in for the kernel."""
    binary = tmp_path / "seidb"
    binary.write_text("#!/usr/bin/env bash\necho scanning\nkill -KILL $$\n")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    error = _fail(SeidbRunner(binary), DigestRequest(Backend.FLATKV, tmp_path, 7))
    assert isinstance(error, SeidbKilled) and error.signum == 9
    assert error.one_line == "flatkv at 7: seidb was killed by SIGKILL (not by this run)" and "dmesg" in error.hint


def test_sim_read_only_mount(sim_binary: Path, tmp_path: Path) -> None:
    mount = tmp_path / "ro"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs CAP_SYS_ADMIN); the unprivileged-user test covers EACCES")
    try:
        make_fixture(mount / "node", height=100, rows=60)
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        flatkv = mount / "node" / "flatkv"
        error = _fail(SeidbRunner(sim_binary), DigestRequest(Backend.FLATKV, flatkv, 100))
        assert isinstance(error, FlatKVDirNotWritable) and error.one_line.endswith(": read-only file system")
    finally:
        subprocess.run(["umount", str(mount)], check=False)
