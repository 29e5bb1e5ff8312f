"""The Launchpad tab inside a real ComfyUI (COMFYUI_DIR), on the frontend that ComfyUI pins
(1.27.10 for v0.3.64) and on the newest one (comfyui-frontend-package 1.58.1 from PyPI, run
with --front-end-root): the tab is in the sidebar, opens, an install driven through it
completes with progress arriving over ComfyUI's own WebSocket, ComfyUI's dialog confirms the
uninstall, and every view is photographed in dark and light.

Skipped without COMFYUI_DIR or Chromium (failed instead where LAUNCHPAD_REQUIRE names them, as in CI);
the 1.58.1 case likewise if PyPI cannot be reached.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from integration.real_comfyui import ComfyUI, ComfyUIInstall, LaunchOptions, prepare, start
from workflow_helpers import WAN_PRESET, WAN_TEMPLATE

from conftest import cli_argv, missing
from fakehub import FakeHub, random_bytes

from .conftest import PageErrors, record
from .stage import PADDING, http, padding_presets

pytestmark = [pytest.mark.integration, pytest.mark.browser]

NEWEST_FRONTEND = "1.58.1"
TAB = "launchpad.sidebar"
SIZE = 3_000_000
VIEWS = ("presets", "workflow", "downloads", "models", "system", "queue")
CACHE = Path(os.environ.get("LAUNCHPAD_TEST_CACHE") or Path.home() / ".cache" / "comfyui-launchpad-tests")


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def newest_frontend() -> Path:
    """The static files of comfyui-frontend-package NEWEST_FRONTEND, fetched from PyPI once and cached."""
    static = CACHE / f"comfyui-frontend-{NEWEST_FRONTEND}" / "static"
    if (static / "index.html").is_file():
        return static
    with tempfile.TemporaryDirectory() as download:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", download,
             f"comfyui-frontend-package=={NEWEST_FRONTEND}"],
            capture_output=True, text=True, timeout=600,
        )
        wheels = list(Path(download).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            missing("comfyui", f"could not download comfyui-frontend-package {NEWEST_FRONTEND}: {done.stderr[-500:]}")
        prefix = "comfyui_frontend_package/static/"
        with zipfile.ZipFile(wheels[0]) as wheel:
            for member in wheel.namelist():
                if member.startswith(prefix) and not member.endswith("/"):
                    target = static / member[len(prefix):]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(wheel.read(member))
    return static


# Files with the long names real models have, slow enough to be caught downloading.
LONG_NAMES = {
    "text_encoders": "umt5_xxl_fp8_e4m3fn_scaled_text_encoder_for_wan.safetensors",
    "diffusion_models": "wan2.2_ti2v_5B_fp16_diffusion_model_full_precision.safetensors",
}
SLOW_SIZE = 2_000_000
SLOW_RATE = 40_000  # fifty seconds: still running while every view is looked at
QUEUE_PRESET = "Queue test (queue-slow)"  # as the Ensure Preset node lists it
# a real template and one with a name as long as the longest official ones; a ComfyUI newer than any
NARROW_TEMPLATES = ["video_wan2_2_5B_ti2v", "video_wan2_2_14B_fun_camera_control_with_a_very_long_name"]
NEWER_COMFYUI = "1.0.0"


@pytest.fixture(scope="module")
def hub() -> Iterator[FakeHub]:
    server = FakeHub().start()
    server.add_hf_file("acme/sidebar", "model.safetensors", random_bytes(SIZE))
    server.behave("acme/sidebar/model.safetensors", rate=1_000_000)  # about three seconds
    for folder in LONG_NAMES:
        server.add_hf_file("acme/narrow", f"{folder}.safetensors", random_bytes(SLOW_SIZE))
        server.behave(f"acme/narrow/{folder}.safetensors", rate=SLOW_RATE)
    server.add_hf_file("acme/gated", "gated.safetensors", random_bytes(1000), gated=True)
    server.add_hf_file("acme/queue", "slow.safetensors", random_bytes(SLOW_SIZE))
    server.behave("acme/queue/slow.safetensors", rate=SLOW_RATE)
    yield server
    server.stop()


def seed(workspace: Path) -> None:
    presets = workspace / "config" / "presets"
    presets.mkdir(parents=True)
    lora = workspace / "models" / "loras" / "a_style_lora_with_a_name_as_long_as_real_ones_get_v2_final.safetensors"
    lora.parent.mkdir(parents=True)
    lora.write_bytes(random_bytes(1000))  # for the Models view to list
    (presets / "padding.yaml").write_text(json.dumps({"schema": 1, "presets": padding_presets(PADDING)}))
    long_files = [{"folder": folder, "name": name, "hf": "acme/narrow", "path": f"{folder}.safetensors",
                   "size": SLOW_SIZE} for folder, name in LONG_NAMES.items()]
    (presets / "sidebar.yaml").write_text(json.dumps({"schema": 1, "presets": [
        {"id": "sidebar-test", "name": "Sidebar test model", "category": "image", "min_vram_gb": 4,
         "description": "Installed from the fake Hub through the sidebar tab.", "tags": ["sidebar"],
         "files": [{"folder": "checkpoints", "name": "sidebar-test.safetensors", "hf": "acme/sidebar",
                    "path": "model.safetensors", "size": SIZE}]},
        {"id": "narrow-pair", "name": "Wan 2.2 text and image to video 5B, with its UMT5 XXL text encoder",
         "category": "video", "min_vram_gb": 24, "tags": ["narrow"], "workflows": NARROW_TEMPLATES,
         "min_comfyui": NEWER_COMFYUI,
         "description": "Two files with long names, downloading while the narrowest sidebar is looked at.",
         "files": long_files},
        {"id": "narrow-gated", "name": "Gated encoder", "category": "audio", "tags": ["narrow"],
         "description": "Its repository is gated: the install fails and says what to do.",
         "files": [{"folder": "text_encoders", "name": "narrow-gated-encoder.safetensors", "hf": "acme/gated",
                    "path": "gated.safetensors"}]},
        {"id": "queue-slow", "name": "Queue test", "category": "image", "tags": ["queue"],
         "description": "Ensured by a prompt that waits for its slow download.",
         "files": [{"folder": "checkpoints", "name": "queue-slow.safetensors", "hf": "acme/queue",
                    "path": "slow.safetensors", "size": SLOW_SIZE}]},
    ]}), encoding="utf-8")


@contextlib.contextmanager
def comfyui_on(frontend: str, directory: Path, options: LaunchOptions) -> Iterator[ComfyUI]:
    """A real ComfyUI with this package on ``frontend`` ("pinned" or a comfyui-frontend-package version)."""
    install = ComfyUIInstall.from_env()
    if install is None:
        missing("comfyui", "COMFYUI_DIR is not set: these tests need a real ComfyUI")
    problems = install.problems()
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)
    if frontend != "pinned":
        options = dataclasses.replace(options, args=[*options.args, "--front-end-root", str(newest_frontend())])
    server = start(install, prepare(directory, cli_argv, options))
    server.frontend = frontend  # type: ignore[attr-defined]
    try:
        # the first-run template browser would cover the canvas; a returning user does not see it
        http(server.url("/api/settings/Comfy.TutorialCompleted"), "POST", True)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module", params=["pinned", NEWEST_FRONTEND])
def comfyui(
    request: pytest.FixtureRequest, hub: FakeHub, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ComfyUI]:
    options = LaunchOptions(
        env={"HF_ENDPOINT": hub.url, "DOWNLOAD_FREE_SPACE_MARGIN": "0", "DOWNLOAD_RETRY_BACKOFF": "0.1"},
        prepare=seed,
    )
    with comfyui_on(request.param, tmp_path_factory.mktemp("comfyui"), options) as server:
        yield server


def frontend_version(page: Any) -> str:
    return page.evaluate("window.__COMFYUI_FRONTEND_VERSION__ || 'unknown'")


def toggle_tab(page: Any) -> None:
    page.evaluate(f"window.comfyAPI.app.app.extensionManager.command.execute('Workspace.ToggleSidebarTab.{TAB}')")


def test_the_tab_installs_a_preset_with_progress_over_comfyuis_websocket(
    comfyui: ComfyUI, hub: FakeHub, browser: Any, artifacts: Path
) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, color_scheme="dark")
    page = context.new_page()
    errors = PageErrors()
    errors.watch(page)
    frames: list[dict] = []

    def on_socket(ws: Any) -> None:
        def received(payload: Any) -> None:
            if isinstance(payload, str) and '"launchpad.' in payload:
                frames.append(json.loads(payload))
        ws.on("framereceived", received)

    page.on("websocket", on_socket)
    page.add_init_script("document.addEventListener('lp:rendered', (e) => { window.lpRendered = e.detail; })")
    page.goto(comfyui.base_url)
    page.wait_for_function(
        f"window.comfyAPI?.app?.app?.extensionManager?.getSidebarTabs?.().some((t) => t.id === '{TAB}')",
        timeout=60_000,
    )
    label = comfyui.frontend  # type: ignore[attr-defined]
    version = frontend_version(page)
    assert label == "pinned" or version == label, version
    icon = page.locator("i.pi-cloud-download").first
    expect(icon).to_be_visible()  # our icon in ComfyUI's sidebar

    # open it as a person does: click the sidebar button
    page.evaluate("window.lpOpened = performance.now()")
    icon.click()
    page.wait_for_function("window.lpRendered")
    opened = page.evaluate("({ ...window.lpRendered, sinceClick: performance.now() - window.lpOpened })")
    panel = page.locator(".lp")
    expect(panel).to_be_visible()
    expect(panel.get_by_role("tab")).to_have_count(6)  # Queue is there inside ComfyUI
    record(f"comfyui_{version}_first_render_ms", round(opened["ms"], 1))
    record(f"comfyui_{version}_click_to_render_ms", round(opened["sinceClick"], 1))
    record(f"comfyui_{version}_presets", opened["presets"])

    # the toasts go through the frontend's current API: toast.success/error/info where it has them
    # (1.58), PrimeVue's toast.add on older frontends (1.27, 1.49); calls are counted on the way
    current_api = page.evaluate("""() => {
        const toast = window.comfyAPI.app.app.extensionManager.toast;
        window.toastCalls = [];
        for (const name of ["add", "success", "error", "info", "warning"]) {
            const original = toast[name];
            if (typeof original === "function") {
                toast[name] = (...args) => {
                    window.toastCalls.push(name);
                    return original.apply(toast, args);
                };
            }
        }
        return typeof toast.success === "function";
    }""")
    assert current_api == (version == NEWEST_FRONTEND), version
    panel.get_by_role("searchbox", name="Search presets").fill("sidebar")
    card = panel.locator('[data-preset="sidebar-test"]')
    expect(card).to_contain_text("Not installed")
    card.get_by_role("button", name="Install Sidebar test model").click()
    expect(card.locator(".lp-badge")).to_contain_text("Downloading")
    expect(card.locator(".lp-badge")).to_have_text("Installed", timeout=60_000)
    expect(page.get_by_text("Preset installed").first).to_be_visible()  # ComfyUI's toast
    assert page.evaluate("window.toastCalls") == (["success"] if current_api else ["add"])

    # the progress came over ComfyUI's /ws, in ComfyUI's envelope
    downloads = [f["data"] for f in frames if f.get("type") == "launchpad.download"]
    assert any(d["state"] == "downloading" and 0 < d["bytes_done"] < SIZE for d in downloads), downloads
    assert downloads[-1]["state"] == "done"
    path = Path(downloads[-1]["path"])
    assert path.is_file() and path.stat().st_size == SIZE

    for scheme in ("dark", "light"):
        page.evaluate(f"window.comfyAPI.app.app.extensionManager.setting.set('Comfy.ColorPalette', '{scheme}')")
        for view in VIEWS:
            panel.get_by_role("tab", name=view.title()).click()
            if view == "queue":
                expect(panel.get_by_text("Nothing is running.")).to_be_visible()
            page.wait_for_timeout(400)
            page.screenshot(path=str(artifacts / f"comfyui-{version}-{view}-{scheme}.png"))
    page.evaluate("window.comfyAPI.app.app.extensionManager.setting.set('Comfy.ColorPalette', 'dark')")

    # uninstall through ComfyUI's own confirmation dialog
    panel.get_by_role("tab", name="Presets").click()
    panel.get_by_role("button", name="Uninstall Sidebar test model").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Uninstall Sidebar test model?")
    dialog.get_by_role("button", name="Delete").click()
    expect(card.locator(".lp-badge")).to_have_text("Not installed")
    assert not path.exists()

    # close and reopen: render runs again into a fresh element, with the kept state at once
    toggle_tab(page)
    expect(page.locator(".lp")).to_have_count(0)
    page.evaluate("window.lpRendered = null; window.lpOpened = performance.now()")
    icon.click()
    page.wait_for_function("window.lpRendered")
    reopened = page.evaluate("({ ...window.lpRendered, sinceClick: performance.now() - window.lpOpened })")
    assert reopened["cached"] and reopened["presets"] == opened["presets"]
    expect(page.locator(".lp [role=tab][aria-selected=true]")).to_have_text("Presets")
    expect(page.locator(".lp-card")).to_have_count(opened["presets"])
    record(f"comfyui_{version}_reopen_render_ms", round(reopened["ms"], 1))
    record(f"comfyui_{version}_reopen_click_to_render_ms", round(reopened["sinceClick"], 1))
    ours = [e for e in errors if "launchpad" in e.lower() or "/lp-" in e]
    assert not ours, ours
    context.close()


# --- what the cards say ---------------------------------------------------------------------------

SIZE_FACT = re.compile(r"(~?)\d+(\.\d)? (B|KB|MB|GB|TB)")  # "~18.2 GB" when estimated
VRAM_FACT = re.compile(r"(~?)\d+(\.\d+)? GB VRAM")
LTX = "LTX_23_22B_FP8"  # its templates need ComfyUI 0.16.4


def card_facts(page: Any) -> dict[str, list[str]]:
    """Each card's facts under its text: category, size, files, VRAM, the ComfyUI it needs."""
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll(".lp-card")].map((card) => [
        card.dataset.preset, [...card.querySelectorAll(".lp-foot .lp-meta > span")].map((s) => s.textContent)]))""")


def test_the_cards_say_size_vram_the_comfyui_they_need_where_they_come_from_and_their_templates(
    comfyui: ComfyUI, browser: Any, artifacts: Path
) -> None:
    context, page, errors = open_panel(comfyui, browser, {"width": 1400, "height": 900})
    version = frontend_version(page)
    panel = page.locator(".lp")
    listing = comfyui.get("/api/launchpad/presets").json()
    rows = {row["id"]: row for row in listing["presets"]}  # type: ignore[index]
    running = listing["comfyui_version"]  # type: ignore[index]
    assert running, listing.keys()  # type: ignore[union-attr]

    # every curated and template-derived preset: a size and a VRAM figure, "~" when estimated
    facts = card_facts(page)
    catalog = [pid for pid, row in rows.items() if row["origin"] in ("curated", "template")]
    assert len([pid for pid in catalog if rows[pid]["origin"] == "template"]) >= 20
    for pid in catalog:
        row = rows[pid]
        _, size, _, vram, *needs = facts[pid]
        shown = SIZE_FACT.fullmatch(size)
        assert shown and bool(shown[1]) == row["size_estimated"], (pid, size)
        shown = VRAM_FACT.fullmatch(vram)
        assert shown and bool(shown[1]) == row["vram_estimated"], (pid, vram)
        # inside ComfyUI only a preset this one cannot run says what it needs
        said = [f"needs ComfyUI {row['min_comfyui']}+, this is {running}"] if row["comfyui_ok"] is False else []
        assert needs == said, (pid, needs)

    # where the presets come from: the curated ones, ComfyUI's templates package, the user's files
    sources = listing["sources"]  # type: ignore[index]
    templates = sources["templates"]
    assert templates["package"] and templates["version"], templates
    expect(panel.get_by_text(f"Presets: {sources['curated']['presets']} curated · {templates['presets']} from "
                             f"{templates['package']} {templates['version']} · yours: padding.yaml, sidebar.yaml")
           ).to_be_visible()

    # most used first, as the API orders them
    panel.get_by_role("combobox", name="Sort").select_option(label="Most used")
    popular = [row["id"] for row in comfyui.get("/api/launchpad/presets?sort=popularity").json()["presets"]]
    expect(panel.locator(".lp-card").first).to_have_attribute("data-preset", popular[0])
    assert page.evaluate("[...document.querySelectorAll('.lp-card')].map((c) => c.dataset.preset)") == popular
    usage = [rows[pid]["usage"] or 0 for pid in popular]  # 0.3.64's templates index counts none
    assert usage == sorted(usage, reverse=True)

    # a curated preset lists the templates it serves (those folded into it), each opened by a button
    search = panel.get_by_role("searchbox", name="Search presets")
    search.fill(WAN_PRESET)
    wan = panel.locator(f'[data-preset="{WAN_PRESET}"]')
    assert WAN_TEMPLATE in rows[WAN_PRESET]["workflows"]
    for name in rows[WAN_PRESET]["workflows"]:
        expect(wan.locator(".lp-templates").get_by_role("button", name=name)).to_be_visible()

    # a preset whose templates need a newer ComfyUI says so, and Install asks first
    search.fill("narrow-pair")
    pair = panel.locator('[data-preset="narrow-pair"]')
    expect(pair.locator(".lp-warn")).to_have_text(f"needs ComfyUI {NEWER_COMFYUI}+, this is {running}")
    pair.get_by_role("button", name=re.compile("^Install Wan 2.2")).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("needs a newer ComfyUI")
    expect(dialog).to_contain_text(f"need ComfyUI {NEWER_COMFYUI} or newer; this is {running}")
    page.screenshot(path=str(artifacts / f"comfyui-{version}-newer-comfyui-dark.png"))
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    assert not comfyui.get("/api/launchpad/downloads").json()["jobs"]  # type: ignore[index]  # nothing queued
    pair.get_by_role("button", name=re.compile("^Install Wan 2.2")).click()
    page.get_by_role("dialog").get_by_role("button", name="Confirm").click()
    expect(pair.locator(".lp-badge").first).to_contain_text("Downloading")
    # the server's own warning, as a toast
    expect(page.get_by_text(f"narrow-pair: its workflows need ComfyUI {NEWER_COMFYUI} or newer").first).to_be_visible()
    page.screenshot(path=str(artifacts / f"comfyui-{version}-install-warning-dark.png"))
    stop_everything(comfyui)

    # LTX-2.3's templates need ComfyUI 0.16.4: on 0.3.64 its card says so, and Cancel installs nothing
    search.fill(LTX)
    ltx = panel.locator(f'[data-preset="{LTX}"]')
    if rows[LTX]["comfyui_ok"] is False:
        expect(ltx.locator(".lp-warn")).to_have_text(f"needs ComfyUI 0.16.4+, this is {running}")
        ltx.get_by_role("button", name=f"Install {rows[LTX]['name']}").click()
        page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
        jobs = comfyui.get("/api/launchpad/downloads").json()["jobs"]  # type: ignore[index]
        assert not [job for job in jobs if LTX in job["preset_ids"]], jobs
    else:
        expect(ltx).to_be_visible()
        expect(ltx).not_to_contain_text("needs ComfyUI")
    ours = [e for e in errors if "launchpad" in e.lower() or "/lp-" in e]
    assert not ours, ours
    context.close()


# --- the narrowest sidebar ------------------------------------------------------------------------

NARROW_WINDOW = {"width": 1280, "height": 800}  # a laptop; 1.27's narrowest sidebar is a tenth of the window

# What a person would see cut off: an element of the panel whose content is wider than its box, or
# that sticks out of the panel.
OVERFLOWS = """(panel) => {
    const edge = panel.getBoundingClientRect();
    const found = [];
    for (const element of [panel, ...panel.querySelectorAll("*")]) {
        const display = getComputedStyle(element).display;
        const shown = element.getClientRects().length > 0;
        if (!shown || display === "inline" || display === "contents" || element.closest("svg")) {
            continue;
        }
        const box = element.getBoundingClientRect();
        const clipped = element.scrollWidth > element.clientWidth + 1;
        const outside = box.left < edge.left - 1 || box.right > edge.right + 1;
        if (clipped || outside) {
            const text = element.textContent.trim().slice(0, 60);
            const how = clipped ? `${element.scrollWidth}px in ${element.clientWidth}px` : "outside the panel";
            found.push(`${element.tagName.toLowerCase()}.${element.className} "${text}": ${how}`);
        }
    }
    return found;
}"""


def make_sidebar_narrowest(page: Any) -> float:
    """Drag the sidebar's edge as far as it goes, as a person does; the panel's width then."""
    handle = page.evaluate_handle("document.querySelector('.side-bar-panel').nextElementSibling")
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(0, box["y"] + box["height"] / 2, steps=20)
    page.mouse.up()
    page.wait_for_timeout(300)
    return page.evaluate("document.querySelector('.lp').getBoundingClientRect().width")


def queue_two_prompts(page: Any, name: str) -> None:
    """A workflow named ``name`` with an Ensure Preset node that waits for a slow download, queued
    twice from the frontend: one prompt runs, the other waits."""
    page.evaluate(f"""async () => {{
        const app = window.comfyAPI.app.app;
        const LiteGraph = window.LiteGraph || window.comfyAPI.litegraph?.LiteGraph;
        const empty = {{ last_node_id: 0, last_link_id: 0, nodes: [], links: [], groups: [], config: {{}},
                         extra: {{}}, version: 0.4 }};
        await app.loadGraphData(empty, true, true, "{name}");
        const node = LiteGraph.createNode("LaunchpadEnsurePreset");
        app.graph.add(node);
        node.widgets.find((w) => w.name === "preset").value = "{QUEUE_PRESET}";
        await app.queuePrompt(0, 1);
        await app.queuePrompt(0, 1);
    }}""")


def open_models_workflow(page: Any) -> None:
    """A workflow whose loaders want the long-named files (downloading) and one nobody knows."""
    loaders = [("CLIPLoader", [LONG_NAMES["text_encoders"], "wan", "default"]),
               ("UNETLoader", [LONG_NAMES["diffusion_models"], "default"]),
               ("VAELoader", ["someone_elses_own_fine_tuned_video_vae_from_a_forum_post.safetensors"])]
    nodes = [{"id": i + 1, "type": kind, "pos": [0, 120 * i], "size": [300, 80], "flags": {}, "order": i,
              "mode": 0, "inputs": [], "outputs": [], "properties": {}, "widgets_values": values}
             for i, (kind, values) in enumerate(loaders)]
    workflow = {"last_node_id": 3, "last_link_id": 0, "nodes": nodes, "links": [], "groups": [], "config": {},
                "extra": {}, "version": 0.4}
    page.evaluate("(w) => window.comfyAPI.app.app.loadGraphData(w, true, true, 'narrow-models')", workflow)


def stop_everything(comfyui: ComfyUI) -> None:
    """Empty ComfyUI's queue and cancel every download, so the next test starts from rest."""
    http(comfyui.url("/api/queue"), "POST", {"clear": True})
    http(comfyui.url("/api/interrupt"), "POST", {})
    for job in http(comfyui.url("/api/launchpad/downloads"))[1]["jobs"]:  # type: ignore[index]
        if job["state"] in ("queued", "resolving", "downloading", "verifying"):
            http(comfyui.url(f"/api/launchpad/downloads/{job['id']}/cancel"), "POST", {})


