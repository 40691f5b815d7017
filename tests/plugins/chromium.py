"""Headless Chromium for UI checks: render a page at a real window size and evaluate JavaScript in it.

`evaluate(url, expression)` starts Chromium (flags from ../shared/prefect-notes.md) with the DevTools
protocol on a loopback port, navigates, and polls `expression` until it returns something truthy (the
Prefect UI renders client-side). Layout questions (where a column ends) are answered by the browser.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

WINDOW = (1400, 1000)
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def chromium() -> str:
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if found is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium; .ci/run does it)")
    return found


def _devtools_port(profile: Path, process: subprocess.Popen[bytes], timeout: float) -> str:
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while not (port_file.exists() and port_file.read_text().strip()):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("Chromium did not open its DevTools port")
        time.sleep(0.1)
    return port_file.read_text().split()[0]


def evaluate(url: str, expression: str, *, timeout: float = 60) -> Any:
    """The first truthy value of `expression` in the page at `url` (window 1400x1000), or the last value."""
    with tempfile.TemporaryDirectory(prefix="chromium-", ignore_cleanup_errors=True) as profile:
        process = subprocess.Popen(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
             "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            port = _devtools_port(Path(profile), process, timeout)
            pages = httpx.get(f"http://127.0.0.1:{port}/json", timeout=10).json()
            target = next(page["webSocketDebuggerUrl"] for page in pages if page["type"] == "page")
            return _poll(target, url, expression, timeout)
        finally:
            # Chromium's renderer and GPU processes share its group; they would keep writing the profile.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _poll(target: str, url: str, expression: str, timeout: float) -> Any:
    ids = itertools.count(1)
    with connect(target, max_size=None, open_timeout=timeout) as ws:

        def call(method: str, **params: Any) -> dict[str, Any]:
            request_id = next(ids)
            ws.send(json.dumps({"id": request_id, "method": method, "params": params}))
            while True:  # events arrive interleaved with answers
                message: dict[str, Any] = json.loads(ws.recv(timeout=timeout))
                if message.get("id") == request_id:
                    return message

        call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            answer = call("Runtime.evaluate", expression=expression, returnByValue=True)
            value = answer.get("result", {}).get("result", {}).get("value")
            if value:
                return value
            time.sleep(0.5)
        return value
