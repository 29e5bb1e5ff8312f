"""The workflow routes on the standalone app, with real template workflows and a fake Hub.

`POST /launchpad/workflow/models` says what a workflow needs and `POST /launchpad/workflow/install`
queues what is missing through the download manager: the files land in the workspace, and
nothing the client names outside an allowed host is ever fetched.
"""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from types import SimpleNamespace

import pytest
from apiclient import Api, file_tree, write_presets
from workflow_helpers import CIVITAI_WORKFLOW, WAN_TEMPLATE, declared, load_template, serve_models, templates_dir

from fakehub import FakeHub, random_bytes
from lp.launchpad.config import Settings
from lp.launchpad.service import LaunchpadService
from lp.server_routes.standalone import create_app

USER_PRESETS = """\
    schema: 1
    presets:
      - id: wf-user
        name: A user preset the hand-written workflow uses
        category: image
        files:
          - folder: checkpoints
            name: handmade/base.safetensors
            hf: acme/handmade
            path: base.safetensors
          - folder: loras
            name: handmade-style.safetensors
            hf: acme/handmade
            path: style.safetensors
            size: 50000
"""

# Loaders as people save them: no model metadata, only the chosen names in widgets_values.
HANDMADE = {
    "last_node_id": 9,
    "nodes": [
        {"id": 1, "type": "CheckpointLoaderSimple", "mode": 0, "widgets_values": ["handmade/base.safetensors"]},
        {"id": 2, "type": "LoraLoader", "mode": 0, "widgets_values": ["handmade-style.safetensors", 1.0, 1.0]},
        {"id": 3, "type": "VAELoader", "mode": 0, "widgets_values": ["nobody-knows.safetensors"]},
        {"id": 4, "type": "UpscaleModelLoader", "mode": 4, "widgets_values": ["handmade-upscale.safetensors"]},
        {"id": 5, "type": "KSampler", "mode": 0, "widgets_values": [1, "fixed", 20, 8, "euler", "normal", 1]},
    ],
    "links": [],
}


@pytest.fixture(scope="module")
def template_dir() -> Path:
    found = templates_dir()
    if found is None:
        pytest.skip("no comfyui-workflow-templates package installed (the test extra installs it)")
    return found


@pytest.fixture
async def app(workspace_dir: Path, fakehub: FakeHub, template_dir: Path, aiohttp_client) -> SimpleNamespace:
    write_presets(workspace_dir, USER_PRESETS)
    fakehub.add_hf_file("acme/handmade", "base.safetensors", random_bytes(120_000))
    fakehub.add_hf_file("acme/handmade", "style.safetensors", random_bytes(50_000))
    settings = Settings.from_env(
        {}, workspace=workspace_dir, templates_dir=template_dir, hf_endpoint=fakehub.url,
        civitai_endpoint=fakehub.url, free_space_margin=0, retry_backoff=0.02,
    )
    service = LaunchpadService(settings)
    client = await aiohttp_client(create_app(service))
    await service.ready()
    return SimpleNamespace(service=service, api=Api(client), client=client, ws=workspace_dir,
                           models=workspace_dir / "models", hub=fakehub)


async def wait_done(app: SimpleNamespace, label: str) -> dict:
    for _ in range(600):
        _, snapshot = await app.api.get("/launchpad/downloads")
        group = snapshot["presets"].get(label)
        if group and group["state"] not in ("queued", "downloading"):
            return group
        await asyncio.sleep(0.05)
    raise AssertionError(f"{label} did not finish: {snapshot}")


