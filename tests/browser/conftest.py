"""Fixtures for the dashboard's browser tests: Debian's Chromium driven by Playwright, the
standalone stage (stage.py), and a folder for screenshots (test-artifacts/browser/).

Without Playwright or Chromium every browser test is skipped with the reason; `.ci/run`
installs both. `playwright install` is never needed: we drive the system's Chromium.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT, cli_argv, missing

from .stage import Stage

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
SIDEBAR = {"width": 420, "height": 900}  # about the width of ComfyUI's sidebar on a laptop, opened a bit
EXPECT_TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")  # not longer: a running Playwright loop would upset later asyncio tests
def browser() -> Iterator[Any]:
    try:
        from playwright import sync_api
    except ImportError:
        missing("chromium", "no Playwright (pip install -e '.[test]')")
    if not Path(CHROMIUM).exists():
        missing("chromium", f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)")
    sync_api.expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def record(name: str, value: object) -> None:
    """Keep a measured figure in test-artifacts/browser/figures.json (and print it for -s runs)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "figures.json"
    figures = json.loads(path.read_text()) if path.exists() else {}
    figures[name] = value
    path.write_text(json.dumps(figures, indent=2, sort_keys=True))
    print(f"{name}: {value}")


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    """`launchpad serve` on a fresh workspace with the browser presets and the fake Hub."""
    stage = Stage(tmp_path_factory.mktemp("stage"), cli_argv()).prepare()
    try:
        stage.start()
        yield stage
    finally:
        stage.close()


class PageErrors(list):
    """Uncaught errors and console errors of a page; a test ends by asserting there are none."""

    def watch(self, page: Any) -> Any:
        page.on("pageerror", lambda exc: self.append(f"pageerror: {exc}"))
        page.on("console", lambda msg: msg.type == "error" and "favicon" not in (msg.location or {}).get("url", "")
                and self.append(f"console: {msg.text}"))
        return page


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()
