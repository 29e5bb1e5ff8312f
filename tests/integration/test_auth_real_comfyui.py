"""Issue 7 against a real ComfyUI with ENABLE_AUTH on: every route of ComfyUI's real route table
(read from inside the running server) answers 401 or redirects to the login page without
credentials, and works with a session cookie or a bearer token; /ws refuses the upgrade.

A single-file custom node beside ours dumps the router once the server starts (after
``add_routes``, so the table is complete); nothing of ComfyUI is changed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from security_support import (
    OPEN,
    PAGE,
    PASSWORD,
    TOKEN,
    Target,
    assert_every_route_guarded,
    assert_websocket_guarded,
    login,
)

from conftest import cli_argv

from .real_comfyui import ComfyUI, ComfyUIInstall, LaunchOptions, Setup, prepare

pytestmark = pytest.mark.integration

ROUTE_DUMP_NODE = '''
"""Test probe: writes ComfyUI's complete route table to LAUNCHPAD_ROUTE_DUMP at startup."""
import json
import os

from server import PromptServer

NODE_CLASS_MAPPINGS = {}


def _walk(app, found):
    for resource in app.router.resources():
        info = resource.get_info()
        if "app" in info:
            _walk(info["app"], found)
        elif "directory" in info:
            found.append(["GET", info["prefix"].rstrip("/") + "/", "static"])
        else:
            pattern = info.get("formatter") or info.get("path")
            found.extend([route.method, pattern, "route"] for route in resource)


async def _dump(app):
    found = []
    _walk(app, found)
    with open(os.environ["LAUNCHPAD_ROUTE_DUMP"], "w") as fh:
        json.dump(found, fh)


PromptServer.instance.app.on_startup.append(_dump)
'''


@pytest.fixture(scope="module")
def route_dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("routes") / "routes.json"


@pytest.fixture(scope="module")
def comfyui_options(route_dump: Path) -> LaunchOptions:
    return LaunchOptions(
        env={
            "ENABLE_AUTH": "1",
            "ACCESS_PASSWORD": PASSWORD,
            "LAUNCHPAD_API_TOKENS": TOKEN,
            "LAUNCHPAD_ROUTE_DUMP": str(route_dump),
        },
        ready_headers={"Authorization": f"Bearer {TOKEN}"},
    )


@pytest.fixture(scope="module")
def comfyui_setup(
    comfyui_install: ComfyUIInstall, comfyui_options: LaunchOptions, tmp_path_factory: pytest.TempPathFactory
) -> Setup:
    setup = prepare(tmp_path_factory.mktemp("comfyui"), cli_argv, comfyui_options)
    (setup.custom_nodes / "launchpad_route_dump.py").write_text(ROUTE_DUMP_NODE, encoding="utf-8")
    return setup


def real_targets(route_dump: Path) -> list[Target]:
    targets = []
    for method, pattern, kind in json.loads(route_dump.read_text()):
        if method == "HEAD":
            continue
        if kind == "static":
            targets.append(Target("GET", pattern + "index.html", pattern))
        else:
            method = "GET" if method == "*" else method
            path = pattern
            while "{" in path:
                start = path.index("{")
                path = path[:start] + "sample" + path[path.index("}", start) + 1:]
            targets.append(Target(method, path, pattern))
    return targets


@pytest.fixture
async def session(comfyui: ComfyUI) -> Iterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=comfyui.base_url) as client:
        yield client


async def test_every_real_route_needs_login(comfyui: ComfyUI, route_dump: Path, session: Any) -> None:
    targets = real_targets(route_dump)
    patterns = {t.pattern for t in targets}
    for expected in ("/", "/prompt", "/api/prompt", "/view", "/upload/image", "/ws", "/queue", "/system_stats",
                     "/internal/logs", "/launchpad/presets", "/api/launchpad/presets"):
        assert expected in patterns, f"{expected} missing from ComfyUI's route table"
    assert {t.canonical for t in targets} >= OPEN
    print(f"walking {len(targets)} routes of the real ComfyUI")
    await assert_every_route_guarded(session, targets)


@pytest.mark.parametrize("path", ["/ws", "/api/ws"])
async def test_real_websocket_needs_login(comfyui: ComfyUI, session: Any, path: str) -> None:
    await assert_websocket_guarded(session, path)


async def test_real_graph_page_goes_through_the_login_page(comfyui: ComfyUI, session: Any) -> None:
    response = await session.get("/", headers=PAGE, allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == "/launchpad/login?next=%2F"
    token = await login(session)
    page = await session.get("/", headers={**PAGE, "Cookie": f"launchpad_session={token}"})
    assert page.status == 200 and "<html" in (await page.text()).lower()
    assert comfyui.get("/launchpad/health").status == 200  # the HEALTHCHECK needs nothing
    assert PASSWORD not in comfyui.log_text() and TOKEN not in comfyui.log_text()
