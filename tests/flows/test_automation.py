"""The shipped example automation is accepted by a real Prefect API and matches the events we emit."""

from __future__ import annotations

import fnmatch
import os
import subprocess
import sys
from pathlib import Path

import httpx

from flows.evm_logical_digest import node_slug

REPO = Path(__file__).resolve().parents[2]


def test_example_automation_is_created_and_matches_our_mismatch_event(prefect_api: str) -> None:
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    prefect = str(Path(sys.executable).parent / "prefect")
    done = subprocess.run(
        [prefect, "--no-prompt", "automation", "create", "--from-file", str(REPO / "automations/digest-mismatch.yaml")],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    automations = httpx.post(f"{prefect_api}/automations/filter", json={}, timeout=30).json()
    created = next(a for a in automations if a["name"] == "evm-digest mismatch")
    trigger = created["trigger"]
    assert trigger["expect"] == ["evm.digest.mismatch"]
    assert trigger["posture"] == "Reactive"
    assert created["actions"][0]["type"] == "pause-deployment"
    # The resource pattern must match the resource id the flow puts on its events.
    pattern = trigger["match"]["prefect.resource.id"]
    assert fnmatch.fnmatch(f"evm-digest.node.{node_slug('Validator 7')}", pattern)
