"""Helpers for the security tests: apps with auth on, logging in, and walking every route.

:func:`route_targets` lists every (method, concrete path) an aiohttp application serves, its
sub-applications and static directories included, so a test can knock on each door.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from apiclient import write_presets
from comfy_standin import StandInPromptServer, add_routes, folder_paths_module, install

from conftest import ROOT, load_like_comfyui
from lp.launchpad.config import Settings
from lp.launchpad.service import LaunchpadService
from lp.server_routes.standalone import create_app

PASSWORD = "a long enough test password"
TOKEN = "lp-test-token-5f0c1e9a2b7d4c3e"
COOKIE = "launchpad_session"
OPEN = {"/launchpad/health", "/launchpad/login", "/launchpad/logout", "/launchpad/session"}
SAMPLE_PARAM = "sample"
_names = itertools.count()

PRESETS = """\
    schema: 1
    presets:
      - id: sec-test
        name: Security test preset
        category: image
        files:
          - folder: checkpoints
            name: sec.safetensors
            url: http://127.0.0.1:9/sec.safetensors
"""


def auth_settings(workspace: Path, tmp_path: Path, **overrides: Any) -> Settings:
    no_templates = tmp_path / "no-templates"
    no_templates.mkdir(exist_ok=True)
    values: dict[str, Any] = {
        "workspace": workspace,
        "templates_dir": no_templates,
        "enable_auth": True,
        "access_password": PASSWORD,
        "api_tokens": (TOKEN,),
    }
    values.update(overrides)
    return Settings.from_env({}, **values)


async def standalone_client(aiohttp_client: Any, settings: Settings) -> Any:
    write_presets(settings.workspace, PRESETS)
    service = LaunchpadService(settings)
    return await aiohttp_client(create_app(service))


async def settled(client: Any) -> None:
    """Wait until the service finished starting (or failed to): no start-up writes after this."""
    for _ in range(500):
        health = await (await client.get("/launchpad/health")).json()
        if health["state"] != "starting":
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the service did not finish starting")


@dataclass(frozen=True)
class Target:
    method: str
    path: str  # concrete, ready to request
    pattern: str  # as registered, for messages

    @property
    def canonical(self) -> str:
        return self.pattern[4:] if self.pattern.startswith("/api/launchpad/") else self.pattern

    @property
    def open(self) -> bool:
        return self.canonical in OPEN

    @property
    def websocket(self) -> bool:
        return self.pattern in ("/ws", "/api/ws")


def _concrete(formatter: str) -> str:
    return re.sub(r"\{[^}]+\}", SAMPLE_PARAM, formatter)


def route_targets(app: web.Application) -> Iterator[Target]:
    """Every (method, path) of ``app``, sub-applications and static directories included.

    aiohttp has already prefixed the resources of a mounted sub-application with its prefix.
    """
    for resource in app.router.resources():
        info = resource.get_info()
        if "app" in info:  # a mounted sub-application (ComfyUI's /internal)
            yield from route_targets(info["app"])
            continue
        if isinstance(resource, web.StaticResource):
            base = info["prefix"].rstrip("/")
            yield Target("GET", base + "/index.html", base + "/")
            continue
        pattern = info.get("formatter") or info.get("path") or ""
        for route in resource:
            if route.method == "HEAD":
                continue  # aiohttp adds one beside every GET
            method = "GET" if route.method == "*" else route.method
            yield Target(method, _concrete(pattern), pattern)


async def login(client: Any, secret: str = PASSWORD, **headers: str) -> str:
    """Log in; returns the session token (and leaves the client's cookie jar empty)."""
    response = await client.post("/launchpad/login", json={"password": secret}, headers=headers)
    assert response.status == 200, await response.text()
    token = response.cookies[COOKIE].value
    getattr(client, "session", client).cookie_jar.clear()  # a test client, or a plain ClientSession
    return token


# --- walking every route ------------------------------------------------------------------------

API = {"Accept": "application/json"}
PAGE = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
GATE_CODES = {"login_required", "cross_origin", "auth_not_configured", "locked_out"}


async def gate_refused(response: aiohttp.ClientResponse) -> bool:
    """Whether our gate (not the route behind it) answered."""
    if response.headers.get("Location", "").startswith("/launchpad/login"):
        return True
    if response.content_type != "application/json":
        return False
    try:
        body = await response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("error"), dict) and body["error"].get("code") in GATE_CODES


async def knock(client: Any, target: Target, headers: dict[str, str]) -> aiohttp.ClientResponse:
    kwargs: dict[str, Any] = {"headers": headers, "allow_redirects": False}
    if target.method in ("POST", "PUT", "PATCH", "DELETE"):
        kwargs["json"] = {}
    response = await client.request(target.method, target.path, **kwargs)
    await response.read()
    return response


async def assert_every_route_guarded(client: Any, targets: list[Target]) -> None:
    assert targets
    session = await login(client)
    credentials = {
        "cookie": {"Cookie": f"launchpad_session={session}"},
        "bearer": {"Authorization": f"Bearer {TOKEN}"},
    }
    refused, let_in = [], []
    for target in targets:
        if target.websocket:
            continue  # upgrades have their own test
        response = await knock(client, target, API)
        if target.open:
            assert response.status != 401, target
            continue
        if response.status != 401 or (await response.json())["error"]["code"] != "login_required":
            refused.append((target, response.status))
        assert response.headers.get("WWW-Authenticate", "").startswith("Bearer"), target
        if target.method == "GET":
            page = await knock(client, target, PAGE)
            location = page.headers.get("Location", "")
            if page.status != 302 or not location.startswith("/launchpad/login?next="):
                refused.append((target, f"page {page.status} {location}"))
        for kind, headers in credentials.items():
            response = await knock(client, target, {**API, **headers})
            if await gate_refused(response):
                let_in.append((target, kind, response.status))
    assert refused == [], "routes not guarded"
    assert let_in == [], "routes that refused valid credentials"


