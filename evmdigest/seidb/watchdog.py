"""The kill -9 watchdog: stops what a console command left running once that command is gone.

`start(run_tag)` spawns `python -m evmdigest.seidb.watchdog <run tag> <grace>` in its own session
(a Ctrl-C to the terminal's process group does not reach it; the run tag is taken out of its
environment, so no sweep ever hits it) with the read end of a pipe as its stdin. The write end stays
only in the calling process: Python's fds are O_CLOEXEC, so no child inherits it. The watchdog blocks
on that pipe; EOF means the caller has exited, normally or by kill -9. It then applies the stop policy
to every process still carrying the run tag (orphaned grandchildren, the ephemeral Prefect server)
and removes the new clone dirs of the journaled scans of that tag (journal.stop_run). What it did is
appended to `<state dir>/watchdog.log`. See procs.py for the whole process-tree design.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

from evmdigest.seidb.journal import journal_dir, stop_run
from evmdigest.seidb.procs import RUN_TAG_ENV

_started: list[subprocess.Popen[bytes]] = []  # referenced until exit: never reaped or warned about early


def start(run_tag: str, *, grace: float) -> int:
    """Spawn the watchdog for `run_tag`; return the pipe's write end (keep it open until exit)."""
    read_end, write_end = os.pipe()  # both non-inheritable
    env = {name: value for name, value in os.environ.items() if name != RUN_TAG_ENV}
    try:
        _started.append(
            subprocess.Popen(
                [sys.executable, "-m", "evmdigest.seidb.watchdog", run_tag, f"{grace:g}"],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        )
    finally:
        os.close(read_end)
    return write_end


def _log(text: str) -> None:
    try:
        path = journal_dir().parent / "watchdog.log"
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with path.open("a") as log:
            log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} pid={os.getpid()} {text}\n")
    except OSError:
        pass  # nowhere to write: the cleanup itself has happened


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    run_tag, grace = args[0], float(args[1])
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(signum, signal.SIG_IGN)
    while os.read(0, 4096):  # nothing is ever written; EOF is the message
        pass
    stopped = stop_run(run_tag, grace=grace)
    if stopped.stopped or any(c.removed or c.kept for c in stopped.cleanups):
        _log(f"run tag {run_tag}: its process exited; {stopped.summary()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
