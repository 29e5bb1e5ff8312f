"""The "Workflow" view standalone (`launchpad serve`): a real template file opened, its missing
models listed with sizes, installed in one click with live progress, a pasted workflow with a
model nobody can fetch, and one whose checksum the Hub contradicts."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from workflow_helpers import WAN_TEMPLATE, load_template, serve_models, templates_dir, vouch_for

from conftest import cli_argv
from fakehub import random_bytes

from .conftest import SIDEBAR, PageErrors
from .stage import Stage

pytestmark = pytest.mark.browser

SIZE = 600_000
RATE = 400_000  # bytes/s: each file takes over a second, so progress is seen on the way


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    if templates_dir() is None:
        pytest.skip("no comfyui-workflow-templates package installed (the test extra installs it)")
    stage = Stage(tmp_path_factory.mktemp("workflow-stage"), cli_argv()).prepare()
    stage.workflow = load_template(WAN_TEMPLATE)  # type: ignore[attr-defined]
    stage.served = serve_models(stage.hub, stage.workflow, SIZE, rate=RATE)  # type: ignore[attr-defined]
    vouch_for(stage.workspace, stage.workflow, stage.served)  # type: ignore[attr-defined]
    try:
        stage.start()
        yield stage
    finally:
        stage.close()


@pytest.fixture
def page(browser: Any, stage: Stage, page_errors: PageErrors) -> Iterator[Any]:
    context = browser.new_context(viewport=SIDEBAR, color_scheme="dark")
    page = page_errors.watch(context.new_page())
    page.add_init_script("document.addEventListener('lp:rendered', (e) => { window.lpRendered = e.detail; })")
    page.goto(stage.url + "#workflow")
    page.wait_for_function("window.lpRendered")
    yield page
    context.close()


def test_an_opened_template_lists_its_models_and_installs_them_with_progress(
    page: Any, stage: Stage, tmp_path: Path, artifacts: Path, page_errors: PageErrors
) -> None:
    served: dict[str, bytes] = stage.served  # type: ignore[attr-defined]
    head = page.locator(".lp-view .lp-toolbar > p.lp-muted")
    expect(head).to_have_text("Open a workflow to see the models it needs.")
    file = tmp_path / f"{WAN_TEMPLATE}.json"
    file.write_text(json.dumps(stage.workflow), encoding="utf-8")  # type: ignore[attr-defined]

    page.get_by_label("Open a workflow file").set_input_files(str(file))

    expect(head).to_have_text(f"{WAN_TEMPLATE}.json: 3 models · 0 present · 3 missing · 0 unknown")
    rows = page.locator(".lp-row[data-key]")
    expect(rows).to_have_count(3)
    for key in served:
        row = page.locator(f'.lp-row[data-key="{key}"]')
        expect(row.locator(".lp-badge")).to_have_text("Missing")
        expect(row).to_contain_text(f"{len(served[key]) / 1000:.1f} KB")  # the Hub said how big
    total = sum(map(len, served.values()))
    install = page.get_by_role("button", name=f"Install 3 missing ({total / 1e6:.1f} MB)")
    page.screenshot(path=str(artifacts / "standalone-workflow-missing-dark.png"))
    page.evaluate("""() => {
        window.badges = new Set();
        setInterval(() => document.querySelectorAll(".lp-row[data-key] .lp-badge")
            .forEach((b) => window.badges.add(b.textContent)), 50);
    }""")

    install.click()

    expect(page.locator(".lp-row[data-key] [role=progressbar]").first).to_be_visible()
    page.screenshot(path=str(artifacts / "standalone-workflow-installing-dark.png"))
    expect(page.locator(".lp-row[data-key] .lp-badge")).to_have_text(["Present"] * 3, timeout=60_000)
    expect(head).to_have_text(f"{WAN_TEMPLATE}.json: 3 models · 3 present · 0 missing · 0 unknown")
    expect(install).to_be_hidden()
    assert "Downloading" in page.evaluate("[...window.badges]")
    for key, data in served.items():
        assert (stage.workspace / "models" / key).read_bytes() == data
    expect(page.locator(".lp-toast")).to_contain_text("Installed")
    page.get_by_role("tab", name="Downloads").click()
    expect(page.locator(".lp-row", has_text="wan2.2_vae.safetensors")).to_contain_text(f"workflow {WAN_TEMPLATE}")
    assert not page_errors


def test_a_pasted_workflow_names_what_nobody_can_fetch(page: Any, stage: Stage, page_errors: PageErrors) -> None:
    handmade = {"nodes": [
        {"id": 3, "type": "VAELoader", "widgets_values": ["nobody-has-this.safetensors"]},
        {"id": 4, "type": "LoraLoader", "widgets_values": ["browser-small-lora.safetensors", 1, 1]},
        {"id": 5, "type": "VAELoader", "mode": 4, "widgets_values": ["bypassed-vae.safetensors"]},
        # linked to a Hugging Face file that no source can size (the Hub does not have it)
        {"id": 6, "type": "CheckpointLoaderSimple", "widgets_values": ["nowhere-sized.safetensors"],
         "properties": {"models": [{"name": "nowhere-sized.safetensors", "directory": "checkpoints",
                                    "url": "https://huggingface.co/acme/absent/resolve/main/nowhere-sized.safetensors"}]}},
    ]}
    box = page.get_by_label("Workflow JSON")
    box.fill("{ not json")
    page.get_by_role("button", name="Check").click()
    expect(page.locator(".lp-toast")).to_contain_text("Not a workflow")

    box.fill(json.dumps(handmade))
    page.get_by_role("button", name="Check").click()

    unknown = page.locator('.lp-row[data-key="vae/nobody-has-this.safetensors"]')
    expect(unknown.locator(".lp-badge")).to_have_text("Unknown")
    expect(unknown).to_contain_text("wanted by VAELoader #3")
    lora = page.locator('.lp-row[data-key="loras/browser-small-lora.safetensors"]')
    expect(lora.locator(".lp-badge")).to_have_text("Missing")
    expect(lora).to_contain_text("Browser small pair")  # the preset that lists it
    expect(page.locator('.lp-row[data-key="vae/bypassed-vae.safetensors"]')).to_contain_text("bypassed")
    unsized = page.locator('.lp-row[data-key="checkpoints/nowhere-sized.safetensors"]')
    expect(unsized.locator(".lp-badge")).to_have_text("Missing")
    # a size nobody gave is said to be unknown, never added as 0 B
    expect(page.get_by_role("button", name="Install 2 missing (1.0 MB + 1 of unknown size)")).to_be_visible()
    time.sleep(0.2)
    assert not page_errors


def test_a_checksum_the_hub_contradicts_fails_before_a_byte_and_says_both(
    page: Any, stage: Stage, artifacts: Path, page_errors: PageErrors
) -> None:
    data = random_bytes(300_000)
    stage.hub.add_hf_file("acme/mismatch", "model.safetensors", data)
    stated = "0" * 64  # the user's preset states another sha256 than the Hub advertises
    (stage.workspace / "config" / "presets" / "mismatch.yaml").write_text(json.dumps({"schema": 1, "presets": [
        {"id": "bt-mismatch", "name": "Browser mismatched checksum", "category": "image",
         "files": [{"folder": "checkpoints", "name": "browser-mismatch.safetensors", "hf": "acme/mismatch",
                    "path": "model.safetensors", "sha256": stated}]},
    ]}), encoding="utf-8")
    box = page.get_by_label("Workflow JSON")
    box.fill(json.dumps({"nodes": [
        {"id": 1, "type": "CheckpointLoaderSimple", "widgets_values": ["browser-mismatch.safetensors"]}]}))
    page.get_by_role("button", name="Check").click()
    row = page.locator('.lp-row[data-key="checkpoints/browser-mismatch.safetensors"]')
    expect(row.locator(".lp-badge")).to_have_text("Missing")
    # the Hub's size is not taken for a file whose checksum it contradicts: the total is an estimate
    install = page.get_by_role("button", name=re.compile(r"^Install 1 missing \(~[\d.]+ GB\)$"))

    install.click()

    error = row.locator(".lp-error")
    expect(error).to_contain_text(f"the catalog says its sha256 is {stated}")
    expect(error).to_contain_text(f"advertises {hashlib.sha256(data).hexdigest()}")
    expect(error).to_contain_text("nothing was downloaded")
    assert stage.hub.bytes_sent("acme/mismatch/model.safetensors") == 0
    page.screenshot(path=str(artifacts / "standalone-workflow-checksum-dark.png"))
    assert not page_errors
