"""A shared workflow with no download links, resolved by the chain through the standalone API.

The fake Hub serves a repository the catalog uses (its listing holds more than any preset
names) and a fake Civitai that finds a version by its file's sha256; the workspace holds a
ComfyUI-Manager model list written here in the Manager's format (a legacy clone under
custom_nodes/). The first analysis answers at once with what is on the machine, the lookups
follow with a ``launchpad.resolve`` event over the WebSocket, and one install fetches every
sure candidate under the names the workflow's loaders want.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from apiclient import Api
from resolve_helpers import CIVITAI_LORA, HUB_LORA, KNOWN_REPO, MANAGER_VAE, SURE, stage
from resolve_helpers import shared_workflow as workflow

from fakehub import FakeHub
from lp.launchpad.config import Settings
from lp.launchpad.service import LaunchpadService
from lp.server_routes.standalone import create_app


@pytest.fixture
async def app(workspace_dir: Path, fakehub: FakeHub, aiohttp_client) -> SimpleNamespace:
    sources = stage(fakehub, workspace_dir)
    settings = Settings.from_env(
        {}, workspace=workspace_dir, hf_endpoint=fakehub.url, civitai_endpoint=fakehub.url, free_space_margin=0,
        retry_backoff=0.02, civitai_token="civ-token",
    )
    service = LaunchpadService(settings)
    client = await aiohttp_client(create_app(service))
    await service.ready()
    return SimpleNamespace(service=service, api=Api(client), client=client, ws=workspace_dir, hub=fakehub,
                           models=workspace_dir / "models", served=sources.served, sha256=sources.sha256)


async def resolved_after_event(app: SimpleNamespace, graph: dict) -> tuple[dict, dict]:
    """The first analysis, and the one after the ``launchpad.resolve`` event a browser tab receives."""
    async with app.client.ws_connect("/ws?clientId=tab") as ws:
        assert (await ws.receive_json(timeout=10))["type"] == "status"
        status, first = await app.api.post("/launchpad/workflow/models", {"workflow": graph})
        assert status == 200
        while first["resolving"]:
            message = await ws.receive_json(timeout=60)
            if message["type"] == "launchpad.resolve":
                assert f"loras/{CIVITAI_LORA}" in message["data"]["keys"]
                break
    _, second = await app.api.post("/launchpad/workflow/models", {"workflow": graph})
    return first, second


async def wait_done(app: SimpleNamespace, label: str) -> dict:
    for _ in range(600):
        _, snapshot = await app.api.get("/launchpad/downloads")
        group = snapshot["presets"].get(label)
        if group and group["state"] not in ("queued", "downloading"):
            return group
        await asyncio.sleep(0.05)
    raise AssertionError(f"{label} did not finish: {snapshot}")


async def test_a_workflow_without_links_is_resolved_and_installs_in_one_click(app: SimpleNamespace) -> None:
    graph = workflow(app.sha256)
    first, body = await resolved_after_event(app, graph)

    # at once: what the machine knew (the Manager's list, the catalog); the Hub and Civitai not yet
    early = {m["key"]: m for m in first["models"]}
    assert first["resolving"] is True
    assert early[f"vae/{MANAGER_VAE}"]["origin"] == "manager" and early[f"vae/{MANAGER_VAE}"]["installable"]
    assert early[f"loras/{CIVITAI_LORA}"]["state"] == "unknown"
    assert "Civitai" in early[f"loras/{CIVITAI_LORA}"]["reason"]

    models = {m["key"]: m for m in body["models"]}
    assert body["resolving"] is False
    vae = models[f"vae/{MANAGER_VAE}"]
    assert (vae["origin"], vae["certainty"], vae["installable"]) == ("manager", "exact", True)
    assert vae["candidates"][0]["size"] == 70_000 and vae["candidates"][0]["size_estimated"]  # the list's "70KB"
    assert vae["size"] == 70_000 and not vae["size_estimated"]  # and the Hub's exact figure
    assert vae["candidates"][0]["where"] == f"ComfyUI-Manager's model list: {MANAGER_VAE}"
    assert vae["candidates"][0]["found_as"] == f"vae/SDXL/{MANAGER_VAE}"
    lora = models[f"loras/{HUB_LORA}"]
    assert (lora["origin"], lora["certainty"], lora["installable"]) == ("huggingface", "exact", True)
    assert lora["source"]["repo"] == KNOWN_REPO and lora["source"]["path"] == f"split_files/loras/{HUB_LORA}"
    assert lora["size"] == 60_000 and not lora["size_estimated"]
    # the Manager lists the same file elsewhere: another candidate, as sure, less trusted than the listing
    assert [(c["origin"], c["certainty"]) for c in lora["candidates"]] == [("huggingface", "exact"),
                                                                            ("manager", "exact")]
    civitai = models[f"loras/{CIVITAI_LORA}"]
    assert (civitai["origin"], civitai["certainty"], civitai["installable"]) == ("civitai", "hash", True)
    assert civitai["hash"] == app.sha256 and civitai["source"] == {
        "kind": "civitai", "version": 5150, "url": "https://civitai.com/api/download/models/5150"}
    assert civitai["candidates"][0]["where"] == "Civitai: Paper Cut v1.0"
    assert civitai["candidates"][0]["found_as"] == "PaperCut_v2.safetensors"
    # the same file name under another case: a name match that asks first
    base = models["checkpoints/Known-Base.safetensors"]
    assert (base["certainty"], base["confirm"], base["installable"]) == ("name", True, False)
    # the catalog and the Hub listing name the same link: one candidate, the catalog's
    assert [(c["origin"], c["where"], c["found_as"]) for c in base["candidates"]] == [
        ("catalog", "preset A preset whose repository holds more than it lists", "checkpoints/known-base.safetensors")]
    assert "only the name matches" in base["reason"]
    # the Manager lists one on GitHub, which is not an allowed download host
    elsewhere = models["vae/elsewhere.safetensors"]
    assert (elsewhere["state"], elsewhere["origin"], elsewhere["installable"]) == ("missing", "manager", False)
    assert "github.com is not an allowed download host" in elsewhere["reason"]
    assert not elsewhere["candidates"][0]["installable"]
    assert body["summary"]["installable"] == 3 and body["summary"]["to_confirm"] == 1
    assert body["sources"]["manager"] == {"files": 3, "lists": [str(app.ws / "custom_nodes" / "ComfyUI-Manager" /
                                                                    "model-list.json")]}
    assert body["sources"]["huggingface"]["listed"] >= 1

    status, result = await app.api.post("/launchpad/workflow/install", {"workflow": graph, "name": "shared.json"})

    assert status == 202
    assert {j["key"] for j in result["jobs"]} == set(SURE)
    refused = [r["key"] for r in result["refused"]]
    assert refused == ["checkpoints/Known-Base.safetensors", "vae/elsewhere.safetensors"]
    assert (await wait_done(app, "workflow:shared"))["state"] == "done"
    for key in SURE:
        assert (app.models / key).read_bytes() == app.served[key]
    by_hash = app.hub.civitai_hash_calls()
    assert len(by_hash) == 1 and by_hash[0].authorization == "Bearer civ-token"

    # the name match installs once the user chose it
    choice = {"checkpoints/Known-Base.safetensors": base["candidates"][0]["id"]}
    status, result = await app.api.post("/launchpad/workflow/install",
                                        {"workflow": graph, "name": "shared.json", "choices": choice})
    assert status == 202 and [j["key"] for j in result["jobs"]] == ["checkpoints/Known-Base.safetensors"]
    await wait_done(app, "workflow:shared")
    assert (app.models / "checkpoints" / "Known-Base.safetensors").read_bytes() == app.served[
        "checkpoints/Known-Base.safetensors"]
    _, after = await app.api.post("/launchpad/workflow/models", {"workflow": graph})
    states = {m["key"]: m["state"] for m in after["models"]}
    assert states.pop("vae/elsewhere.safetensors") == "missing" and set(states.values()) == {"present"}


async def test_listings_and_answers_are_kept_in_the_workspace(app: SimpleNamespace) -> None:
    graph = workflow(app.sha256)
    await resolved_after_event(app, graph)
    listed, asked = len(app.hub.tree_calls()), len(app.hub.civitai_hash_calls())
    assert listed >= 1 and asked == 1
    state = app.ws / ".launchpad" / "resolve"
    assert KNOWN_REPO + "@main" in json.loads((state / "hub-listings.json").read_text())["entries"]
    assert app.sha256 in json.loads((state / "civitai.json").read_text())["entries"]

    # a restarted server answers from the workspace at once: nothing asked again
    await app.service.close()
    again = LaunchpadService(app.service.settings)
    await again.start()
    try:
        body = await again.workflows.models(graph)
        assert body["resolving"] is False
        assert {m["key"]: m["certainty"] for m in body["models"]}[f"loras/{CIVITAI_LORA}"] == "hash"
        assert (len(app.hub.tree_calls()), len(app.hub.civitai_hash_calls())) == (listed, asked)
    finally:
        await again.close()


async def test_switched_off_lookups_ask_nobody(workspace_dir: Path, fakehub: FakeHub) -> None:
    settings = Settings.from_env({"LAUNCHPAD_MODEL_LOOKUP": "0"}, workspace=workspace_dir, hf_endpoint=fakehub.url,
                                 civitai_endpoint=fakehub.url)
    service = LaunchpadService(settings)
    await service.start()
    try:
        body = await service.workflows.models(workflow("ab" * 32))
        assert body["resolving"] is False
        await asyncio.sleep(0.2)
        assert fakehub.tree_calls() == [] and fakehub.civitai_hash_calls() == []
    finally:
        await service.close()


async def test_an_unreachable_hub_is_given_up_on_at_once(workspace_dir: Path, fakehub: FakeHub) -> None:
    """With the Hub unreachable, one repository is tried (not the hundred-odd the catalog uses) and
    the analysis still answers at once."""
    settings = Settings.from_env({}, workspace=workspace_dir, hf_endpoint="http://127.0.0.1:9",
                                 civitai_endpoint=fakehub.url)
    service = LaunchpadService(settings)
    await service.start()
    try:
        started = asyncio.get_running_loop().time()
        body = await service.workflows.models(workflow("ab" * 32))
        assert asyncio.get_running_loop().time() - started < 5 and body["resolving"] is True
        for _ in range(600):
            if not service.resolver._running:
                break
            await asyncio.sleep(0.1)
        listings = service.resolver.hub.load()
        assert listings == {}  # nothing recorded: asked again later, not after a day
        again = await service.workflows.models(workflow("ab" * 32))
        assert again["resolving"] is False  # paused after the failure, not hammered at every analysis
    finally:
        await service.close()
