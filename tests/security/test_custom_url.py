"""POST /launchpad/downloads/url: off unless ALLOW_CUSTOM_URLS, then only to allowed hosts, with
a model extension, inside the folder; pickle formats flagged. Refusals leave the disk as it was."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web
from apiclient import file_tree
from security_support import auth_settings, settled, standalone_client

PAYLOAD = b"\x00safetensors-bytes" * 64


@pytest.fixture
async def origin(aiohttp_server: Any) -> Any:
    """A local file server standing in for a model host."""

    async def serve(request: web.Request) -> web.StreamResponse:
        if request.match_info["name"].startswith("missing"):
            raise web.HTTPNotFound()
        return web.Response(body=PAYLOAD, headers={"Accept-Ranges": "bytes"})

    app = web.Application()
    app.router.add_get("/files/{name}", serve)
    return await aiohttp_server(app)


async def make(tmp_path: Path, aiohttp_client: Any, **overrides: Any) -> SimpleNamespace:
    workspace = tmp_path / "workspace"
    workspace.mkdir(exist_ok=True)
    values: dict[str, Any] = {"enable_auth": False}
    values.update(overrides)
    client = await standalone_client(aiohttp_client, auth_settings(workspace, tmp_path, **values))
    await settled(client)
    return SimpleNamespace(client=client, root=tmp_path, models=workspace / "models")


async def refused(app: SimpleNamespace, body: dict, status: int, code: str, words: str) -> None:
    before = file_tree(app.root)
    response = await app.client.post("/launchpad/downloads/url", json=body)
    data = await response.json()
    assert (response.status, data["error"]["code"]) == (status, code), data
    assert words in data["error"]["message"]
    assert file_tree(app.root) == before


async def test_off_by_default_and_says_how_to_switch_on(tmp_path: Path, aiohttp_client: Any, origin: Any) -> None:
    app = await make(tmp_path, aiohttp_client)
    url = f"http://127.0.0.1:{origin.port}/files/m.safetensors"
    await refused(app, {"url": url, "folder": "checkpoints"}, 403, "forbidden", "ALLOW_CUSTOM_URLS=1")


@pytest.fixture
async def allowed(tmp_path: Path, aiohttp_client: Any) -> SimpleNamespace:
    # the test servers are on loopback, which a custom URL may only reach when explicitly allowed
    return await make(tmp_path, aiohttp_client, allow_custom_urls=True, allowed_url_hosts=("127.0.0.1",),
                      private_url_networks=("127.0.0.1/32",))


@pytest.mark.parametrize(
    ("body", "status", "code", "words"),
    [
        ({"url": "https://huggingface.co/a/b/resolve/main/m.safetensors", "folder": "checkpoints"}, 403,
         "forbidden", "ALLOWED_URL_HOSTS"),
        ({"url": "https://127.0.0.1.evil.example/m.safetensors", "folder": "checkpoints"}, 403, "forbidden",
         "not allowed"),
        ({"url": "http://127.0.0.1:1/m.exe", "folder": "checkpoints"}, 400, "invalid_input", "model extension"),
        ({"url": "file:///etc/passwd", "folder": "checkpoints"}, 400, "invalid_input", "https"),
        ({"url": "http://u:p@127.0.0.1:1/m.safetensors", "folder": "checkpoints"}, 400, "invalid_input",
         "credentials"),
        ({"url": "http://127.0.0.1:1/m.safetensors", "folder": "checkpoints", "name": "../../../escape.safetensors"},
         400, "invalid_input", "segment"),
        ({"url": "http://127.0.0.1:1/m.safetensors", "folder": "checkpoints", "name": "/tmp/abs.safetensors"},
         400, "invalid_input", "absolute"),
        ({"url": "http://127.0.0.1:1/m.safetensors", "folder": "checkpoints", "name": "a\u0000.safetensors"},
         400, "invalid_input", "control"),
        ({"url": "http://127.0.0.1:1/m.safetensors", "folder": "../../etc"}, 400, "invalid_input", "model folder"),
        ({"url": "http://127.0.0.1:1/m.safetensors", "folder": "checkpoints", "sha256": "x"}, 400,
         "invalid_input", "unknown field"),
        ({"url": "http://127.0.0.1:1/" + "a" * 3000 + ".safetensors", "folder": "checkpoints"}, 400,
         "invalid_input", "2048"),
    ],
)
async def test_refusals(allowed: SimpleNamespace, body: dict, status: int, code: str, words: str) -> None:
    await refused(allowed, body, status, code, words)


async def test_refuses_a_name_through_a_symlink_out_of_the_folder(allowed: SimpleNamespace, origin: Any) -> None:
    outside = allowed.root / "outside"
    outside.mkdir()
    (allowed.models / "checkpoints").mkdir(parents=True, exist_ok=True)
    os.symlink(outside, allowed.models / "checkpoints" / "elsewhere")
    body = {"url": f"http://127.0.0.1:{origin.port}/files/m.safetensors", "folder": "checkpoints",
            "name": "elsewhere/m.safetensors"}
    await refused(allowed, body, 403, "forbidden", "outside")
    assert list(outside.iterdir()) == []


async def wait_done(client: Any, job_id: str) -> dict:
    for _ in range(1000):
        jobs = (await (await client.get("/launchpad/downloads")).json())["jobs"]
        job = next(j for j in jobs if j["id"] == job_id)
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        await asyncio.sleep(0.01)
    raise AssertionError(f"job {job_id} did not finish: {job}")


async def test_downloads_into_the_folder_and_flags_pickles(allowed: SimpleNamespace, origin: Any) -> None:
    base = f"http://127.0.0.1:{origin.port}/files"
    response = await allowed.client.post(
        "/launchpad/downloads/url", json={"url": f"{base}/model.safetensors?dl=1", "folder": "checkpoints"}
    )
    body = await response.json()
    assert response.status == 202 and body["pickle"] is False
    assert body["job"]["key"] == "checkpoints/model.safetensors" and body["job"]["preset_ids"] == []
    job = await wait_done(allowed.client, body["job"]["id"])
    assert job["state"] == "done", job
    assert (allowed.models / "checkpoints" / "model.safetensors").read_bytes() == PAYLOAD

    response = await allowed.client.post(
        "/launchpad/downloads/url", json={"url": f"{base}/old.ckpt", "folder": "loras", "name": "sub/old.ckpt"}
    )
    body = await response.json()
    assert response.status == 202 and body["pickle"] is True
    assert (await wait_done(allowed.client, body["job"]["id"]))["state"] == "done"
    listing = await (await allowed.client.get("/launchpad/models?folder=loras")).json()
    assert [(m["name"], m["pickle"]) for m in listing["models"]] == [("sub/old.ckpt", True)]

    again = await allowed.client.post(
        "/launchpad/downloads/url", json={"url": f"{base}/model.safetensors", "folder": "checkpoints"}
    )
    assert again.status == 409 and "already on disk" in (await again.json())["error"]["message"]
