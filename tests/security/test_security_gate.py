"""With ENABLE_AUTH on, every route of the app is behind the login: ours standalone, and all of
ComfyUI's (a PromptServer-like app with ComfyUI's route table, our package imported the way
ComfyUI imports it). Each door is knocked on without credentials, with a session cookie and
with a bearer token; WebSocket upgrades are refused without credentials.
"""

from __future__ import annotations

import logging
import sys
import types
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from security_support import (
    COMFY_ROUTES,
    PAGE,
    PASSWORD,
    TOKEN,
    assert_every_route_guarded,
    assert_websocket_guarded,
    auth_settings,
    comfy_like_app,
    login,
    route_targets,
    standalone_client,
)

from conftest import ROOT, load_like_comfyui

AUTH_ENV = {"ENABLE_AUTH": "1", "ACCESS_PASSWORD": PASSWORD, "LAUNCHPAD_API_TOKENS": f"other-token,{TOKEN}"}


# --- standalone -------------------------------------------------------------------------------------


@pytest.fixture
async def standalone(workspace_dir: Path, tmp_path: Path, aiohttp_client: Any) -> Any:
    return await standalone_client(aiohttp_client, auth_settings(workspace_dir, tmp_path))


async def test_standalone_every_route_needs_login(standalone: Any) -> None:
    targets = list(route_targets(standalone.server.app))
    paths = {t.pattern for t in targets}
    assert {"/launchpad/presets", "/api/launchpad/presets", "/", "/ws", "/launchpad/models/{model_id}"} <= paths
    await assert_every_route_guarded(standalone, targets)


@pytest.mark.parametrize("path", ["/ws", "/api/ws"])
async def test_standalone_websocket_needs_login(standalone: Any, path: str) -> None:
    await assert_websocket_guarded(standalone, path)


async def test_a_preflight_is_no_way_around_the_login(standalone: Any) -> None:
    """No CORS is offered, so a preflight (which never carries credentials) is refused like the rest."""
    headers = {"Origin": "https://evil.example", "Access-Control-Request-Method": "DELETE"}
    response = await standalone.options("/launchpad/models/0", headers=headers)
    assert response.status == 401 and "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("path", ["/launchpad/health", "/api/launchpad/health"])
async def test_health_stays_open_for_the_healthcheck(standalone: Any, path: str) -> None:
    response = await standalone.get(path)
    assert response.status == 200 and (await response.json())["status"] == "ok"


async def test_standalone_without_auth_needs_nothing(workspace_dir: Path, tmp_path: Path, aiohttp_client: Any) -> None:
    client = await standalone_client(aiohttp_client, auth_settings(workspace_dir, tmp_path, enable_auth=False))
    assert (await client.get("/launchpad/openapi.json")).status == 200
    ws = await client.ws_connect("/ws")
    assert (await ws.receive_json(timeout=5))["type"] == "status"
    await ws.close()
    assert not (workspace_dir / ".launchpad" / "session-secret").exists()  # no key made when auth is off


# --- inside ComfyUI ---------------------------------------------------------------------------------


@pytest.fixture
async def comfy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aiohttp_client: Any) -> SimpleNamespace:
    return await comfy_like_app(tmp_path, monkeypatch, aiohttp_client, AUTH_ENV)


async def test_comfyui_every_route_needs_login(comfy: SimpleNamespace) -> None:
    targets = list(route_targets(comfy.app))
    paths = {t.pattern for t in targets}
    for _, path in COMFY_ROUTES:
        assert path in paths and "/api" + path in paths  # ComfyUI's routes and their /api mirror
    assert {"/launchpad/presets", "/api/launchpad/presets", "/internal/logs", "/extensions/some_pack/"} <= paths
    await assert_every_route_guarded(comfy.client, targets)


@pytest.mark.parametrize("path", ["/ws", "/api/ws"])
async def test_comfyui_websocket_needs_login(comfy: SimpleNamespace, path: str) -> None:
    await assert_websocket_guarded(comfy.client, path)


