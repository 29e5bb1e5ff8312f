"""CSRF: our mutating routes take JSON only and refuse other origins; with auth on, so does every
mutating route of ComfyUI and every WebSocket upgrade. Same-origin keeps working behind
RunPod's proxy (https outside, http inside, Host rewritten, X-Forwarded-Host kept)."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from apiclient import file_tree
from security_support import PASSWORD, auth_settings, comfy_like_app, login, settled, standalone_client

from lp.server_routes.routes import ROUTES

PUBLIC = "abc123-8188.proxy.runpod.net"
MUTATING = [r for r in ROUTES if r.method in ("POST", "PUT", "PATCH", "DELETE")]
WITH_BODY = [r for r in MUTATING if r.body is not None]
FORM_TYPES = {
    "text/plain": "a=b",
    "application/x-www-form-urlencoded": "a=b",
    "multipart/form-data; boundary=xyz": '--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--xyz--\r\n',
}


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "sample", path)


@pytest.fixture
async def open_app(workspace_dir: Path, tmp_path: Path, aiohttp_client: Any) -> SimpleNamespace:
    """Standalone with auth off: the CSRF rules of our routes hold regardless."""
    client = await standalone_client(aiohttp_client, auth_settings(workspace_dir, tmp_path, enable_auth=False))
    await settled(client)
    return SimpleNamespace(client=client, root=tmp_path)


@pytest.mark.parametrize("route", MUTATING, ids=lambda r: f"{r.method} {r.path}")
@pytest.mark.parametrize("origin", ["https://evil.example", "null", "https://other-8188.proxy.runpod.net"])
async def test_our_mutations_refuse_other_origins(open_app: SimpleNamespace, route: Any, origin: str) -> None:
    before = file_tree(open_app.root)
    for prefix in ("", "/api"):
        response = await open_app.client.request(
            route.method, prefix + concrete(route.path), json={}, headers={"Origin": origin}
        )
        assert response.status == 403, await response.text()
        assert (await response.json())["error"]["code"] == "cross_origin"
    assert file_tree(open_app.root) == before


@pytest.mark.parametrize("route", WITH_BODY, ids=lambda r: f"{r.method} {r.path}")
@pytest.mark.parametrize("content_type", list(FORM_TYPES))
async def test_our_mutations_refuse_form_content_types(
    open_app: SimpleNamespace, route: Any, content_type: str
) -> None:
    before = file_tree(open_app.root)
    response = await open_app.client.request(
        route.method, concrete(route.path), data=FORM_TYPES[content_type], headers={"Content-Type": content_type}
    )
    assert response.status == 415
    assert (await response.json())["error"]["code"] == "unsupported_media_type"
    assert file_tree(open_app.root) == before


async def test_a_bodyless_post_without_content_type_is_refused(open_app: SimpleNamespace) -> None:
    """fetch(url, {method: "POST", mode: "no-cors"}) sends no Content-Type: still not JSON."""
    response = await open_app.client.post("/launchpad/catalog/reload")
    assert response.status == 415


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        # same origin, direct
        ({"Origin": "http://{host}"}, 200),
        # RunPod: https outside, Host rewritten to the pod, public host forwarded
        ({"Origin": f"https://{PUBLIC}", "Host": "127.0.0.1:8188", "X-Forwarded-Host": PUBLIC,
          "X-Forwarded-Proto": "https"}, 200),
        # a proxy that keeps the public Host instead
        ({"Origin": f"https://{PUBLIC}", "Host": PUBLIC, "X-Forwarded-Proto": "https"}, 200),
        ({"Origin": f"https://{PUBLIC}", "Forwarded": f'host="{PUBLIC}";proto=https', "Host": "127.0.0.1"}, 200),
        # another pod's page on the same proxy domain (same *site*, other origin)
        ({"Origin": "https://evil-8188.proxy.runpod.net", "Host": "127.0.0.1:8188", "X-Forwarded-Host": PUBLIC}, 403),
        # same host name, another port: another origin
        ({"Origin": "http://127.0.0.1:1", "Host": "127.0.0.1:8188"}, 403),
        # a proxy that rewrites Host and forwards nothing: refused unless listed (next test)
        ({"Origin": f"https://{PUBLIC}", "Host": "127.0.0.1:8188"}, 403),
        ({"Origin": "file://"}, 403),
    ],
)
async def test_origin_check_behind_proxies(open_app: SimpleNamespace, headers: dict, status: int) -> None:
    client = open_app.client
    host = f"{client.server.host}:{client.server.port}"
    headers = {k: v.replace("{host}", host) for k, v in headers.items()}
    response = await client.post("/launchpad/logout", json={}, headers=headers)
    assert response.status == status, await response.text()


async def test_allowed_origins_setting(workspace_dir: Path, tmp_path: Path, aiohttp_client: Any) -> None:
    settings = auth_settings(
        workspace_dir, tmp_path, enable_auth=False, allowed_origins=(f"https://{PUBLIC}",)
    )
    client = await standalone_client(aiohttp_client, settings)
    headers = {"Origin": f"https://{PUBLIC}", "Host": "127.0.0.1:8188"}
    assert (await client.post("/launchpad/logout", json={}, headers=headers)).status == 200
    headers["Origin"] = "https://evil.example"
    assert (await client.post("/launchpad/logout", json={}, headers=headers)).status == 403


# --- with auth on, ComfyUI's own routes too -----------------------------------------------------


@pytest.fixture
async def comfy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aiohttp_client: Any) -> SimpleNamespace:
    env = {"ENABLE_AUTH": "1", "ACCESS_PASSWORD": PASSWORD}
    return await comfy_like_app(tmp_path, monkeypatch, aiohttp_client, env)


async def test_with_auth_comfyui_mutations_refuse_other_origins(comfy: SimpleNamespace) -> None:
    cookie = {"Cookie": f"launchpad_session={await login(comfy.client)}"}
    for method, path in (("POST", "/prompt"), ("POST", "/api/prompt"), ("POST", "/upload/image"),
                         ("DELETE", "/userdata/x"), ("PATCH", "/internal/logs/subscribe")):
        response = await comfy.client.request(method, path, json={}, headers={**cookie, "Origin": "https://evil.example"})
        assert response.status == 403, (method, path)
        response = await comfy.client.request(method, path, json={}, headers=cookie)
        assert response.status == 200, (method, path)
    # reads are not mutations: a cross-origin GET cannot read the answer anyway (no CORS)
    assert (await comfy.client.get("/queue", headers={**cookie, "Origin": "https://evil.example"})).status == 200


async def test_with_auth_cross_site_websocket_is_refused(comfy: SimpleNamespace) -> None:
    cookie = {"Cookie": f"launchpad_session={await login(comfy.client)}"}
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await comfy.client.ws_connect("/ws", headers={**cookie, "Origin": "https://evil-8188.proxy.runpod.net"})
    assert refused.value.status == 403
    host = f"{comfy.client.server.host}:{comfy.client.server.port}"
    ws = await comfy.client.ws_connect("/ws", headers={**cookie, "Origin": f"http://{host}"})
    assert (await ws.receive_json(timeout=5))["type"] == "status"
    await ws.close()