async def test_template_workflow_missing_models_install_from_the_hub(app: SimpleNamespace) -> None:
    workflow = load_template(WAN_TEMPLATE)
    served = serve_models(app.hub, workflow)
    assert len(served) == 3
    # the catalog knows the text encoder's sha256 (a curated preset lists it); the fake Hub serves
    # other bytes for it, so it cannot be installed: the workflow's link gets the catalog's check too
    catalog = await app.service.catalog()
    pinned = {key for key in served if catalog.files()[key].sha256}
    assert pinned == {"text_encoders/umt5_xxl_fp8_e4m3fn_scaled.safetensors"}
    status, body = await app.api.post("/launchpad/workflow/models", {"workflow": workflow})

    assert status == 200
    models = {m["key"]: m for m in body["models"]}
    assert set(models) == set(declared(workflow))
    for key, model in models.items():
        assert model["state"] == "missing" and model["installable"] and model["origin"] == "workflow"
        assert model["source"]["kind"] == "hf"
        if key in pinned:  # the Hub contradicts the catalog: no size from it, the catalog's estimate
            assert model["size"] and model["size_estimated"]
        else:
            assert model["size"] == len(served[key]) and not model["size_estimated"]  # asked the Hub
        assert "WAN_22_5B_TIV2" in model["presets"]  # the curated preset its template folded into lists it
        assert model["nodes"] and all(n["type"] for n in model["nodes"])
    assert body["summary"] == {**body["summary"], "needed": 3, "missing": 3, "present": 0, "unknown": 0,
                               "installable": 3, "sizes_unknown": 0, "sizes_estimated": 1}
    assert body["allowed_hosts"] == ["huggingface.co", "civitai.com"]

    status, result = await app.api.post("/launchpad/workflow/install", {"workflow": workflow, "name": "Wan 5B.json"})

    assert status == 202
    assert result["label"] == "workflow:Wan_5B" and result["refused"] == [] and result["skipped"] == []
    assert {j["key"] for j in result["jobs"]} == set(served)
    assert all(j["preset_ids"] == ["workflow:Wan_5B"] for j in result["jobs"])
    assert (await wait_done(app, "workflow:Wan_5B"))["state"] == "failed"
    _, snapshot = await app.api.get("/launchpad/downloads")
    jobs = {j["key"]: j for j in snapshot["jobs"]}
    for key, data in served.items():
        if key in pinned:
            assert jobs[key]["error"]["code"] == "checksum_mismatch"
            source = catalog.files()[key].source
            assert app.hub.requests_for(f"{source.repo}/{source.path}", None)  # it was asked ...
            assert app.hub.bytes_sent(f"{source.repo}/{source.path}") == 0  # ... and sent nothing
            assert not (app.models / key).exists()
        else:
            assert jobs[key]["state"] == "done" and (app.models / key).read_bytes() == data

    _, after = await app.api.post("/launchpad/workflow/models", {"workflow": workflow})
    assert {m["key"] for m in after["models"] if m["state"] == "present"} == set(served) - pinned
    assert after["summary"]["bytes_present"] == sum(len(served[k]) for k in set(served) - pinned)
    _, again = await app.api.post("/launchpad/workflow/install", {"workflow": workflow, "name": "Wan 5B.json"})
    assert sorted(again["skipped"]) == sorted(set(served) - pinned)
    assert [j["key"] for j in again["jobs"]] == sorted(pinned)


async def test_civitai_links_install_under_the_workflows_names(app: SimpleNamespace) -> None:
    workflow = CIVITAI_WORKFLOW
    served = serve_models(app.hub, workflow)
    _, body = await app.api.post("/launchpad/workflow/models", {"workflow": workflow})
    assert {m["source"]["kind"] for m in body["models"]} == {"civitai"}
    assert all(m["installable"] for m in body["models"])

    status, result = await app.api.post("/launchpad/workflow/install", {"workflow": workflow})

    assert status == 202 and result["label"] == "workflow:untitled"
    assert (await wait_done(app, "workflow:untitled"))["state"] == "done"
    for key, data in served.items():
        assert (app.models / key).read_bytes() == data


async def test_handmade_workflow_resolves_loaders_through_the_catalog(app: SimpleNamespace) -> None:
    status, body = await app.api.post("/launchpad/workflow/models", {"workflow": HANDMADE})
    assert status == 200
    models = {m["key"]: m for m in body["models"]}
    base = models["checkpoints/handmade/base.safetensors"]
    assert base["state"] == "missing" and base["origin"] == "catalog" and base["presets"] == ["wf-user"]
    assert base["size"] == 120_000 and base["nodes"] == [{"id": 1, "type": "CheckpointLoaderSimple", "muted": False}]
    assert models["loras/handmade-style.safetensors"]["size"] == 50_000  # from the preset, no request needed
    unknown = models["vae/nobody-knows.safetensors"]
    assert unknown["state"] == "unknown" and not unknown["installable"] and unknown["source"] is None
    assert unknown["nodes"] == [{"id": 3, "type": "VAELoader", "muted": False}]
    assert "no download link" in unknown["reason"]
    upscale = models["upscale_models/handmade-upscale.safetensors"]
    assert upscale["optional"] and upscale["state"] == "unknown"
    assert body["summary"] == {"needed": 4, "present": 0, "missing": 2, "unknown": 2, "optional": 1, "installable": 2,
                               "to_confirm": 0, "bytes_present": 0, "bytes_missing": 170_000, "sizes_unknown": 0,
                               "sizes_estimated": 0, "min_comfyui": None, "comfyui_ok": None, "comfyui_need": None,
                               "headline": "This workflow: 4 models · 0 present · 2 missing · 2 unknown",
                               "install_label": "Install 2 missing (170.0 KB)",
                               "command": "launchpad workflow workflow.json --install"}

    _, result = await app.api.post("/launchpad/workflow/install", {"workflow": HANDMADE, "name": "handmade"})
    # the bypassed node's model is left out; the unknown one is refused with the reason
    assert {j["key"] for j in result["jobs"]} == {"checkpoints/handmade/base.safetensors",
                                                  "loras/handmade-style.safetensors"}
    assert result["refused"] == [{"key": "vae/nobody-knows.safetensors", "state": "unknown",
                                  "reason": unknown["reason"]}]
    await wait_done(app, "workflow:handmade")
    assert (app.models / "checkpoints" / "handmade" / "base.safetensors").stat().st_size == 120_000

    prompt = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "handmade/base.safetensors"}},
              "2": {"class_type": "VAELoader", "inputs": {"vae_name": "nobody-knows.safetensors"}}}
    _, api_format = await app.api.post("/launchpad/workflow/models", {"workflow": prompt})
    assert {m["key"]: m["state"] for m in api_format["models"]} == {
        "checkpoints/handmade/base.safetensors": "present", "vae/nobody-knows.safetensors": "unknown"}
    assert api_format["models"][0]["nodes"][0]["id"] in ("1", "2")


