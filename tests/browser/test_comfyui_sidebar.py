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
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from integration.real_comfyui import ComfyUI, ComfyUIInstall, LaunchOptions, prepare, start

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


@pytest.fixture(scope="module")
def hub() -> Iterator[FakeHub]:
    server = FakeHub().start()
    server.add_hf_file("acme/sidebar", "model.safetensors", random_bytes(SIZE))
    server.behave("acme/sidebar/model.safetensors", rate=1_000_000)  # about three seconds
    yield server
    server.stop()


def seed(workspace: Path) -> None:
    presets = workspace / "config" / "presets"
    presets.mkdir(parents=True)
    (presets / "padding.yaml").write_text(json.dumps({"schema": 1, "presets": padding_presets(PADDING)}))
    (presets / "sidebar.yaml").write_text(json.dumps({"schema": 1, "presets": [{
        "id": "sidebar-test", "name": "Sidebar test model", "category": "image", "min_vram_gb": 4,
        "description": "Installed from the fake Hub through the sidebar tab.", "tags": ["sidebar"],
        "files": [{"folder": "checkpoints", "name": "sidebar-test.safetensors", "hf": "acme/sidebar",
                   "path": "model.safetensors", "size": SIZE}],
    }]}), encoding="utf-8")


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

    panel.get_by_role("searchbox", name="Search presets").fill("sidebar")
    card = panel.locator('[data-preset="sidebar-test"]')
    expect(card).to_contain_text("Not installed")
    card.get_by_role("button", name="Install Sidebar test model").click()
    expect(card.locator(".lp-badge")).to_contain_text("Downloading")
    expect(card.locator(".lp-badge")).to_have_text("Installed", timeout=60_000)
    expect(page.get_by_text("Preset installed").first).to_be_visible()  # ComfyUI's toast

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
