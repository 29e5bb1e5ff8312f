"""DNS rebinding (issue 15, finding 4): with auth off, a page on an attacker's domain that resolves
to this machine sends Host and Origin of that domain. Every request, HTTP and WebSocket, ours
and ComfyUI's, must name an allowed host; the origin check compares with allowed names only."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from apiclient import file_tree
from security_support import auth_settings, comfy_like_app, settled, standalone_client

EVIL = "rebind.attacker.example"


async def make(tmp_path: Path, aiohttp_client: Any, **overrides: Any) -> SimpleNamespace:
    workspace = tmp_path / "workspace"
    checkpoints = workspace / "models" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "keep.safetensors").write_bytes(b"k" * 32)
    values: dict[str, Any] = {"enable_auth": False}
    values.update(overrides)
    client = await standalone_client(aiohttp_client, auth_settings(workspace, tmp_path, **values))
    await settled(client)
    models = (await (await client.get("/launchpad/models")).json())["models"]
    return SimpleNamespace(client=client, root=tmp_path, model_id=models[0]["id"], port=client.port)


def rebound(port: int, name: str = EVIL) -> dict[str, str]:
    """What a browser sends after the attacker's name was rebound to this machine."""
    return {"Host": f"{name}:{port}", "Origin": f"http://{name}:{port}"}


async def assert_refused(response: aiohttp.ClientResponse) -> None:
    body = await response.json()
    assert response.status == 403 and body["error"]["code"] == "host_not_allowed", body
    assert "ALLOWED_HOSTS" in body["error"]["message"]


async def test_a_rebound_name_can_neither_delete_nor_install_nor_read(tmp_path: Path, aiohttp_client: Any) -> None:
    app = await make(tmp_path, aiohttp_client)
    before = file_tree(app.root)
    headers = rebound(app.port)
    await assert_refused(await app.client.delete(f"/launchpad/models/{app.model_id}", headers=headers))
    await assert_refused(await app.client.post("/api/launchpad/presets/install", json={"presets": ["sec-test"]},
                                               headers=headers))
    await assert_refused(await app.client.get("/launchpad/presets", headers={"Host": EVIL}))
    await assert_refused(await app.client.get("/", headers={"Host": EVIL}))
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await app.client.ws_connect("/ws", headers=headers)
    assert refused.value.status == 403
    # a proxy forwarding the attacker's name is refused the same way
    await assert_refused(await app.client.get("/launchpad/presets", headers={"X-Forwarded-Host": EVIL}))
    assert file_tree(app.root) == before


@pytest.mark.parametrize(
    "name",
    ["localhost", "127.0.0.1", "[::1]", "10.1.2.3", "app.localhost", "abc123xyz-8188.proxy.runpod.net"],
)
async def test_loopback_ip_literals_and_the_pod_proxy_are_served(
    tmp_path: Path, aiohttp_client: Any, name: str
) -> None:
    app = await make(tmp_path, aiohttp_client)
    headers = {"Host": f"{name}:{app.port}", "Origin": f"http://{name}:{app.port}"}
    response = await app.client.get("/launchpad/presets", headers=headers)
    assert response.status == 200, await response.text()
    response = await app.client.delete(f"/launchpad/models/{app.model_id}", headers=headers)
    assert response.status == 200, await response.text()


async def test_allowed_hosts_names_a_domain_and_the_origin_check_trusts_that_list(
    tmp_path: Path, aiohttp_client: Any
) -> None:
    app = await make(tmp_path, aiohttp_client, allowed_hosts=("comfy.example.com", ".example.org"))
    for name in ("comfy.example.com", "example.org", "gpu.example.org"):
        assert (await app.client.get("/launchpad/presets", headers={"Host": name})).status == 200
    await assert_refused(await app.client.get("/launchpad/presets", headers={"Host": "evil.example.com"}))
    # a proxy that rewrites Host and forwards no name: the listed origin is still this server...
    listed = {"Origin": "https://comfy.example.com", "Host": f"127.0.0.1:{app.port}"}
    response = await app.client.post("/launchpad/presets/install", json={"presets": ["nope"]}, headers=listed)
    assert response.status == 404, await response.text()
    # ...while another pod on the proxy's domain (allowed as a Host pattern) is another origin
    other = {"Origin": "https://other-8188.proxy.runpod.net", "Host": f"127.0.0.1:{app.port}"}
    response = await app.client.post("/launchpad/presets/install", json={"presets": ["nope"]}, headers=other)
    assert response.status == 403 and (await response.json())["error"]["code"] == "cross_origin"


async def test_a_star_restores_any_host_with_a_warning(
    tmp_path: Path, aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="launchpad.auth"):
        app = await make(tmp_path, aiohttp_client, allowed_hosts=("*",))
    assert "ALLOWED_HOSTS=*" in caplog.text
    assert (await app.client.get("/launchpad/presets", headers={"Host": EVIL})).status == 200


async def test_inside_comfyui_every_route_checks_the_host_with_auth_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aiohttp_client: Any
) -> None:
    comfy = await comfy_like_app(tmp_path, monkeypatch, aiohttp_client, {})
    client = comfy.client
    headers = rebound(client.port)
    for method, path in (("POST", "/prompt"), ("GET", "/"), ("GET", "/view"), ("GET", "/internal/logs"),
                         ("POST", "/manager/queue/install"), ("GET", "/launchpad/presets")):
        await assert_refused(await client.request(method, path, headers=headers, json={} if method == "POST" else None))
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/ws", headers=headers)
    assert refused.value.status == 403
    assert (await client.post("/prompt", json={})).status == 200  # addressed by its IP: served