async def test_only_links_on_allowed_hosts_are_fetched(app: SimpleNamespace) -> None:
    """A workflow's links are the client's words: only allowed hosts, and never a path outside the folders."""
    elsewhere = app.hub.add_file("evil.safetensors", b"x" * 1000)
    workflow = {"nodes": [
        {"id": 1, "type": "VAELoader", "widgets_values": ["evil.safetensors"],
         "properties": {"models": [{"name": "evil.safetensors", "url": elsewhere, "directory": "vae"}]}},
        {"id": 2, "type": "VAELoader", "widgets_values": ["../../escape.safetensors"],
         "properties": {"models": [{"name": "../../escape.safetensors", "directory": "vae",
                                    "url": "https://huggingface.co/acme/handmade/resolve/main/base.safetensors"}]}},
    ]}
    before = file_tree(app.ws)

    _, body = await app.api.post("/launchpad/workflow/models", {"workflow": workflow})
    assert [(m["key"], m["installable"]) for m in body["models"]] == [("vae/evil.safetensors", False)]
    assert "127.0.0.1 is not an allowed download host" in body["models"][0]["reason"]
    status, result = await app.api.post("/launchpad/workflow/install", {"workflow": workflow})
    assert status == 202 and result["jobs"] == []
    assert result["refused"][0]["key"] == "vae/evil.safetensors"
    status, error = await app.api.post("/launchpad/workflow/install",
                                       {"workflow": workflow, "url": elsewhere, "folder": "vae"})
    assert status == 400 and error["error"]["code"] == "invalid_input"
    status, error = await app.api.post("/launchpad/workflow/install",
                                       {"workflow": HANDMADE, "keys": ["vae/not-in-it.safetensors"]})
    assert status == 404 and "does not need" in error["error"]["message"]
    await asyncio.sleep(0.1)
    assert app.hub.requests_for("evil.safetensors", method=None) == []
    assert file_tree(app.ws) == before


async def test_keys_and_optional_choose_what_is_installed(app: SimpleNamespace) -> None:
    workflow = copy.deepcopy(HANDMADE)
    status, result = await app.api.post("/launchpad/workflow/install",
                                        {"workflow": workflow, "keys": ["loras/handmade-style.safetensors"]})
    assert status == 202 and [j["key"] for j in result["jobs"]] == ["loras/handmade-style.safetensors"]
    await wait_done(app, "workflow:untitled")


@pytest.mark.parametrize("body", [{}, {"workflow": []}, {"workflow": {"nodes": "x"}}, {"workflow": {"a": 1}}])
async def test_not_a_workflow_is_400(app: SimpleNamespace, body: dict) -> None:
    status, error = await app.api.post("/launchpad/workflow/models", body)
    assert status == 400 and error["error"]["code"] == "invalid_input"


async def test_big_workflows_fit_and_bigger_bodies_are_413(app: SimpleNamespace, template_dir: Path) -> None:
    biggest = max((p for p in template_dir.glob("*.json") if not p.stem.startswith("index")),
                  key=lambda p: p.stat().st_size)
    assert biggest.stat().st_size > 64 * 1024  # more than the other routes take
    response = await app.client.post("/launchpad/workflow/models", data=biggest.read_bytes(),
                                     headers={"Content-Type": "application/json"})
    assert response.status == 400  # read whole; it is the file itself, not {"workflow": ...}
    assert "workflow" in (await response.json())["error"]["message"]
    wrapped = b'{"workflow": ' + biggest.read_bytes() + b"}"
    response = await app.client.post("/launchpad/workflow/models", data=wrapped,
                                     headers={"Content-Type": "application/json"})
    assert response.status == 200, await response.text()
    response = await app.client.post("/launchpad/workflow/models", data=b" " * (17 * 2**20),
                                     headers={"Content-Type": "application/json"})
    assert response.status == 413
    response = await app.client.post("/launchpad/workflow/models", data="workflow=x",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status == 415
