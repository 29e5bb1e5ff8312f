"""The dashboard's lock buttons and pod chips in Chromium: Models saves the lock of what is
installed, the Workflow view the lock of the open workflow, and a file another live pod serves
shows that pod and cannot be deleted from here."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .stage import OWNED, Stage
from .test_dashboard import expect, panel  # noqa: F401 - the fixture, shared with the dashboard tests

pytestmark = pytest.mark.browser


@pytest.fixture
def other_pod(stage: Stage) -> Iterator[Path]:
    """A live lease of another pod (another host, heartbeat now) naming the OWNED file."""
    path = stage.workspace / ".launchpad" / "leases" / "pod-x-7-test.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pod": "pod-x", "host": "other-host", "pid": 7, "kind": "comfyui",
                                "started_at": time.time(), "ttl": 600, "presets": {},
                                "locks": {"prod.lock.json": [f"{OWNED.folder}/{OWNED.name}"]}}))
    os.utime(path)
    yield path
    path.unlink(missing_ok=True)


def test_the_models_view_names_the_pod_that_serves_a_file_and_keeps_it(panel, stage: Stage, other_pod: Path,  # noqa: F811
                                                                        artifacts: Path) -> None:
    page = panel("models")
    row = page.locator(".lp-row", has_text=OWNED.name)
    chip = row.locator(".lp-pod")
    expect(chip).to_have_text("pod pod-x")
    expect(chip).to_have_attribute("title", "used by pod pod-x: lock prod.lock.json")
    page.screenshot(path=str(artifacts / "standalone-models-pods-dark.png"))

    row.get_by_role("button", name=f"Delete {OWNED.name}").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()

    expect(page.locator(".lp-toast")).to_contain_text("pod pod-x")
    assert stage.model_path(OWNED).exists()


def test_models_lock_file_saves_the_lock_of_what_is_installed(panel, stage: Stage) -> None:  # noqa: F811
    page = panel("models")
    with page.expect_download() as caught:
        page.get_by_role("button", name="Lock file").click()
    download = caught.value

    assert download.suggested_filename == "models.lock.json"
    lock = json.loads(Path(download.path()).read_text())
    assert lock["format"] == "launchpad.models-lock" and lock["made_from"]["installed"] is True
    assert [(f["folder"], f["name"], f["source"]["hf"]) for f in lock["files"]] == [
        (OWNED.folder, OWNED.name, OWNED.repo)]
    expect(page.locator(".lp-toast")).to_contain_text("Saved models.lock.json (1 file)")


def test_the_workflow_views_lock_file_saves_the_lock_of_that_workflow(panel, stage: Stage,  # noqa: F811
                                                                      artifacts: Path) -> None:
    page = panel("workflow")
    lock_button = page.get_by_role("button", name="Lock file")
    expect(lock_button).to_be_hidden()  # nothing to lock before a workflow is open
    workflow = {"nodes": [{"id": 1, "type": "VAELoader", "widgets_values": [OWNED.name]},
                          {"id": 2, "type": "UNETLoader", "widgets_values": ["nowhere.safetensors", "default"]}]}
    page.get_by_role("textbox", name="Workflow JSON").fill(json.dumps(workflow))
    page.get_by_role("button", name="Check").click()
    expect(lock_button).to_be_visible()
    with page.expect_download() as caught:
        lock_button.click()
    download = caught.value

    assert download.suggested_filename == "untitled.lock.json"
    lock = json.loads(Path(download.path()).read_text())
    assert [f["name"] for f in lock["files"]] == [OWNED.name]
    toast = page.locator(".lp-toast", has_text="Saved untitled.lock.json")
    expect(toast).to_contain_text("diffusion_models/nowhere.safetensors: left out")  # what the server warned
    page.screenshot(path=str(artifacts / "standalone-workflow-lock-dark.png"))
