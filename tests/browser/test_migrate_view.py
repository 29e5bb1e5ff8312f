"""The Models view with an old template's tree on the volume: the adopted folders' files are listed
with their old paths, and the move is offered as the command to copy (and a tree not migrated yet
as the command that shows its plan). Screenshots in test-artifacts/browser/."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from migrate_volumes import rsync_volume, runpod_volume

from conftest import cli_argv

from .conftest import SIDEBAR, PageErrors
from .stage import Stage

pytestmark = pytest.mark.browser


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def test_the_models_view_shows_adopted_folders_and_offers_the_move(
    browser: Any, stage: Stage, page_errors: PageErrors, artifacts: Any
) -> None:
    old = rsync_volume(stage.workspace)
    adopt = subprocess.run(cli_argv("migrate", "--adopt", "--workspace", str(stage.workspace)),
                           capture_output=True, text=True)
    assert adopt.returncode == 0, adopt.stderr
    waiting = runpod_volume(stage.workspace)
    move = f"launchpad migrate --move {old}"

    for scheme in ("dark", "light"):
        context = browser.new_context(viewport=SIDEBAR, color_scheme=scheme,
                                      permissions=["clipboard-read", "clipboard-write"])
        page = page_errors.watch(context.new_page())
        page.goto(stage.url + "#models")
        note = page.locator(".lp-old", has_text="Adopted from")
        expect(note).to_contain_text(f"Adopted from {old}: checkpoints, text_encoders, loras, diffusion_models")
        expect(note.locator("code")).to_have_text(move)
        expect(page.locator(".lp-old", has_text="Found RunPod")).to_contain_text(f"launchpad migrate {waiting}")
        row = page.locator(".lp-row", has_text="rsync_flux.safetensors")  # read where it is, in its old folder
        flux = old / "models" / "unet" / "rsync_flux.safetensors"
        expect(row.locator(".lp-name")).to_have_attribute("title", str(flux))
        expect(page.locator("details", has_text="rsync_flux.safetensors").locator("summary")).to_contain_text(
            "diffusion_models")
        note.get_by_role("button", name=f"Copy {move}").click()
        assert page.evaluate("navigator.clipboard.readText()") == move
        page.screenshot(path=str(artifacts / f"standalone-models-adopted-{scheme}.png"))
        context.close()
    assert not page_errors
