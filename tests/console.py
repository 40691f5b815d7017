"""The `evm-digest` console script as people and scripts run it: a real subprocess of the venv's entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EVM_DIGEST = str(Path(sys.executable).parent / "evm-digest")
CLOSED_API = "http://127.0.0.1:9/api"  # nothing listens on the discard port: Prefect is never reachable


def cli(
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EVM_DIGEST, *args], input=stdin, capture_output=True, text=True, timeout=timeout, check=False, env=env, cwd=cwd
    )


def env_with(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


def assert_one_failure(stderr: str, prefix: str = "evm-digest") -> list[str]:
    """stderr holds exactly one `<prefix>: <one line>` (+ `hint: …`) and no traceback; returns those lines.

    Prefect's own console log lines may surround it (e.g. "Stopping temporary server" at exit)."""
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = stderr.splitlines()
    ours = [i for i, line in enumerate(lines) if line.startswith(f"{prefix}: ")]
    assert len(ours) == 1, stderr[-3000:]
    hint = lines[ours[0] + 1 : ours[0] + 2]
    return [lines[ours[0]], *(h for h in hint if h.startswith("hint: "))]
