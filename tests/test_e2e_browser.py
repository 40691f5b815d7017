"""The Prefect UI as an operator sees it, in headless Chromium at a 1400x1000 window: the per-bucket
table artifact shows its match columns without scrolling, and every parameter description of the
adhoc deployment's run form renders as written (no text swallowed as an HTML tag)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.plugins.chromium import WINDOW, evaluate
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