async def test_comfyui_graph_page_redirects_to_login_and_back(comfy: SimpleNamespace) -> None:
    response = await comfy.client.get("/?workflow=x", headers=PAGE, allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == "/launchpad/login?next=%2F%3Fworkflow%3Dx"
    page = await comfy.client.get(response.headers["Location"], headers=PAGE)
    assert page.status == 200 and 'data-next="/?workflow=x"' in await page.text()
    session = await login(comfy.client)
    graph = await comfy.client.get("/", headers={**PAGE, "Cookie": f"launchpad_session={session}"})
    assert graph.status == 200 and "<title>ComfyUI</title>" in await graph.text()


async def test_middlewares_already_on_comfyuis_app_see_the_real_handler_after_the_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aiohttp_client: Any
) -> None:
    # ComfyUI-Manager's middleware (on the app before custom nodes load) looks its security
    # policy up by the handler it is given: ours must not hand it a wrapper
    seen: list[Any] = []

    @web.middleware
    async def manager_like(request: web.Request, handler: Any) -> web.StreamResponse:
        seen.append(handler)
        return await handler(request)

    comfy = await comfy_like_app(tmp_path, monkeypatch, aiohttp_client, AUTH_ENV, middlewares=(manager_like,))
    assert comfy.app.middlewares[-1] is manager_like
    seen.clear()  # the set-up's own requests
    assert (await comfy.client.post("/prompt", json={})).status == 401
    assert seen == []  # refused before any other middleware ran
    answer = await comfy.client.post("/prompt", json={}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status == 200
    route = next(r for r in comfy.app.router.routes() if r.method == "POST" and r.resource.canonical == "/prompt")
    assert seen == [route.handler]


async def test_comfyui_without_auth_adds_only_the_host_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aiohttp_client: Any
) -> None:
    comfy = await comfy_like_app(tmp_path, monkeypatch, aiohttp_client, {})
    assert [mw.__name__ for mw in comfy.app.middlewares] == ["launchpad_hosts"]  # DNS rebinding, auth or not
    assert (await comfy.client.post("/prompt", json={})).status == 200


async def test_enabled_without_credentials_locks_everything_but_health_and_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        comfy = await comfy_like_app(tmp_path, monkeypatch, aiohttp_client, {"ENABLE_AUTH": "true"})
    assert "ACCESS_PASSWORD" in caplog.text
    client = comfy.client
    assert (await client.get("/launchpad/health")).status == 200
    for method, path in (("GET", "/system_stats"), ("POST", "/prompt"), ("GET", "/launchpad/presets")):
        response = await client.request(method, path, json={} if method == "POST" else None)
        body = await response.json()
        assert response.status == 503 and body["error"]["code"] == "auth_not_configured"
        assert "ACCESS_PASSWORD" in body["error"]["message"]
    page = await client.get("/", headers=PAGE, allow_redirects=False)
    assert page.status == 302
    login_page = await client.get(page.headers["Location"])
    text = await login_page.text()
    assert login_page.status == 503 and "ACCESS_PASSWORD" in text and "<form" not in text
    attempt = await client.post("/launchpad/login", json={"password": ""})
    assert attempt.status in (400, 503)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/ws")
    assert refused.value.status == 503


class BrokenPromptServer:
    """A PromptServer whose route table blows up when our package touches it."""

    def __init__(self) -> None:
        self.app = web.Application()

        async def prompt(request: web.Request) -> web.Response:
            return web.json_response({"queued": True})

        self.app.router.add_post("/prompt", prompt)

    @property
    def routes(self) -> object:
        raise RuntimeError("boom from a broken PromptServer")


def load_into(monkeypatch: pytest.MonkeyPatch, instance: object, name: str) -> None:
    server = types.ModuleType("server")
    server.PromptServer = type("PromptServer", (), {"instance": instance})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "server", server)
    load_like_comfyui(ROOT, name)


async def test_comfyui_stays_guarded_when_the_package_fails_after_the_gate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A broken install must not leave ComfyUI open while the user believes it is locked."""
    broken = BrokenPromptServer()
    monkeypatch.setenv("ENABLE_AUTH", "1")
    monkeypatch.setenv("ACCESS_PASSWORD", PASSWORD)
    monkeypatch.setenv("LAUNCHPAD_API_TOKENS", TOKEN)
    monkeypatch.setenv("WORKSPACE_ROOT", str(tmp_path))
    with caplog.at_level(logging.ERROR):
        load_into(monkeypatch, broken, "lp_security_broken_late")
    assert "boom from a broken PromptServer" in caplog.text
    client = await aiohttp_client(broken.app)
    response = await client.post("/prompt", json={})
    assert response.status == 401 and (await response.json())["error"]["code"] == "login_required"
    assert (await client.post("/prompt", json={}, headers={"Authorization": f"Bearer {TOKEN}"})).status == 200


async def test_comfyui_locked_when_the_package_fails_before_its_gate(
    monkeypatch: pytest.MonkeyPatch, aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Even a configuration Launchpad cannot read locks ComfyUI rather than leaving it open."""
    broken = BrokenPromptServer()
    monkeypatch.setenv("ENABLE_AUTH", "on")
    monkeypatch.setenv("ACCESS_PASSWORD", PASSWORD)
    monkeypatch.setenv("COMFYUI_PORT", "not-a-port")  # Settings.from_env() raises
    with caplog.at_level(logging.ERROR):
        load_into(monkeypatch, broken, "lp_security_broken_early")
    assert "locked rather than served without a login" in caplog.text
    client = await aiohttp_client(broken.app)
    response = await client.post("/prompt", json={})
    assert response.status == 503 and (await response.json())["error"]["code"] == "auth_unavailable"