async def assert_websocket_guarded(client: Any, path: str) -> None:
    for headers, query in (({}, ""), ({"Authorization": "Bearer wrong-token"}, ""), ({}, "?token=wrong")):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect(path + query, headers=headers)
        assert refused.value.status == 401
    session = await login(client)
    for headers, query in (
        ({"Cookie": f"launchpad_session={session}"}, ""),
        ({"Authorization": f"Bearer {TOKEN}"}, ""),
        ({}, f"?token={TOKEN}"),
    ):
        ws = await client.ws_connect(path + query, headers=headers)
        first = await ws.receive_json(timeout=5)
        assert first["type"] == "status"
        await ws.close()
    # a token in the query string is for WebSocket upgrades only
    response = await client.get(f"/launchpad/presets?token={TOKEN}", headers=API)
    assert response.status == 401


# --- a PromptServer-like app with ComfyUI's own routes -----------------------------------------

# ComfyUI's core routes (docs/comfyui-facts.md, PromptServer, and the sub-managers it mounts), plus a few of
# ComfyUI-Manager's; each gets a trivial handler: what matters is that the gate stands before it.
COMFY_ROUTES = [
    ("GET", "/"), ("GET", "/embeddings"), ("GET", "/models"), ("GET", "/models/{folder}"),
    ("GET", "/extensions"), ("POST", "/upload/image"), ("POST", "/upload/mask"), ("GET", "/view"),
    ("GET", "/view_metadata/{folder_name}"), ("GET", "/system_stats"), ("GET", "/features"),
    ("GET", "/prompt"), ("POST", "/prompt"), ("GET", "/object_info"), ("GET", "/object_info/{node_class}"),
    ("GET", "/history"), ("GET", "/history/{prompt_id}"), ("POST", "/history"), ("GET", "/queue"),
    ("POST", "/queue"), ("POST", "/interrupt"), ("POST", "/free"), ("GET", "/i18n"),
    ("GET", "/workflow_templates"), ("GET", "/settings"), ("GET", "/settings/{id}"), ("POST", "/settings"),
    ("POST", "/settings/{id}"), ("GET", "/users"), ("POST", "/users"), ("GET", "/userdata"),
    ("GET", "/v2/userdata"), ("GET", "/userdata/{file}"), ("POST", "/userdata/{file}"),
    ("DELETE", "/userdata/{file}"), ("POST", "/userdata/{file}/move/{dest}"), ("GET", "/experiment/models"),
    ("GET", "/experiment/models/{folder}"),
    # ComfyUI-Manager (legacy pack)
    ("GET", "/customnode/getlist"), ("GET", "/customnode/getmappings"), ("POST", "/manager/queue/install"),
    ("GET", "/manager/reboot"), ("POST", "/manager/queue/start"),
]
INTERNAL_ROUTES = [("GET", "/logs"), ("GET", "/folder_paths"), ("GET", "/files/{directory_type}"),
                   ("PATCH", "/logs/subscribe")]


async def _trivial(request: web.Request) -> web.Response:
    if request.path == "/":
        return web.Response(text="<!doctype html><title>ComfyUI</title>", content_type="text/html")
    return web.json_response({"ok": True, "path": request.path})


async def comfy_like_app(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    aiohttp_client: Any,
    env: dict[str, str],
    middlewares: tuple[Any, ...] = (),
) -> SimpleNamespace:
    """ComfyUI's route table with trivial handlers, our package imported the ComfyUI way.

    ``middlewares`` are on ComfyUI's app before our package loads, as ComfyUI-Manager's is.
    """
    base = tmp_path / "ComfyUI"
    web_root = base / "web"
    web_root.mkdir(parents=True)
    (web_root / "index.html").write_text("<!doctype html><title>ComfyUI</title>")
    workspace = tmp_path / "workspace"
    write_presets(workspace, PRESETS)
    no_templates = tmp_path / "no-templates"
    no_templates.mkdir(exist_ok=True)
    for name in ("ENABLE_AUTH", "ACCESS_PASSWORD", "LAUNCHPAD_API_TOKENS", "LAUNCHPAD_SESSION_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WORKSPACE_ROOT", str(workspace))
    monkeypatch.setenv("LAUNCHPAD_TEMPLATES_DIR", str(no_templates))
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    server = StandInPromptServer()
    server.app.middlewares.extend(middlewares)
    for method, path in COMFY_ROUTES:  # core routes exist before custom nodes are imported
        server.routes.route(method, path)(_trivial)
    install(monkeypatch, server, folder_paths_module(base))
    package = load_like_comfyui(ROOT, f"lp_security_{next(_names)}")
    app = add_routes(server)
    internal = web.Application()
    for method, path in INTERNAL_ROUTES:
        internal.router.add_route(method, path, _trivial)
    app.add_subapp("/internal", internal)
    app.router.add_static("/extensions/some_pack", web_root)
    app.router.add_static("/", web_root)  # ComfyUI's web root catch-all comes last
    client = await aiohttp_client(app)  # starts the app: Launchpad sets up its logging, then starts
    await settled(client)
    package.launchpad.logs.reset_logging()  # give pytest's log capture back its propagation
    return SimpleNamespace(server=server, app=app, client=client, package=package, workspace=workspace)
