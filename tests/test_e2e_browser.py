"""The Prefect UI as an operator sees it, in headless Chromium at a 1400x1000 window: the per-bucket
table artifact shows its match columns without scrolling, every parameter description of the adhoc
deployment's run form renders as written (no text swallowed as an HTML tag), and the flow-run page
lists each scan's progress artifact with its phase."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from tests.plugins.chromium import WINDOW, Page, evaluate, render
from tests.plugins.deployment import Deployment
from tests.plugins.server import PrefectServer

pytestmark = [pytest.mark.server, pytest.mark.browser]

# Every header cell of the page's table: its text and horizontal extent, once the table has rendered.
HEADERS = """(() => {
  const cells = [...document.querySelectorAll('table th')];
  if (!cells.length || !document.querySelector('table td')) return null;
  return {width: window.innerWidth, headers: cells.map(th => {
    const box = th.getBoundingClientRect();
    return {text: th.innerText.trim(), left: box.left, right: box.right};
  })};
})()"""
# The form's text, once it holds every expected string (the UI renders the form in pieces).
FORM_TEXT = """((expected) => {
  const text = document.body.innerText.split(/\\s+/).join(' ');
  return expected.every(part => text.includes(part)) ? text : null;
})(%s)"""


def test_the_bucket_table_shows_its_match_columns_within_1400_px(
    adhoc_run: dict[str, Any], prefect_server: PrefectServer
) -> None:
    table = next(a for a in adhoc_run["artifacts"] if a["type"] == "table")
    page = evaluate(f"{prefect_server.ui_url}/artifacts/artifact/{table['id']}", HEADERS)
    assert page, "the table artifact did not render"
    assert page["width"] == WINDOW[0]
    headers = {cell["text"]: cell for cell in page["headers"]}
    for column in ("bucket", "semantic match", "translator match"):
        assert column in headers, list(headers)
        assert headers[column]["left"] >= 0 and headers[column]["right"] <= WINDOW[0], (column, headers[column])


def _plain(description: str) -> str:
    """The description as rendered text: Markdown code spans lose their backticks, whitespace folds."""
    return " ".join(description.replace("`", "").split())


def test_every_parameter_description_renders_as_written(
    readme_deployment: Deployment, prefect_server: PrefectServer
) -> None:
    adhoc = readme_deployment.deployments["adhoc"]
    properties = adhoc["parameter_openapi_schema"]["properties"]
    expected = [_plain(prop["description"]) for prop in properties.values()]
    form = f"{prefect_server.ui_url}/deployments/deployment/{adhoc['id']}/run"
    # Waits (up to a minute) for every description; if one never appears, read the form as it stands.
    text = evaluate(form, FORM_TEXT % json.dumps(expected)) or evaluate(form, FORM_TEXT % '["scan_timeout"]')
    assert text, "the custom run form did not render"
    rendered = " ".join(text.split())
    missing = {name: prop["description"] for name, prop in properties.items()
               if _plain(prop["description"]) not in rendered}  # fmt: skip
    around = {name: rendered[max(0, rendered.find(name) - 20) : rendered.find(name) + 300] for name in missing}
    assert missing == {}, json.dumps({"expected": missing, "rendered": around}, indent=1)
    node = re.search(r"resource is (evm-digest\.node\.\S+)\)", rendered)
    assert node and node.group(1) == "evm-digest.node.NODE", rendered[:2000]


def test_the_flow_run_page_shows_each_scans_progress(adhoc_run: dict[str, Any], prefect_server: PrefectServer) -> None:
    progress = {a["key"]: a for a in adhoc_run["artifacts"] if a["type"] == "progress"}
    assert set(progress) == {
        f"evm-digest-progress-e2e-node-{s}" for s in ("flatkv", "memiavl-semantic", "memiavl-translator")
    }
    assert all(a["data"] == 100 for a in progress.values())
    page = Page(size=(WINDOW[0], 2400))  # tall: the UI's virtual scrollers render only what is in view
    try:
        page.open(f"{prefect_server.ui_url}/runs/flow-run/{adhoc_run['run']['id']}")
        last = "evm-digest-progress-e2e-node-memiavl-translator"
        text, deadline = "", time.monotonic() + 90
        while last not in text and time.monotonic() < deadline:
            page.wait_for("Job Variables")  # the run is loaded and its tabs are drawn
            page.click("li#artifacts")  # again if the first click came before the tab was live
            text = page.wait_for(last, timeout=10)
    finally:
        page.close()
    for key in progress:
        assert key in text, f"{key} not listed on the flow-run page:\n{text}"
    assert f"done · flatkv at height {adhoc_run['run']['parameters']['height']}" in text
    # ...and its own page draws the bar's value.
    dom = render(f"{prefect_server.ui_url}/artifacts/artifact/{progress[next(iter(progress))]['id']}")
    assert "Progress: 100%" in dom
