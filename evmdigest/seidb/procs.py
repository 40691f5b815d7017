"""Process-group hygiene for long scans: no seidb (or anything it spawned) may outlive its run.

Every scan runs in its own session, carries a scan-id environment tag that its descendants inherit,
and (where util-linux `setpriv` exists) dies with its parent. Killing by tag catches a grandchild
that left the process group.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from pathlib import Path

SCAN_TAG_ENV = "EVMDIGEST_SCAN_ID"
RUN_TAG_ENV = "EVMDIGEST_RUN_TAG"


def pdeathsig_prefix() -> list[str]:
    # A SIGKILLed parent cannot run cleanup, so the kernel must deliver the child's death signal.
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL"] if setpriv else []


def _environ_has(pid: int, needle: bytes) -> bool:
    try:
        return needle in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False  # gone, or not ours to read


def pids_tagged(name: str, value: str) -> list[int]:
    needle = f"{name}={value}".encode()
    me = os.getpid()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != me and _environ_has(int(entry.name), needle):
            pids.append(int(entry.name))
    return pids


def kill_group_and_tagged(pgid: int | None, name: str, value: str) -> list[int]:
    """SIGKILL a process group and every process carrying the tag; return the tagged pids found."""
    if pgid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    killed = pids_tagged(name, value)
    for pid in killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return killed


def kill_run(run_tag: str) -> list[int]:
    """Kill every scan started under a run tag (the flow's cancellation hook calls this)."""
    return kill_group_and_tagged(None, RUN_TAG_ENV, run_tag)
