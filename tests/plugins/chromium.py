"""Headless Chromium for UI checks, over the DevTools protocol on a loopback port.

- `evaluate(url, expression)`: open `url` at a real window size and poll `expression` until it returns
  something truthy (the Prefect UI renders client-side); layout questions are answered by the browser.
- `Page`: one page to drive, for what needs a click (the flow-run page picks its tab after loading, so a
  `?tab=` in the URL is lost): `open`, `js`, `click`, `wait_for` text, `close`.
- `render(url)`: the DOM after the page's scripts ran (`--dump-dom`).
Flags from ../shared/prefect-notes.md.
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
from websockets.sync.client import ClientConnection, connect

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


class Page:
    """One headless Chromium page (window `size`), driven over the DevTools protocol."""

    def __init__(self, *, size: tuple[int, int] = WINDOW, timeout: float = 60) -> None:
        self.timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="chromium-")
        self._process = subprocess.Popen(
            [chromium(), *FLAGS, f"--user-data-dir={self._profile}", f"--window-size={size[0]},{size[1]}",
             "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        self._ids = itertools.count(1)
        try:
            port = self._devtools_port()
            pages = httpx.get(f"http://127.0.0.1:{port}/json", timeout=10).json()
            target = next(page["webSocketDebuggerUrl"] for page in pages if page["type"] == "page")
            self._ws: ClientConnection = connect(target, max_size=None, open_timeout=timeout)
        except BaseException:
            self.close()
            raise

    def _devtools_port(self) -> str:
        port_file = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while not (port_file.exists() and port_file.read_text().strip()):
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Chromium did not open its DevTools port")
            time.sleep(0.1)
        return port_file.read_text().split()[0]

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        request_id = next(self._ids)
        self._ws.send(json.dumps({"id": request_id, "method": method, "params": params}))
        while True:  # events arrive interleaved with answers
            message: dict[str, Any] = json.loads(self._ws.recv(timeout=self.timeout))
            if message.get("id") == request_id:
                return message

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def js(self, expression: str) -> Any:
        answer = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return answer.get("result", {}).get("result", {}).get("value")

    def poll(self, expression: str, *, timeout: float | None = None) -> Any:
        """The first truthy value of `expression`, or its last value when `timeout` runs out."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        value = None
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.5)
        return value

    def wait_for(self, text: str, *, timeout: float | None = None) -> str:
        """The page's visible text once it contains `text` (or as it is when `timeout` runs out)."""
        script = "((t) => { const b = document.body ? document.body.innerText : ''; return b.includes(t) ? b : null; })"
        found = self.poll(f"{script}({json.dumps(text)})", timeout=timeout)
        return str(found or self.js("document.body ? document.body.innerText : ''") or "")

    def click(self, selector: str) -> bool:
        script = "(() => { const e = document.querySelector(%s); e && e.click(); return !!e; })()"
        return bool(self.js(script % json.dumps(selector)))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._ws.close()
        # Chromium's renderer and GPU processes share its group; they would keep writing the profile.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()
        shutil.rmtree(self._profile, ignore_errors=True)


def evaluate(url: str, expression: str, *, timeout: float = 60) -> Any:
    """The first truthy value of `expression` in the page at `url` (window 1400x1000), or the last value."""
    page = Page(timeout=timeout)
    try:
        page.open(url)
        return page.poll(expression)
    finally:
        page.close()


def render(url: str, *, budget_ms: int = 20000) -> str:
    """The DOM of `url` after its scripts ran for `budget_ms` of virtual time (a fresh profile)."""
    with tempfile.TemporaryDirectory(prefix="chromium-", ignore_cleanup_errors=True) as profile:
        done = subprocess.run(
            [chromium(), *FLAGS, f"--window-size={WINDOW[0]},2400", f"--user-data-dir={profile}",
             f"--virtual-time-budget={budget_ms}", "--dump-dom", url],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    return done.stdout or done.stderr
