"""The dashboard in a real browser against `launchpad serve` with a fake Hub (see stage.py).

The tests share one server and run in file order, like a person using it: the list renders,
search and filters narrow it, an install rises to done, a download opened mid-way is shown at
once and cancelled, a gated model explains itself, a model is deleted, the system view lives
only while seen, the page survives a server restart, and finally every view is photographed
in dark and light (test-artifacts/browser/).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import cli_argv
from fakehub import random_bytes

from .conftest import SIDEBAR, PageErrors, record
from .stage import GATED, OWNED, SLOW, SMALL, Stage

pytestmark = pytest.mark.browser

SEARCH = "input[aria-label='Search presets']"
COUNT = ".lp-view > p[aria-live]"  # "300 presets · 1 installed"
SIZE_FACT = re.compile(r"(~?)\d+(\.\d)? (B|KB|MB|GB|TB)")  # "~18.2 GB" when estimated
VRAM_FACT = re.compile(r"(~?)\d+(\.\d+)? GB VRAM")
# each card's facts under its text: category, size, files, VRAM, the ComfyUI it needs
CARD_FACTS = """() => Object.fromEntries([...document.querySelectorAll(".lp-card")].map((card) => [
    card.dataset.preset, [...card.querySelectorAll(".lp-foot .lp-meta > span")].map((span) => span.textContent)]))"""
VIEWS = ("presets", "workflow", "downloads", "models", "system")


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


@pytest.fixture
def panel(browser: Any, stage: Stage, page_errors: PageErrors) -> Iterator[Callable[..., Any]]:
    """Opens the dashboard (optionally at a view) in a fresh browser context; waits for its first render."""
    contexts = []

    def open_panel(view: str = "", scheme: str = "dark", size: dict[str, int] = SIDEBAR) -> Any:
        context = browser.new_context(viewport=size, color_scheme=scheme)
        contexts.append(context)
        page = page_errors.watch(context.new_page())
        page.add_init_script("document.addEventListener('lp:rendered', (e) => { window.lpRendered = e.detail; })")
        page.goto(stage.url + (f"#{view}" if view else ""))
        page.wait_for_function("window.lpRendered")
        return page

    yield open_panel
    for context in contexts:
        context.close()


def card(page: Any, preset_id: str) -> Any:
    return page.locator(f'[data-preset="{preset_id}"]')


def wait_until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout:.0f} s: {what}")
        time.sleep(0.1)


def sha256(path: Any) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- presets -------------------------------------------------------------------------------------


def test_presets_render_at_once_with_a_long_catalog(panel: Callable[..., Any], stage: Stage,
                                                      page_errors: PageErrors) -> None:
    page = panel()
    cold = page.evaluate("window.lpRendered")
    total = stage.api("launchpad/presets")[1]["total"]  # type: ignore[index]
    assert total >= 300 and cold["presets"] == total
    expect(page.locator(".lp-card")).to_have_count(total)
    expect(page.locator(COUNT)).to_have_text(f"{total} presets · 1 installed")
    owned = card(page, "bt-owned")
    expect(owned).to_contain_text("Installed")
    expect(owned.get_by_role("button", name="Uninstall Browser installed VAE")).to_be_visible()
    small = card(page, "bt-small")
    expect(small).to_contain_text("4.0 MB")  # total size, for people
    expect(small).to_contain_text("6 GB VRAM")
    expect(small.get_by_role("button", name="Install Browser small pair")).to_be_visible()

    # The tab opens again (ComfyUI calls render on every open): the kept state shows at once.
    warm = page.evaluate("""async () => {
        const el = document.getElementById("launchpad");
        window.launchpad.unmount();
        const t0 = performance.now();
        window.launchpad.mount(el);
        const sync = performance.now() - t0;
        await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
        return { sync, painted: performance.now() - t0, cards: document.querySelectorAll(".lp-card").length };
    }""")
    assert warm["cards"] == total
    record("standalone_presets", total)
    record("standalone_first_render_ms", round(cold["ms"], 1))
    record("standalone_reopen_sync_ms", round(warm["sync"], 1))
    record("standalone_reopen_painted_ms", round(warm["painted"], 1))
    # generous bounds (2-core CI); the figures above are what the report quotes
    assert cold["ms"] < 3000 and warm["painted"] < 2000
    assert not page_errors


def test_search_category_and_state_filters(panel: Callable[..., Any], stage: Stage) -> None:
    page = panel()
    visible = page.locator(".lp-card:visible")
    page.fill(SEARCH, "browser test")  # every word must match (name, id, description or tags)
    expect(visible).to_have_count(4)
    page.select_option("select[aria-label='Category']", "video")
    expect(visible).to_have_count(1)
    expect(visible).to_contain_text("Browser slow video model")
    page.fill(SEARCH, "")
    videos = [p for p in stage.api("launchpad/presets?category=video")[1]["presets"]]  # type: ignore[index]
    expect(visible).to_have_count(len(videos))
    expect(page.locator(COUNT)).to_contain_text(f"{len(videos)} of ")
    page.select_option("select[aria-label='Category']", "")
    page.select_option("select[aria-label='Installed state']", "installed")
    expect(visible).to_have_count(1)
    expect(visible).to_contain_text("Browser installed VAE")
    page.fill(SEARCH, "no preset is called this")
    expect(visible).to_have_count(0)
    expect(page.get_by_text("No preset matches.")).to_be_visible()


def test_every_card_shows_its_size_and_vram_marking_estimates_and_the_comfyui_it_needs(
    panel: Callable[..., Any], stage: Stage
) -> None:
    page = panel()
    listing = stage.api("launchpad/presets")[1]
    rows = {row["id"]: row for row in listing["presets"]}  # type: ignore[index]
    curated = [pid for pid, row in rows.items() if row["origin"] == "curated"]
    assert len(curated) >= 30
    seen = page.evaluate(CARD_FACTS)
    for pid in [*curated, "bt-small", "bt-gated"]:
        row = rows[pid]
        _, size, _, vram, *needs = seen[pid]
        shown = SIZE_FACT.fullmatch(size)
        assert shown and bool(shown[1]) == row["size_estimated"], (pid, size, row["size_estimated"])
        shown = VRAM_FACT.fullmatch(vram)
        assert shown and bool(shown[1]) == row["vram_estimated"], (pid, vram, row["vram_estimated"])
        # standalone no ComfyUI runs: what it needs is said, without a warning
        assert needs == ([f"needs ComfyUI {row['min_comfyui']}+"] if row["min_comfyui"] else []), (pid, needs)
    assert seen["bt-small"][1] == "4.0 MB"  # stated in the preset: exact
    assert seen["bt-gated"][3].startswith("~")  # no min_vram_gb: estimated from its files
    ltx = card(page, "LTX_23_22B_FP8")
    expect(ltx).to_contain_text("needs ComfyUI 0.16.4+")
    expect(ltx.locator(".lp-warn")).to_have_count(0)
    # the templates it serves, by name (standalone serves none to open)
    templates = ltx.locator(".lp-templates")
    for name in rows["LTX_23_22B_FP8"]["workflows"]:
        expect(templates).to_contain_text(name)
    expect(templates.get_by_role("button")).to_have_count(0)
    # where the presets come from: the curated ones, no templates package here, the user's file
    sources = listing["sources"]  # type: ignore[index]
    assert sources["user"]["files"] == [str(stage.workspace / "config" / "presets" / "browser.yaml")]
    expect(page.get_by_text(f"Presets: {len(curated)} curated · 0 from {stage.root / 'no-templates'} · "
                            "yours: browser.yaml")).to_be_visible()


def test_the_presets_sort_by_size_and_name_as_the_api_does(panel: Callable[..., Any], stage: Stage) -> None:
    page = panel()
    order = page.locator(".lp-card:visible")
    sort = page.get_by_role("combobox", name="Sort")
    for value, label in (("size", "Smallest"), ("name", "Name")):
        expected = [row["id"] for row in stage.api(f"launchpad/presets?sort={value}")[1]["presets"]]  # type: ignore[index]
        sort.select_option(label=label)
        expect(order.first).to_have_attribute("data-preset", expected[0])
        shown = page.evaluate("[...document.querySelectorAll('.lp-card')].map((c) => c.dataset.preset)")
        assert shown == expected, value
    smallest = stage.api("launchpad/presets?sort=size")[1]["presets"][:3]  # type: ignore[index]
    assert [row["size"] for row in smallest] == sorted(row["size"] for row in smallest)
    sort.select_option(label="Catalog order")
    expect(order.first).to_have_attribute("data-preset", stage.api("launchpad/presets")[1]["presets"][0]["id"])  # type: ignore[index]


def test_a_catalog_change_reaches_an_open_page_and_sizes_from_the_hub_replace_estimates(
    browser: Any, tmp_path: Path, page_errors: PageErrors
) -> None:
    # its own server, which asks the sources for sizes as `launchpad serve` does outside the tests
    stage = Stage(tmp_path, cli_argv(), extra_env={"LAUNCHPAD_SIZE_LOOKUP": "1"}).prepare().start()
    try:
        context = browser.new_context(viewport=SIDEBAR, color_scheme="dark")
        page = page_errors.watch(context.new_page())
        page.goto(stage.url)
        # the server asks about the catalog's files once it starts; a reload while it is still
        # asking asks about nothing new (service.ask_sizes), so the test waits for that first round
        log = stage.root / "serve.log"
        wait_until(lambda: "asked the sources for" in log.read_text(), "the first round of size questions ended")
        page.fill(SEARCH, "bt-late")
        expect(page.locator(".lp-card")).not_to_have_count(0)
        expect(page.locator(".lp-card:visible")).to_have_count(0)
        stage.hub.add_hf_file("acme/late", "late.safetensors", random_bytes(1_234_000))
        (stage.workspace / "config" / "presets" / "late.yaml").write_text(json.dumps({"schema": 1, "presets": [
            {"id": "bt-late", "name": "Browser late arrival", "category": "image",  # no size stated
             "files": [{"folder": "loras", "name": "browser-late.safetensors", "hf": "acme/late",
                        "path": "late.safetensors"}]},
        ]}), encoding="utf-8")

        assert stage.api("launchpad/catalog/reload", "POST", {})[0] == 200

        # no click, no reload: each launchpad.catalog event fetches the list again, the second
        # once the Hub said how big the file is
        size = card(page, "bt-late").locator(".lp-foot .lp-meta > span").nth(1)
        expect(size).to_have_text("1.2 MB")
        context.close()
    finally:
        stage.close()
    assert not page_errors


def test_keyboard_moves_between_views_with_visible_focus(panel: Callable[..., Any]) -> None:
    page = panel()
    page.focus("#lp-tab-presets")
    page.keyboard.press("ArrowRight")
    workflow = page.get_by_role("tab", name="Workflow")
    expect(workflow).to_have_attribute("aria-selected", "true")
    expect(workflow).to_be_focused()
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    page.keyboard.press("End")
    expect(page.get_by_role("tab", name="System")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("tabpanel")).to_have_attribute("aria-labelledby", "lp-tab-system")
    page.keyboard.press("Home")
    page.keyboard.press("Tab")  # from the tab list into the view: the search box comes first
    expect(page.locator(SEARCH)).to_be_focused()
    # no Queue tab outside ComfyUI
    expect(page.get_by_role("tab")).to_have_count(5)


# --- downloads -----------------------------------------------------------------------------------


def test_install_shows_progress_rising_to_done_and_the_files_land(panel: Callable[..., Any], stage: Stage,
                                                                   page_errors: PageErrors) -> None:
    page = panel()
    page.fill(SEARCH, "Browser small")
    small = card(page, "bt-small")
    # sample what a person sees, every 50 ms, from before the click to the end
    page.evaluate("""() => {
        window.seen = []; window.texts = new Set();
        setInterval(() => {
            const card = document.querySelector('[data-preset="bt-small"]');
            if (!card) return;  // another view is shown
            const bar = card.querySelector(".lp-progress > [role=progressbar]");
            const v = bar && Number(bar.getAttribute("aria-valuenow"));
            if (bar && bar.hasAttribute("aria-valuenow") && window.seen.at(-1) !== v) window.seen.push(v);
            const files = card.querySelector(".lp-files");
            if (files) window.texts.add(files.textContent);
        }, 50);
    }""")
    small.get_by_role("button", name="Install Browser small pair").click()
    expect(small.locator(".lp-badge")).to_have_text("Installed", timeout=60_000)
    seen = page.evaluate("window.seen")
    assert any(0 < v < 100 for v in seen), seen
    assert seen == sorted(seen), seen  # it only rises
    texts = " ".join(page.evaluate("[...window.texts]"))
    assert re.search(r"\d+% · [\d.]+ [KM]B/s", texts), texts  # per file: percentage and speed
    for spec in SMALL:
        path = stage.model_path(spec)
        assert path.is_file() and path.stat().st_size == spec.size
        assert sha256(path) == stage.hub.blobs[f"{spec.repo}/{spec.path}"].sha256
    expect(page.locator(".lp-toast")).to_contain_text("Preset installed")
    page.get_by_role("tab", name="Downloads").click()
    rows = page.locator(".lp-row", has_text="Browser small pair")
    expect(rows).to_have_count(2)
    expect(rows.locator(".lp-badge")).to_have_text(["done", "done"])
    assert not page_errors


def test_a_tab_opened_mid_download_shows_it_and_cancel_removes_the_partial_file(
    panel: Callable[..., Any], stage: Stage
) -> None:
    status, _ = stage.api("launchpad/presets/install", "POST", {"presets": ["bt-slow"]})
    assert status == 202
    blob = f"{SLOW.repo}/{SLOW.path}"
    wait_until(lambda: stage.hub.bytes_sent(blob) > 0, "the slow download started")
    partial = stage.model_path(SLOW).with_name(SLOW.name.split("/")[-1] + ".part")
    wait_until(partial.exists, "its partial file exists")

    page = panel()
    page.fill(SEARCH, "Browser slow")
    slow = card(page, "bt-slow")
    expect(slow.locator(".lp-badge")).to_contain_text("Downloading")
    expect(slow.locator(".lp-files")).to_contain_text("/s")
    slow.get_by_role("button", name="Cancel Browser slow video model").click()
    expect(slow.locator(".lp-badge")).to_have_text("Not installed")
    wait_until(lambda: not partial.exists(), "the partial file is removed")
    assert not stage.model_path(SLOW).exists()
    sent = stage.hub.bytes_sent(blob)
    time.sleep(0.5)
    assert stage.hub.bytes_sent(blob) == sent  # the transfer stopped
    page.get_by_role("tab", name="Downloads").click()
    row = page.locator(".lp-row", has_text="browser-slow.safetensors")
    expect(row.locator(".lp-badge")).to_have_text("cancelled")
    expect(row.get_by_role("button", name="Retry browser-slow.safetensors")).to_be_visible()


def test_a_gated_model_shows_its_error_and_the_license_link(panel: Callable[..., Any]) -> None:
    page = panel()
    page.fill(SEARCH, "gated")
    gated = card(page, "bt-gated")
    gated.get_by_role("button", name="Install Browser gated encoder").click()
    expect(gated.locator(".lp-badge")).to_have_text("Failed")
    error = gated.locator(".lp-error")
    expect(error).to_contain_text(f"{GATED.repo} is gated")
    expect(error).to_contain_text("HF_TOKEN")  # what to do
    link = error.get_by_role("link", name="Open the license page")
    expect(link).to_have_attribute("href", f"https://huggingface.co/{GATED.repo}")
    expect(gated.get_by_role("button", name="Retry Browser gated encoder")).to_be_visible()
    expect(page.locator(".lp-toast")).to_contain_text(f"Download failed: {GATED.name}")
    page.get_by_role("tab", name="Downloads").click()
    row = page.locator(".lp-row", has_text=GATED.name)
    expect(row.locator(".lp-error")).to_contain_text("accept the license")


# --- models and system ---------------------------------------------------------------------------


def test_deleting_a_model_asks_first_then_removes_it_from_disk(panel: Callable[..., Any], stage: Stage,
                                                               artifacts: Any) -> None:
    path = stage.model_path(OWNED)
    assert path.exists()
    page = panel("models")
    row = page.locator(".lp-row", has_text=OWNED.name)
    expect(row.locator(".lp-chip")).to_have_text("Browser installed VAE")  # the preset that owns it
    expect(row).to_contain_text("200.0 KB")
    expect(page.locator("summary", has_text="vae")).to_contain_text(re.compile(r"\d GB free"))
    delete = row.get_by_role("button", name=f"Delete {OWNED.name}")
    delete.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Delete {OWNED.name}?")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()  # the safe choice is the default
    page.screenshot(path=str(artifacts / "standalone-confirm-dark.png"))
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    assert path.exists()
    delete.click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(row).to_have_count(0)
    assert not path.exists()
    expect(page.locator(".lp-toast")).to_contain_text("Model deleted")


def test_the_system_view_updates_and_watches_only_while_shown(panel: Callable[..., Any], stage: Stage) -> None:
    page = panel("system")
    cpu = page.locator(".lp-metric", has_text="CPU")
    expect(cpu.get_by_role("progressbar")).to_have_attribute("aria-valuenow", re.compile(r"^\d+$"))
    expect(page.locator(".lp-metric", has_text="Memory")).to_contain_text(" GB of ")
    expect(page.locator(".lp-metric", has_text="workspace")).to_contain_text(" free of ")
    first = page.evaluate("window.launchpad.state.system.time")
    page.wait_for_function(f"window.launchpad.state.system.time > {first}")  # a launchpad.system event
    expect(cpu.locator("svg.lp-spark")).to_be_visible()  # the short history
    watchers = stage.api("launchpad/system")[1]["watchers"]  # type: ignore[index]
    assert watchers >= 1  # ours (an earlier test's page may still hold one until its lease runs out)
    page.get_by_role("tab", name="Presets").click()  # hidden: our lease ends now
    wait_until(lambda: stage.api("launchpad/system")[1]["watchers"] == watchers - 1,  # type: ignore[index]
               "the watch lease ended")


def test_the_page_recovers_from_a_server_restart_without_reloading(panel: Callable[..., Any], stage: Stage) -> None:
    page = panel()
    page.evaluate("window.sameDocument = true")
    page.fill(SEARCH, "Browser slow")
    port = stage.port
    stage.stop()
    expect(page.locator(".lp-conn")).to_be_visible()
    stage.start(port)
    expect(page.locator(".lp-conn")).to_be_hidden()
    assert stage.api("launchpad/presets/install", "POST", {"presets": ["bt-slow"]})[0] == 202
    expect(card(page, "bt-slow").locator(".lp-badge")).to_contain_text("Downloading")  # over the new socket
    assert page.evaluate("window.sameDocument")
    stage.api("launchpad/presets/bt-slow/cancel", "POST", {})
    expect(card(page, "bt-slow").locator(".lp-badge")).to_have_text("Not installed")


def test_catalog_entries_that_were_skipped_are_named_above_the_presets(
    panel: Callable[..., Any], stage: Stage, artifacts: Any
) -> None:
    broken = stage.workspace / "config" / "presets" / "broken.yaml"
    broken.write_text("schema: 1\npresets:\n  - id: no-files\n    name: No files\n    category: image\n",
                      encoding="utf-8")
    try:
        page = panel()
        [warning] = stage.api("launchpad/catalog/warnings")[1]["warnings"]  # type: ignore[index]
        notice = page.locator(".lp-notice")
        expect(notice).to_contain_text("1 catalog entry skipped")
        expect(notice.locator(".lp-rows")).to_be_hidden()  # folded: the presets stay in view
        notice.locator("summary").click()
        expect(notice).to_contain_text("broken.yaml")
        expect(notice).to_contain_text(warning["message"])
        page.screenshot(path=str(artifacts / "standalone-catalog-warnings-dark.png"))
    finally:
        broken.unlink()
    expect(panel().locator(".lp-notice")).to_have_count(0)  # fixed: the notice goes


def test_screenshots_of_every_view_in_dark_and_light(panel: Callable[..., Any], artifacts: Any,
                                                      page_errors: PageErrors) -> None:
    for scheme in ("dark", "light"):
        page = panel(scheme=scheme)
        page.fill(SEARCH, "browser")
        page.screenshot(path=str(artifacts / f"standalone-presets-{scheme}.png"))
        for view in VIEWS[1:]:
            page.get_by_role("tab", name=view.title()).click()
            if view == "system":
                page.wait_for_function("document.querySelector('.lp-metric')")
            page.wait_for_timeout(300)  # let the bars' transition finish
            page.screenshot(path=str(artifacts / f"standalone-{view}-{scheme}.png"))
    wide = panel(size={"width": 1200, "height": 800})
    wide.screenshot(path=str(artifacts / "standalone-presets-wide-dark.png"))
    assert not page_errors


def test_finished_downloads_clear_and_deleted_files_drop_out(panel: Callable[..., Any], stage: Stage) -> None:
    checkpoint, lora = (stage.model_path(spec) for spec in SMALL)
    assert checkpoint.is_file() and lora.is_file()  # installed by an earlier test
    lora.unlink()  # deleted by hand since
    page = panel("downloads")
    rows = page.locator(".lp-row")
    expect(rows.filter(has_text=SMALL[0].name)).to_have_count(1)
    expect(rows.filter(has_text=SMALL[1].name)).to_have_count(0)  # its file is gone: so is its job
    expect(rows.filter(has_text=GATED.name).locator(".lp-badge")).to_have_text("failed")

    page.get_by_role("button", name="Clear finished").click()

    expect(rows).to_have_count(0)
    expect(page.get_by_text("No downloads yet. Install a preset to start one.")).to_be_visible()
    expect(page.get_by_role("button", name="Clear finished")).to_be_hidden()
    assert checkpoint.is_file()  # the files stay
    assert stage.api("launchpad/downloads")[1]["jobs"] == []  # type: ignore[index]


def test_a_frontend_without_sidebar_tabs_gets_one_clear_message(browser: Any, stage: Stage) -> None:
    """Old ComfyUI frontends have no extensionManager.registerSidebarTab: a console message, no error."""
    context = browser.new_context()
    page = context.new_page()
    messages: list[str] = []
    errors: list[str] = []
    page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: errors.append(str(e)))
    # stand-ins for the frontend's /scripts/app.js and /scripts/api.js (the ComfyUI boundary)
    page.route("**/scripts/app.js", lambda route: route.fulfill(
        content_type="text/javascript", body="export const app = { registerExtension(e) { window.ext = e; } };"))
    page.route("**/scripts/api.js", lambda route: route.fulfill(
        content_type="text/javascript", body="export const api = { addEventListener() {}, fetchApi: fetch };"))
    page.goto(stage.url + "launchpad/health")
    page.evaluate("import('/extensions/launchpad/js/launchpad.js').then(() => window.ext.setup())")
    page.wait_for_function("window.ext")
    page.wait_for_timeout(200)
    ours = [m for m in messages if "Launchpad" in m]
    assert len(ours) == 1 and ours[0].startswith("warning: [Launchpad]") and "sidebar" in ours[0], messages
    assert not errors
    assert page.evaluate("window.ext.name") == "launchpad.Main"
    context.close()
