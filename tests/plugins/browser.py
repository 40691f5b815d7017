"""Headless Chromium for UI checks: `render` dumps a page's DOM; `Browser` drives a page over the DevTools
protocol for what needs a click (the flow-run page picks its tab after loading, so `?tab=` is lost).

Flags from shared/prefect-notes.md. A tall window: the UI's virtual scrollers render only what is in view.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
WINDOW = "--window-size=1400,2400"


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium; .ci/run does it)")
    return found


def render(url: str, *, budget_ms: int = 20000) -> str:
    """The DOM of `url` after its scripts ran for `budget_ms` of virtual time (a fresh profile)."""
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        done = subprocess.run(
            [chromium(), *CHROMIUM_FLAGS, WINDOW, f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}",
             "--dump-dom", url],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return done.stdout or done.stderr


class Browser:
    """One headless Chromium page over the DevTools protocol: `open`, `click`, `wait_for` text; then `close`."""

    def __init__(self) -> None:
        self._profile = tempfile.mkdtemp(prefix="chromium-profile-")
        self._process = subprocess.Popen(
            [chromium(), *CHROMIUM_FLAGS, WINDOW, f"--user-data-dir={self._profile}", "--remote-debugging-port=0",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        port_file = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self._process.poll() is not None:
                self.close()
                raise RuntimeError("headless Chromium did not open its DevTools port")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        self._ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        self._loop = asyncio.new_event_loop()
        self._ws: Any = self._loop.run_until_complete(websockets.connect(self._ws_url, max_size=2**26))
        self._next = 0

    def _call(self, method: str, **params: Any) -> dict[str, Any]:
        async def call() -> dict[str, Any]:
            self._next += 1
            await self._ws.send(json.dumps({"id": self._next, "method": method, "params": params}))
            while True:
                message = json.loads(await self._ws.recv())
                if message.get("id") == self._next:
                    result: dict[str, Any] = message.get("result", {})
                    return result

        return self._loop.run_until_complete(asyncio.wait_for(call(), timeout=60))

    def js(self, expression: str) -> Any:
        result = self._call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result.get("result", {}).get("value")

    def open(self, url: str) -> None:
        self._call("Page.navigate", url=url)

    def wait_for(self, text: str, *, timeout: float = 60) -> str:
        """The page's visible text once it contains `text` (or as it is when `timeout` runs out)."""
        deadline = time.monotonic() + timeout
        while True:
            body = self.js("document.body ? document.body.innerText : ''") or ""
            if text in body or time.monotonic() > deadline:
                return str(body)
            time.sleep(0.5)

    def click(self, selector: str) -> bool:
        script = "(() => { const e = document.querySelector(%s); e && e.click(); return !!e; })()"
        found = self.js(script % json.dumps(selector))
        return bool(found)

    def close(self) -> None:
        if hasattr(self, "_ws"):
            self._loop.run_until_complete(self._ws.close())
            self._loop.close()
        if self._process.poll() is None:
            os.killpg(self._process.pid, 15)
            self._process.wait(timeout=20)
        shutil.rmtree(self._profile, ignore_errors=True)