def open_panel(comfyui: ComfyUI, browser: Any, viewport: dict[str, int]) -> tuple[Any, Any, PageErrors]:
    context = browser.new_context(viewport=viewport, color_scheme="dark")
    page = context.new_page()
    errors = PageErrors()
    errors.watch(page)
    page.add_init_script("document.addEventListener('lp:rendered', (e) => { window.lpRendered = e.detail; })")
    page.goto(comfyui.base_url)
    page.wait_for_function(
        f"window.comfyAPI?.app?.app?.extensionManager?.getSidebarTabs?.().some((t) => t.id === '{TAB}')",
        timeout=60_000,
    )
    page.locator("i.pi-cloud-download").first.click()
    page.wait_for_function("window.lpRendered")
    return context, page, errors


def set_palette(page: Any, scheme: str) -> None:
    page.evaluate(f"window.comfyAPI.app.app.extensionManager.setting.set('Comfy.ColorPalette', '{scheme}')")


def test_the_narrowest_sidebar_cuts_nothing_off_in_any_view(
    comfyui: ComfyUI, browser: Any, artifacts: Path
) -> None:
    context, page, errors = open_panel(comfyui, browser, NARROW_WINDOW)
    version = frontend_version(page)
    width = make_sidebar_narrowest(page)
    record(f"comfyui_{version}_narrowest_panel_px", round(width))
    panel = page.locator(".lp")
    # a download with long file names mid-way, one that failed, and prompts in ComfyUI's queue
    for preset in ("narrow-pair", "narrow-gated"):
        assert http(comfyui.url("/api/launchpad/presets/install"), "POST", {"presets": [preset]})[0] == 202
    queue_two_prompts(page, "narrow-check")
    open_models_workflow(page)
    panel.get_by_role("tab", name="Presets").click()
    panel.get_by_role("searchbox", name="Search presets").fill("narrow")
    pair = panel.locator('[data-preset="narrow-pair"]')
    expect(pair.locator(".lp-badge").first).to_contain_text("Downloading")
    expect(pair.locator(".lp-files li")).to_have_count(2)
    # each file's speed and ETA on a line of its own, under its bar, never beside the name
    expect(pair.locator(".lp-files li > p.lp-muted").first).to_contain_text(re.compile(r"\d+% · [\d.]+ KB/s"))
    for name in LONG_NAMES.values():
        expect(pair.locator(".lp-files .lp-name", has_text=name)).to_have_text(name)  # the whole name
    gated = panel.locator('[data-preset="narrow-gated"]')
    expect(gated.locator(".lp-badge")).to_have_text("Failed")
    # no size listed and the Hub refuses to say: an estimate, marked
    expect(gated.locator(".lp-foot .lp-meta")).to_contain_text(re.compile(r"~[\d.]+ [KMG]B"))
    expect(pair.locator(".lp-warn", has_text=f"needs ComfyUI {NEWER_COMFYUI}+")).to_be_visible()
    expect(pair.get_by_role("button", name=NARROW_TEMPLATES[1])).to_be_visible()

    problems: dict[str, list[str]] = {}
    for scheme in ("dark", "light"):
        set_palette(page, scheme)
        for view in VIEWS:
            panel.get_by_role("tab", name=view.title()).click()
            if view == "queue":
                expect(panel.locator(".lp-row[data-prompt]")).to_have_count(2)
            elif view == "downloads":
                expect(panel.get_by_role("button", name=re.compile(f"^Cancel {LONG_NAMES['text_encoders']}"))
                       ).to_be_visible()
            elif view == "system":
                expect(panel.locator(".lp-metric").first).to_be_visible()
                # the frontend this page runs, also when --front-end-root serves another than the installed one
                expect(panel.locator(".lp-versions")).to_contain_text(f"frontend {version}")
            elif view == "workflow":
                expect(panel.locator(".lp-row[data-key]")).to_have_count(3)
            elif view == "models":
                expect(panel.get_by_role("button", name=re.compile(r"^Delete a_style_lora"))).to_be_visible()
            page.wait_for_timeout(400)  # the bars' transitions end
            found = page.evaluate(OVERFLOWS, panel.element_handle())
            if found:
                problems[f"{view} ({scheme})"] = found
            page.screenshot(path=str(artifacts / f"comfyui-{version}-narrowest-{view}-{scheme}.png"))
            if view == "presets":  # the card's foot too: its templates, size, VRAM and the ComfyUI it needs
                pair.locator(".lp-foot").scroll_into_view_if_needed()
                page.screenshot(path=str(artifacts / f"comfyui-{version}-narrowest-card-foot-{scheme}.png"))
    set_palette(page, "dark")
    stop_everything(comfyui)
    assert not problems, f"cut off at {width:.0f} px on frontend {version}: {json.dumps(problems, indent=1)}"
    ours = [e for e in errors if "launchpad" in e.lower() or "/lp-" in e]
    assert not ours, ours
    context.close()


