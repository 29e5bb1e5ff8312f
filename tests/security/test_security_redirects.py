"""Every hop of a client-given download is checked (issue 15, finding 2): a custom URL on an
allowed host that redirects to loopback, to another host, to file:// or round in circles is
stopped at that hop, nothing is saved, and the internal server never sees a request.

The test servers are real aiohttp servers on distinct loopback addresses: the "public" model
host on 127.0.0.2 is allowed explicitly (ALLOW_PRIVATE_URL_ADDRESSES), the "internal" one on
127.0.0.3 (or 127.0.0.1, reached as ``localhost``) is not.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web
from apiclient import file_tree
from security_support import auth_settings, settled, standalone_client

PAYLOAD = b"\x00safetensors-bytes" * 64
SECRET = b"internal metadata: do not leak"


def internal_app(hits: list[str]) -> web.Application:
    async def secret(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(body=SECRET)

    app = web.Application()
    app.router.add_get("/{tail:.*}", secret)
    return app


@pytest.fixture
async def servers(aiohttp_server: Any) -> SimpleNamespace:
    hits: list[str] = []
    internal = await aiohttp_server(internal_app(hits), host="127.0.0.3")
    local = await aiohttp_server(internal_app(hits), host="127.0.0.1")

    async def files(request: web.Request) -> web.Response:
        return web.Response(body=PAYLOAD, headers={"Accept-Ranges": "bytes"})

    async def redirect(request: web.Request) -> web.Response:
        where = request.match_info["where"]
        targets = {
            "loopback-ip": f"http://127.0.0.3:{internal.port}/latest/meta-data.safetensors",
            "loopback-name": f"http://localhost:{local.port}/latest/meta-data.safetensors",
            "metadata": "https://169.254.169.254/latest/meta-data.safetensors",
            "file": "file:///etc/passwd",
            "other-host": "https://not-allowed.example/m.safetensors",
            "loop": f"/redirect/loop?n={int(request.query.get('n', '0')) + 1}",
            "fine": "/files/model.safetensors",
        }
        raise web.HTTPFound(targets[where])

    app = web.Application()
    app.router.add_get("/files/{name}", files)
    app.router.add_get("/redirect/{where}", redirect)
    public = await aiohttp_server(app, host="127.0.0.2")
    return SimpleNamespace(public=public, hits=hits)


@pytest.fixture
async def lp(tmp_path: Path, aiohttp_client: Any) -> SimpleNamespace:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    settings = auth_settings(
        workspace, tmp_path, enable_auth=False, allow_custom_urls=True,
        allowed_url_hosts=("127.0.0.2", "127.0.0.3", "localhost", "169.254.169.254"),
        private_url_networks=("127.0.0.2/32",), retry_backoff=0.01,
    )
    client = await standalone_client(aiohttp_client, settings)
    await settled(client)
    return SimpleNamespace(client=client, root=tmp_path, models=workspace / "models")


async def download(lp: SimpleNamespace, url: str) -> dict:
    response = await lp.client.post("/launchpad/downloads/url", json={"url": url, "folder": "checkpoints",
                                                                      "name": "m.safetensors"})
    body = await response.json()
    assert response.status == 202, body
    for _ in range(1000):
        jobs = (await (await lp.client.get("/launchpad/downloads")).json())["jobs"]
        job = next(j for j in jobs if j["id"] == body["job"]["id"])
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        await asyncio.sleep(0.01)
    raise AssertionError(f"the job never ended (retried forever?): {job}")


@pytest.mark.parametrize(
    ("where", "words"),
    [
        ("loopback-ip", "127.0.0.3"),
        ("loopback-name", "ALLOW_PRIVATE_URL_ADDRESSES"),
        ("metadata", "ALLOW_PRIVATE_URL_ADDRESSES"),
        ("file", "file:"),
        ("other-host", "ALLOWED_URL_HOSTS"),
        ("loop", "more than 5 redirects"),
    ],
)
async def test_a_bad_hop_stops_the_download(servers: SimpleNamespace, lp: SimpleNamespace, where: str,
                                            words: str, caplog: pytest.LogCaptureFixture) -> None:
    before = file_tree(lp.root)
    with caplog.at_level(logging.INFO):
        job = await download(lp, f"http://127.0.0.2:{servers.public.port}/redirect/{where}")
    assert job["state"] == "failed" and job["attempts"] == 1, job
    assert "retry" not in caplog.text  # refused at once, never retried
    assert words in job["error"]["message"], job["error"]
    assert servers.hits == []  # not even a request reached the internal servers
    after = file_tree(lp.root)
    assert not any(path.startswith("workspace/models/") for path in set(after) - set(before)), after


async def test_a_good_hop_is_followed(servers: SimpleNamespace, lp: SimpleNamespace) -> None:
    job = await download(lp, f"http://127.0.0.2:{servers.public.port}/redirect/fine")
    assert job["state"] == "done", job
    assert (lp.models / "checkpoints" / "m.safetensors").read_bytes() == PAYLOAD


async def test_the_first_address_is_checked_too(servers: SimpleNamespace, lp: SimpleNamespace) -> None:
    """localhost is an allowed *name* here, but it leads to a loopback address that is not allowed."""
    job = await download(lp, f"http://localhost:{servers.public.port}/files/m.safetensors")
    assert job["state"] == "failed" and "ALLOW_PRIVATE_URL_ADDRESSES" in job["error"]["message"], job
    assert servers.hits == []


def test_a_guarded_job_stays_guarded_across_a_restart(tmp_path: Path) -> None:
    from lp.launchpad.catalog.schema import ModelFile, UrlSource
    from lp.launchpad.downloads.jobs import Job
    from lp.launchpad.downloads.journal import job_from_record, job_record

    model_file = ModelFile("checkpoints", "m.safetensors", UrlSource("https://example.com/m.safetensors"))
    guarded = Job(file=model_file, target=tmp_path / "m.safetensors", preset_ids=[], guarded=True)
    assert job_from_record(job_record(guarded)).guarded is True
    plain = Job(file=model_file, target=tmp_path / "m.safetensors", preset_ids=[])
    assert job_from_record(job_record(plain)).guarded is False


def test_an_allowed_service_s_own_storage_is_followed_and_non_public_addresses_are_not() -> None:
    from lp.launchpad.config import Settings
    from lp.launchpad.errors import Forbidden
    from lp.launchpad.url_policy import HopPolicy

    policy = HopPolicy.from_settings(Settings())
    for url in ("https://huggingface.co/a/b/resolve/main/m.safetensors", "https://cas-bridge.xethub.hf.co/x",
                "https://civitai-delivery-worker-prod.abc.r2.cloudflarestorage.com/x", "https://civitai.com/api/x"):
        policy.check_url(url)
    for url in ("https://evil.example/x", "https://[::ffff:127.0.0.1]/x", "ftp://huggingface.co/x",
                "http://huggingface.co/x"):
        with pytest.raises(Forbidden):
            policy.check_url(url)
    for address in ("127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.0.1", "169.254.169.254", "100.64.0.1",
                    "0.0.0.0", "::1", "fe80::1", "fd00:ec2::254", "::ffff:10.0.0.1", "224.0.0.1"):
        with pytest.raises(Forbidden):
            policy.check_address("h", address)
    policy.check_address("h", "1.1.1.1")
    only_hf = HopPolicy.from_settings(Settings(allowed_url_hosts=("huggingface.co",)))
    with pytest.raises(Forbidden):
        only_hf.check_url("https://x.r2.cloudflarestorage.com/x")


async def test_a_workflow_link_is_guarded_like_a_custom_url(tmp_path: Path, aiohttp_client: Any) -> None:
    """A workflow's link to an allowed host is a client-given URL too: its address is checked."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    settings = auth_settings(workspace, tmp_path, enable_auth=False, allowed_url_hosts=("127.0.0.2",),
                             retry_backoff=0.01)
    client = await standalone_client(aiohttp_client, settings)
    await settled(client)
    workflow = {"nodes": [{"id": 1, "type": "CheckpointLoaderSimple", "mode": 0, "widgets_values": ["w.safetensors"],
                           "properties": {"models": [{"name": "w.safetensors", "directory": "checkpoints",
                                                      "url": "https://127.0.0.2:1/w.safetensors"}]}}], "links": []}
    response = await client.post("/launchpad/workflow/install", json={"workflow": workflow, "name": "rebind"})
    body = await response.json()
    assert response.status == 202 and len(body["jobs"]) == 1, body
    for _ in range(500):
        job = next(j for j in (await (await client.get("/launchpad/downloads")).json())["jobs"]
                   if j["id"] == body["jobs"][0]["id"])
        if job["state"] == "failed":
            break
        await asyncio.sleep(0.01)
    assert job["state"] == "failed" and "ALLOW_PRIVATE_URL_ADDRESSES" in job["error"]["message"], job
