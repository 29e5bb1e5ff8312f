"""A shared workflow without download links, opened in a real ComfyUI (COMFYUI_DIR) on its pinned
frontend and the newest one: Launchpad offers its missing models where ComfyUI speaks (a toast;
its action installs them where the frontend's toasts have actions), finds them in a ComfyUI-Manager model
list, a Hub listing and, by sha256, on Civitai (all fakes, resolve_helpers.py), installs the sure
ones in one click, asks before a mere name match, and the loaders' dropdowns list the new files
without a reload.

Skipped without COMFYUI_DIR or Chromium.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from integration.real_comfyui import ComfyUI, LaunchOptions
from resolve_helpers import CIVITAI_LORA, HUB_LORA, MANAGER_VAE, SURE, Sources, stage

from fakehub import FakeHub

from .conftest import PageErrors, record
from .test_comfyui_sidebar import NEWEST_FRONTEND, comfyui_on, frontend_version
from .test_workflow_in_comfyui import close_dialogs, expect

pytestmark = [pytest.mark.integration, pytest.mark.browser]

TAB = "launchpad.sidebar"
APP = "window.comfyAPI.app.app"
HERE = "Install on this server"  # the offer's action
TOASTS = ".p-toast-message, [data-toast-kind]"  # PrimeVue's (1.27, 1.49), 1.58's own
RATE = 100_000  # bytes/s: a second or so per file, so the progress is seen


@pytest.fixture(scope="module")
def hub() -> Iterator[FakeHub]:
    server = FakeHub().start()
    yield server
    server.stop()


@pytest.fixture(scope="module", params=["pinned", NEWEST_FRONTEND])
def comfyui(
    request: pytest.FixtureRequest, hub: FakeHub, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ComfyUI, Sources]]:
    staged: list[Sources] = []
    options = LaunchOptions(
        env={"HF_ENDPOINT": hub.url, "CIVITAI_ENDPOINT": hub.url, "DOWNLOAD_FREE_SPACE_MARGIN": "0",
             "LAUNCHPAD_MODEL_LOOKUP": "1"},
        prepare=lambda workspace: staged.append(stage(hub, workspace, rate=RATE, refreshed=True)),
    )
    with comfyui_on(request.param, tmp_path_factory.mktemp("comfyui"), options) as server:
        yield server, staged[0]


def loader_choices(page: Any, kind: str, widget: str) -> list[str]:
    return page.evaluate(f"""() => {APP}.graph.nodes.find((n) => n.type === "{kind}")
        .widgets.find((w) => w.name === "{widget}").options.values""")


def test_a_workflow_without_links_is_offered_installed_and_listed_by_its_loaders(
    comfyui: tuple[ComfyUI, Sources], browser: Any, artifacts: Path
) -> None:
    server, sources = comfyui
    context = browser.new_context(viewport={"width": 1400, "height": 900}, color_scheme="dark")
    page = context.new_page()
    errors = PageErrors()
    errors.watch(page)
    page.goto(server.base_url)
    page.wait_for_function(
        f"window.comfyAPI?.app?.app?.extensionManager?.getSidebarTabs?.().some((t) => t.id === '{TAB}')",
        timeout=60_000)
    page.wait_for_function("fetch('/api/launchpad/health').then((r) => r.json()).then((h) => h.state === 'ready')")
    version = frontend_version(page)
    page.wait_for_timeout(2500)  # the restored workflow has settled (it is never offered)

    # someone's workflow, dropped or pasted: its loaders name the files, it links none of them
    page.evaluate(f"(w) => {APP}.loadGraphData(w, true, true, 'shared-workflow')", sources.workflow)
    title = "This workflow needs 5 missing models"
    detail = "Install 3 missing (180.0 KB) on this server with Launchpad; see its Workflow view."
    toast = page.locator(TOASTS).filter(has_text=title)
    expect(toast).to_contain_text(detail, timeout=60_000)
    page.screenshot(path=str(artifacts / f"resolve-{version}-offer.png"))
    action = toast.get_by_role("button", name=HERE)
    panel = page.locator(".lp")
    rows = panel.locator(".lp-row[data-key]")
    if action.count():  # 1.58: the toast's own action
        action.click()
    else:  # 1.27 and 1.49 toasts have no actions: the Workflow view opened with its button
        close_dialogs(page)
        expect(panel.get_by_role("tab", name="Workflow")).to_have_attribute("aria-selected", "true")
        expect(rows.filter(has_text=CIVITAI_LORA)).to_contain_text("Civitai: Paper Cut v1.0 · same hash")
        lora = rows.filter(has_text=HUB_LORA)
        expect(lora).to_contain_text("acme/known-repackaged · same file name · 60.0 KB")
        expect(lora).to_contain_text(f"or ComfyUI-Manager's model list: {HUB_LORA} · same file name · ~60.0 KB")
        page.screenshot(path=str(artifacts / f"resolve-{version}-workflow-view.png"))
        panel.get_by_role("button", name="Install 3 missing (180.0 KB)").click()
    close_dialogs(page)
    expect(panel.get_by_role("tab", name="Workflow")).to_have_attribute("aria-selected", "true")
    for key in SURE:
        expect(panel.locator(f'.lp-row[data-key="{key}"] .lp-badge')).to_have_text("Present", timeout=60_000)
    for key in SURE:
        assert (server.workspace / "models" / key).read_bytes() == sources.served[key]

    # ComfyUI lists them at once: the loaders' dropdowns, a new loader, its /models route
    page.wait_for_function(f"""() => {APP}.graph.nodes.filter((n) => n.type === "LoraLoader")
        .every((n) => n.widgets[0].options.values.includes(n.widgets[0].value))""", timeout=30_000)
    assert MANAGER_VAE in loader_choices(page, "VAELoader", "vae_name")
    fresh = page.evaluate("""() => {
        const LiteGraph = window.LiteGraph || window.comfyAPI.litegraph?.LiteGraph;
        return LiteGraph.createNode("LoraLoader").widgets[0].options.values;
    }""")
    assert CIVITAI_LORA in fresh and HUB_LORA in fresh, fresh
    assert CIVITAI_LORA in server.get("/models/loras").json()  # type: ignore[operator]

    # a name match asks first, in ComfyUI's own dialog, then installs under the workflow's name
    base = panel.locator('.lp-row[data-key="checkpoints/Known-Base.safetensors"]')
    expect(base.locator(".lp-badge")).to_have_text("Ask first")
    base.get_by_role("button", name="Install Known-Base.safetensors").click()
    dialog = page.get_by_role("dialog").filter(has_text="Only the name matches")
    expect(dialog).to_contain_text("may not be the file this workflow was made with")
    page.screenshot(path=str(artifacts / f"resolve-{version}-ask-first.png"))
    dialog.get_by_role("button", name="Confirm").click()
    expect(base.locator(".lp-badge")).to_have_text("Present", timeout=60_000)
    page.wait_for_function(f"""() => {APP}.graph.nodes.find((n) => n.type === "CheckpointLoaderSimple")
        .widgets[0].options.values.includes("Known-Base.safetensors")""", timeout=30_000)

    # ... and its Model Library
    page.evaluate(f"{APP}.extensionManager.command.execute('Workspace.ToggleSidebarTab.model-library')")
    page.get_by_placeholder("Search", exact=False).last.fill("papercut")
    expect(page.get_by_text("papercut", exact=True)).to_be_visible()
    page.screenshot(path=str(artifacts / f"resolve-{version}-model-library.png"))
    page.evaluate(f"{APP}.extensionManager.command.execute('Workspace.ToggleSidebarTab.{TAB}')")

    # the command that does the same on another pod
    expect(panel.locator(".lp-old code")).to_have_text("launchpad workflow shared-workflow.json --install")
    page.screenshot(path=str(artifacts / f"resolve-{version}-installed.png"))
    record(f"resolve_{version}_offer_text", f"{title}: {detail}")
    ours = [e for e in errors if "launchpad" in e.lower()]
    assert not ours, ours
    context.close()


def test_the_offer_is_switched_off_in_settings(comfyui: tuple[ComfyUI, Sources], browser: Any) -> None:
    server, sources = comfyui
    context = browser.new_context(viewport={"width": 1400, "height": 900}, color_scheme="dark")
    page = context.new_page()
    page.goto(server.base_url)
    page.wait_for_function(
        f"window.comfyAPI?.app?.app?.extensionManager?.getSidebarTabs?.().some((t) => t.id === '{TAB}')",
        timeout=60_000)
    page.wait_for_timeout(2500)
    page.evaluate(f"{APP}.extensionManager.setting.set('Launchpad.OfferInstall', false)")  # Settings -> Launchpad
    # a workflow that needs a model nothing here has: offered if the setting were on
    workflow = json.loads(json.dumps(sources.workflow))
    workflow["id"] = str(uuid.uuid4())
    gone = {"name": "gone-lora.safetensors", "directory": "loras",
            "url": "https://huggingface.co/acme/known-repackaged/resolve/main/split_files/loras/gone-lora.safetensors"}
    workflow["nodes"][1]["widgets_values"][0] = gone["name"]
    workflow["nodes"][1]["properties"] = {"models": [gone]}
    page.evaluate(f"(w) => {APP}.loadGraphData(w, true, true, 'another')", workflow)
    page.wait_for_timeout(5000)
    assert page.locator(TOASTS).filter(has_text="This workflow needs").count() == 0
    page.evaluate(f"{APP}.extensionManager.setting.set('Launchpad.OfferInstall', true)")
    context.close()