# --- the queue --------------------------------------------------------------------------------------


def test_the_queue_names_each_prompt_counts_its_time_and_stops_it(comfyui: ComfyUI, browser: Any,
                                                                  artifacts: Path) -> None:
    context, page, errors = open_panel(comfyui, browser, {"width": 1400, "height": 900})
    version = frontend_version(page)
    panel = page.locator(".lp")
    queue_two_prompts(page, "queue-check")
    panel.get_by_role("tab", name="Queue").click()
    running = panel.locator('ul[aria-label="Running"] > .lp-row')
    pending = panel.locator('ul[aria-label="Pending"] > .lp-row')
    expect(running).to_have_count(1)
    expect(pending).to_have_count(1)
    for row in (running, pending):
        expect(row.locator(".lp-name")).to_have_text("queue-check")  # the workflow's name, not an id
    has_jobs_api = comfyui.get("/api/jobs?limit=1").status == 200
    elapsed = running.locator(".lp-elapsed")
    since = "since it was queued" if has_jobs_api else "since Launchpad first saw it in the queue"
    expect(elapsed).to_have_attribute("title", since)
    before = elapsed.text_content()
    expect(elapsed).not_to_have_text(before or "")  # it counts up while shown
    page.screenshot(path=str(artifacts / f"comfyui-{version}-queue-running-dark.png"))

    waiting = pending.get_attribute("data-prompt")
    pending.get_by_role("button", name="Cancel queue-check").click()
    expect(pending).to_have_count(0)
    queue = comfyui.get("/api/queue").json()
    assert queue["queue_pending"] == [], queue  # type: ignore[index]
    assert waiting not in comfyui.get("/api/history").json()  # type: ignore[operator]  # never ran

    prompt_id = running.get_attribute("data-prompt")
    running.get_by_role("button", name="Interrupt queue-check").click()
    expect(running).to_have_count(0, timeout=30_000)
    expect(panel.get_by_text("Nothing is running.")).to_be_visible()
    status = comfyui.get(f"/api/history/{prompt_id}").json()[prompt_id]["status"]  # type: ignore[index]
    assert [m[0] for m in status["messages"]][-1] == "execution_interrupted", status
    stop_everything(comfyui)
    ours = [e for e in errors if "launchpad" in e.lower() or "/lp-" in e]
    assert not ours, ours
    context.close()
