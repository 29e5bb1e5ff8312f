"""The Workflow view inside a real ComfyUI (COMFYUI_DIR), on the pinned frontend and the newest
one: a template opened the way ComfyUI's template browser opens it, the menu command shows the
view with the template's missing models, one click installs them from a fake Hub, switching to
another workflow refreshes the list, and the now installed template preset opens its template;
a template that needs a newer ComfyUI than the running one says so.

Skipped without COMFYUI_DIR or Chromium.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from integration.real_comfyui import ComfyUI, LaunchOptions
from workflow_helpers import WAN_PRESET, WAN_TEMPLATE, serve_models, vouch_for

from fakehub import FakeHub

from .conftest import PageErrors
from .test_comfyui_sidebar import NEWEST_FRONTEND, comfyui_on, frontend_version

pytestmark = [pytest.mark.integration, pytest.mark.browser]

TAB = "launchpad.sidebar"
NODE_FILE = "diffusion_models/wan2.2_ti2v_5B_fp16.safetensors"  # a file the catalog lists
APP = "window.comfyAPI.app.app"
NEWER_TEMPLATE = "video_wan2_2_14B_t2v"  # a template whose preset needs ComfyUI 0.16.4
# a workflow saved by someone: its VAE named by a loader only, unknown to every source
HANDMADE = {"last_node_id": 7, "last_link_id": 0, "nodes": [
    {"id": 7, "type": "VAELoader", "pos": [0, 0], "size": [300, 60], "flags": {}, "order": 0, "mode": 0,
     "inputs": [], "outputs": [{"name": "VAE", "type": "VAE", "links": None}], "properties": {},
     "widgets_values": ["someones-own-vae.safetensors"]}],
    "links": [], "groups": [], "config": {}, "extra": {}, "version": 0.4}


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def close_dialogs(page: Any) -> None:
    """Close what ComfyUI shows over a template it opened, one dialog at a time, as a user would."""
    dialogs = page.get_by_role("dialog")
    for _ in range(dialogs.count()):
        page.keyboard.press("Escape")
        page.wait_for_timeout(300)  # the next one takes the focus when the top one has gone
    expect(dialogs).to_have_count(0)


@pytest.fixture(scope="module")
def hub() -> Iterator[FakeHub]:
    server = FakeHub().start()
    yield server
    server.stop()


@pytest.fixture(scope="module", params=["pinned", NEWEST_FRONTEND])
def comfyui(
    request: pytest.FixtureRequest, hub: FakeHub, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ComfyUI]:
    options = LaunchOptions(env={"HF_ENDPOINT": hub.url, "DOWNLOAD_FREE_SPACE_MARGIN": "0"})
    with comfyui_on(request.param, tmp_path_factory.mktemp("comfyui"), options) as server:
        yield server


def test_the_open_template_lists_its_models_installs_them_and_follows_a_switch(
    comfyui: ComfyUI, hub: FakeHub, browser: Any, artifacts: Path
) -> None:
    workflow = comfyui.get(f"/templates/{WAN_TEMPLATE}.json").json()
    served = serve_models(hub, workflow, 400_000, rate=400_000)  # type: ignore[arg-type]
    vouch_for(comfyui.workspace, workflow, served)  # type: ignore[arg-type]
    context = browser.new_context(viewport={"width": 1400, "height": 900}, color_scheme="dark")
    page = context.new_page()
    errors = PageErrors()
    errors.watch(page)
    page.goto(comfyui.base_url)
    page.wait_for_function(
        f"window.comfyAPI?.app?.app?.extensionManager?.getSidebarTabs?.().some((t) => t.id === '{TAB}')",
        timeout=60_000,
    )
    page.wait_for_function("fetch('/api/launchpad/health').then((r) => r.json()).then((h) => h.state === 'ready')")
    version = frontend_version(page)

    # open the template as ComfyUI's template browser does: its JSON from /templates, then loadGraphData
    page.evaluate(f"""async () => {{
        const app = {APP};
        const json = await (await fetch(window.comfyAPI.api.api.fileURL("/templates/{WAN_TEMPLATE}.json"))).json();
        await app.loadGraphData(json, true, true, "{WAN_TEMPLATE}");
    }}""")
    # 1.27 shows its own missing-models dialog (which would download to the laptop), and a
    # missing-nodes dialog under it when this ComfyUI lacks a node of the template: the user closes both
    page.screenshot(path=str(artifacts / f"comfyui-{version}-template-opened-dark.png"))
    close_dialogs(page)
    page.evaluate(f"{APP}.extensionManager.command.execute('launchpad.workflowModels')")  # the menu's command

    panel = page.locator(".lp")
    expect(panel.get_by_role("tab", name="Workflow")).to_have_attribute("aria-selected", "true")
    head = panel.locator(".lp-view .lp-toolbar > p.lp-muted")
    expect(head).to_contain_text("3 models · 0 present · 3 missing · 0 unknown")
    rows = panel.locator(".lp-row[data-key]")
    expect(rows).to_have_count(3)
    expect(rows.locator(".lp-badge")).to_have_text(["Missing"] * 3)
    page.screenshot(path=str(artifacts / f"comfyui-{version}-workflow-missing-dark.png"))
    panel.get_by_role("button", name="Install 3 missing (1.2 MB)").click()
    expect(rows.locator(".lp-badge").first).not_to_have_text("Missing")
    expect(rows.locator(".lp-badge")).to_have_text(["Present"] * 3, timeout=60_000)
    expect(head).to_contain_text("3 models · 3 present · 0 missing")
    for key, data in served.items():
        assert (comfyui.workspace / "models" / key).read_bytes() == data
    page.screenshot(path=str(artifacts / f"comfyui-{version}-workflow-present-dark.png"))

    # another workflow opened: the view follows it
    page.evaluate(f"(w) => {APP}.loadGraphData(w, true, true, 'handmade')", HANDMADE)
    unknown = panel.locator('.lp-row[data-key="vae/someones-own-vae.safetensors"]')
    expect(unknown.locator(".lp-badge")).to_have_text("Unknown")
    expect(unknown).to_contain_text("wanted by VAELoader #7")
    expect(rows).to_have_count(1)

    # the installed preset serving the template (the curated one it folded into) opens it
    panel.get_by_role("tab", name="Presets").click()
    card = panel.locator(f'[data-preset="{WAN_PRESET}"]')
    panel.get_by_role("searchbox", name="Search presets").fill(WAN_PRESET)
    expect(card.locator(".lp-badge")).to_have_text("Installed")
    card.locator(".lp-templates").get_by_role("button", name=WAN_TEMPLATE).click()
    page.wait_for_function(f"{APP}.graph.nodes.some((n) => n.type === 'UNETLoader')")
    close_dialogs(page)
    panel.get_by_role("tab", name="Workflow").click()
    expect(rows).to_have_count(3)
    expect(rows.locator(".lp-badge")).to_have_text(["Present"] * 3)
    # in the graph editor, the Launchpad Model node's name links into a loader's model input
    linked = page.evaluate(f"""async () => {{
        const app = {APP}, LiteGraph = window.LiteGraph || window.comfyAPI.litegraph?.LiteGraph;
        const model = LiteGraph.createNode("LaunchpadModel"), loader = LiteGraph.createNode("CheckpointLoaderSimple");
        app.graph.add(model); app.graph.add(loader);
        const fresh = {{ model: model.widgets.find((w) => w.name === "model").value,
                         preset: model.widgets.find((w) => w.name === "preset")?.value }};
        model.widgets.find((w) => w.name === "model").value = "{NODE_FILE}";
        const link = model.connect(0, loader, loader.inputs.findIndex((i) => i.name === "ckpt_name"));
        const {{ output }} = await app.graphToPrompt();
        return {{ link: !!link, input: output[loader.id]?.inputs.ckpt_name, model: output[model.id]?.inputs.model,
                  options: model.widgets.find((w) => w.name === "model").options.values, fresh }};
    }}""")
    assert linked["link"] and linked["input"][1] == 0, linked
    assert linked["model"] == NODE_FILE and NODE_FILE in linked["options"], linked
    # a new node names no file yet, rather than whichever sorts first
    assert linked["fresh"] == {"model": "(choose a model)", "preset": "(any preset)"}, linked
    ours = [e for e in errors if "launchpad" in e.lower() or "/lp-" in e]
    assert not ours, ours
    context.close()


def test_the_workflow_view_says_which_comfyui_the_open_template_needs(
    comfyui: ComfyUI, browser: Any, artifacts: Path
) -> None:
    running = comfyui.get("/api/launchpad/presets").json()["comfyui_version"]  # type: ignore[index]
    needs = "0.16.4"  # the curated WAN_22_14B_T2V's figure, which lists this template
    context = browser.new_context(viewport={"width": 1400, "height": 900}, color_scheme="dark")
    page = context.new_page()
    page.goto(comfyui.base_url)
    page.wait_for_function(
        f"window.comfyAPI?.app?.app?.extensionManager?.getSidebarTabs?.().some((t) => t.id === '{TAB}')",
        timeout=60_000,
    )
    version = frontend_version(page)
    page.evaluate(f"""async () => {{
        const json = await (await fetch(window.comfyAPI.api.api.fileURL("/templates/{NEWER_TEMPLATE}.json"))).json();
        await {APP}.loadGraphData(json, true, true, "{NEWER_TEMPLATE}");
    }}""")
    close_dialogs(page)
    page.evaluate(f"{APP}.extensionManager.command.execute('launchpad.workflowModels')")

    panel = page.locator(".lp")
    expect(panel.locator(".lp-view .lp-toolbar > p.lp-muted")).to_contain_text(f"{NEWER_TEMPLATE}: ")
    need = panel.locator(".lp-view > p.lp-meta")
    if [int(part) for part in running.split(".")] < [0, 16, 4]:
        expect(need.locator(".lp-warn")).to_have_text(f"needs ComfyUI {needs}+, this is {running}")
    else:
        expect(panel.locator(".lp-row[data-key]").first).to_be_visible()
        expect(need).to_have_text("")  # nothing to say where this ComfyUI is new enough
    page.screenshot(path=str(artifacts / f"comfyui-{version}-workflow-needs-comfyui-dark.png"))
    context.close()
