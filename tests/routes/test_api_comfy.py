"""The API as registered inside ComfyUI: our package imported the way ComfyUI imports it, with
stand-ins only for ComfyUI's own modules (``server``, ``folder_paths``), routes mounted and
mirrored under /api exactly like ComfyUI's add_routes, events through ``send_sync``."""

from __future__ import annotations

import itertools
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiohttp import web
from apiclient import Api, file_tree, write_presets
from comfy_standin import StandInPromptServer, add_routes, folder_paths_module, install

from conftest import ROOT, load_like_comfyui

_names = itertools.count()

PRESETS = """\
    schema: 1
    presets:
      - id: comfy-test
        name: Comfy test preset
        category: image
        files:
          - folder: checkpoints
            name: first.safetensors
            url: https://example.invalid/first.safetensors
          - folder: text_encoders
            name: te.safetensors
            url: https://example.invalid/te.safetensors
"""


@pytest.fixture
async def comfy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aiohttp_client, fakehub
) -> AsyncIterator[SimpleNamespace]:
    base = tmp_path / "ComfyUI"
    extra_loras = tmp_path / "extra" / "loras"
    extra_loras.mkdir(parents=True)
    folder_paths = folder_paths_module(base, {"loras": [extra_loras], "ipadapter": [tmp_path / "extra" / "ipa"]})
    workspace = tmp_path / "workspace"
    write_presets(workspace, PRESETS)
    no_templates = tmp_path / "no-templates"
    no_templates.mkdir()
    monkeypatch.setenv("WORKSPACE_ROOT", str(workspace))
    monkeypatch.setenv("LAUNCHPAD_TEMPLATES_DIR", str(no_templates))
    monkeypatch.setenv("HF_ENDPOINT", fakehub.url)
    monkeypatch.setenv("DOWNLOAD_FREE_SPACE_MARGIN", "0")
    monkeypatch.setenv("DOWNLOAD_RETRY_BACKOFF", "0.02")
    prompt_server = StandInPromptServer()
    install(monkeypatch, prompt_server, folder_paths)
    package = load_like_comfyui(ROOT, f"lp_comfy_{next(_names)}")  # registers on PromptServer.instance
    assert package.launchpad.running.service() is None  # nothing but the route table at import
    client = await aiohttp_client(add_routes(prompt_server))  # the app starts: on_startup builds Launchpad
    service = package.launchpad.running.service()
    await service.ready()
    yield SimpleNamespace(
        server=prompt_server, service=service, client=client, api=Api(client, "/api"), base=base,
        models=base / "models", extra_loras=extra_loras, workspace=workspace, package=package, hub=fakehub,
    )
    package.launchpad.logs.reset_logging()  # give pytest's log capture back its propagation


def put(path: Path, size: int = 4) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"c" * size)
    return path


@pytest.mark.parametrize("prefix", ["", "/api"])
async def test_routes_answer_at_both_prefixes(comfy: SimpleNamespace, prefix: str) -> None:
    status, body = await Api(comfy.client, prefix).get("/launchpad/health")
    assert status == 200 and body["mode"] == "comfyui" and body["state"] == "ready"
    status, body = await Api(comfy.client, prefix).get("/launchpad/presets?search=comfy-test")
    assert [p["id"] for p in body["presets"]] == ["comfy-test"]


async def test_inside_comfyui_only_state_dirs_are_created(comfy: SimpleNamespace) -> None:
    assert (comfy.workspace / "logs").is_dir() and (comfy.workspace / "config" / "presets").is_dir()
    assert not (comfy.workspace / "models").exists()  # models go where folder_paths says


async def test_logs_go_to_the_workspace_log_file(comfy: SimpleNamespace) -> None:
    text = (comfy.workspace / "logs" / "launchpad.log").read_text()
    assert "ready (comfyui)" in text


async def test_models_come_from_folder_paths_including_extra_paths(comfy: SimpleNamespace, tmp_path: Path) -> None:
    put(comfy.models / "checkpoints" / "a.safetensors")
    put(comfy.extra_loras / "mine.safetensors")
    put(comfy.models / "clip" / "te.safetensors")
    put(tmp_path / "extra" / "ipa" / "ip.bin")
    put(comfy.models / "configs" / "v1-inference.yaml")  # ComfyUI ships these: not listed, not deletable
    _, body = await comfy.api.get("/launchpad/models")
    found = {(m["folder"], m["name"]) for m in body["models"]}
    assert found == {
        ("checkpoints", "a.safetensors"),
        ("loras", "mine.safetensors"),
        ("text_encoders", "te.safetensors"),
        ("ipadapter", "ip.bin"),
    }
    assert "custom_nodes" not in body["folders"]
    # a folder registered after startup (another custom node, a yaml reload) counts at once
    sys.modules["folder_paths"].folder_names_and_paths["sams"] = ([str(tmp_path / "sams")], set())
    put(tmp_path / "sams" / "sam.pth")
    _, body = await comfy.api.get("/launchpad/models?folder=sams")
    assert [m["name"] for m in body["models"]] == ["sam.pth"]


async def test_download_target_is_the_first_path_of_the_folder(comfy: SimpleNamespace) -> None:
    put(comfy.models / "clip" / "te.safetensors")  # present in the second directory counts as installed
    _, body = await comfy.api.get("/launchpad/presets/comfy-test")
    files = {f["key"]: f for f in body["files"]}
    assert files["checkpoints/first.safetensors"]["path"] == str(comfy.models / "checkpoints" / "first.safetensors")
    assert files["checkpoints/first.safetensors"]["state"] == "missing"
    assert files["text_encoders/te.safetensors"]["state"] == "installed"


async def test_queue_comes_from_comfyui(comfy: SimpleNamespace) -> None:
    queue = comfy.server.prompt_queue
    # as ComfyUI 0.33 queues them: create_time (ms) and the frontend's workflow in extra_data
    workflow = {"extra_pnginfo": {"workflow": {"id": "wf-1", "nodes": []}}, "create_time": 1_700_000_000_000}
    queue.currently_running[0] = (3, "p-run", {"1": {}, "2": {}}, {"client_id": "tab", **workflow}, ["2"])
    queue.queue = [(5, "p-later", {"1": {}}, {}, ["1"]), (4, "p-next", {}, {"client_id": "x"}, [])]
    before = time.time()
    status, body = await comfy.api.get("/launchpad/queue")
    assert status == 200 and body["available"] is True and body["remaining"] == 3
    running = body["running"]
    assert running == [{"number": 3, "prompt_id": "p-run", "node_count": 2, "client_id": "tab",
                        "workflow_id": "wf-1", "queued_at": 1_700_000_000.0, "seen_at": running[0]["seen_at"]}]
    assert [item["prompt_id"] for item in body["pending"]] == ["p-next", "p-later"]
    later = body["pending"][1]
    assert later["queued_at"] is None and later["workflow_id"] is None  # an API prompt on an older ComfyUI
    assert before <= later["seen_at"] <= body["now"] <= time.time()  # the server's clock, for the browser
    _, again = await comfy.api.get("/launchpad/queue")
    assert again["pending"][1]["seen_at"] == later["seen_at"]  # first seen, not last
    assert body["cancel"] == "queue"  # the stand-in, like ComfyUI before 0.33, has no jobs API
    response = await comfy.client.get("/api/launchpad/metrics")
    assert "launchpad_comfyui_queue_depth 3\n" in await response.text()


async def test_events_go_through_send_sync_to_comfyui_websocket(comfy: SimpleNamespace) -> None:
    put(comfy.models / "loras" / "old.safetensors")
    async with comfy.client.ws_connect("/ws?clientId=tab-1") as ws:
        first = await ws.receive_json()
        assert first["type"] == "status" and first["data"]["sid"] == "tab-1"
        _, body = await comfy.api.get("/launchpad/models?folder=loras")
        status, _ = await comfy.api.delete(f"/launchpad/models/{body['models'][0]['id']}")
        assert status == 200
        message = await ws.receive_json(timeout=5)
    assert message["type"] == "launchpad.model" and message["data"]["key"] == "loras/old.safetensors"
    assert ("launchpad.model", message["data"], None) in comfy.server.sent


async def test_non_json_payload_never_reaches_comfyui(comfy: SimpleNamespace) -> None:
    comfy.server.sent.clear()
    comfy.service.bus.emit("launchpad.test", {"path": Path("/x"), "bad": object()})
    comfy.service.bus.emit("launchpad.test", {"path": Path("/x"), "nan": float("nan")})
    assert comfy.server.sent == [("launchpad.test", {"path": "/x", "nan": None}, None)]


async def test_refused_requests_touch_nothing(comfy: SimpleNamespace, tmp_path: Path) -> None:
    put(comfy.models / "checkpoints" / "keep.safetensors")
    outside = put(tmp_path / "outside" / "precious.safetensors")
    (comfy.extra_loras / "link.safetensors").symlink_to(outside)
    before = file_tree(tmp_path)
    _, body = await comfy.api.get("/launchpad/models?search=link")
    status, answer = await comfy.api.delete(f"/launchpad/models/{body['models'][0]['id']}")
    assert status == 403 and answer["error"]["code"] == "forbidden"
    status, _ = await comfy.api.delete("/launchpad/models/..%2F..%2Foutside%2Fprecious.safetensors")
    assert status == 400
    status, _ = await comfy.api.delete("/launchpad/models/" + "0" * 24)
    assert status == 404
    status, _ = await comfy.api.post("/launchpad/presets/install", json={"presets": ["comfy-test"], "path": "/etc"})
    assert status == 400
    status, _ = await comfy.api.call("POST", "/launchpad/presets/install", data='{"presets": ["comfy-test"]}',
                                     headers={"Content-Type": "text/plain"})
    assert status == 415
    assert file_tree(tmp_path) == before
    assert (await comfy.service.downloads_snapshot())["jobs"] == []


def test_workspace_inside_comfyui(tmp_path: Path) -> None:
    from lp.launchpad.config import Settings
    from lp.server_routes.comfy import workspace_root

    folder_paths = folder_paths_module(tmp_path / "ComfyUI")
    configured = Settings.from_env({"WORKSPACE_ROOT": str(tmp_path / "ws")})
    assert workspace_root(configured, folder_paths) == tmp_path / "ws"
    unset = Settings.from_env({})
    expected = Path("/workspace") if Path("/workspace").is_dir() else tmp_path / "ComfyUI" / "user" / "launchpad"
    assert workspace_root(unset, folder_paths) == expected


async def test_install_events_reach_comfyui_websocket_and_file_lands_in_first_folder_path(
    comfy: SimpleNamespace,
) -> None:
    data = os.urandom(200_000)
    sha = comfy.hub.add_hf_file("acme/comfy", "unet/model.safetensors", data)
    comfy.hub.behave("acme/comfy/unet/model.safetensors", rate=500_000)
    write_presets(comfy.workspace, f"""\
        schema: 1
        presets:
          - id: hub-comfy
            name: Hub preset in ComfyUI
            category: video
            files:
              - {{folder: diffusion_models, name: model.safetensors, hf: acme/comfy, path: unet/model.safetensors,
                  sha256: {sha}}}
        """, name="hub.yaml")
    async with comfy.client.ws_connect("/ws?clientId=tab-2") as ws:
        assert (await ws.receive_json(timeout=10))["type"] == "status"
        status, _ = await comfy.api.post("/launchpad/presets/install", json={"presets": ["hub-comfy"]})
        assert status == 202
        seen = []
        while not (seen and seen[-1]["type"] == "launchpad.preset" and seen[-1]["data"]["state"] == "done"):
            seen.append(await ws.receive_json(timeout=60))
    states = [m["data"]["state"] for m in seen if m["type"] == "launchpad.download"]
    assert states[-1] == "done" and "downloading" in states
    target = comfy.models / "unet" / "model.safetensors"  # ComfyUI's first diffusion_models path
    assert target.read_bytes() == data
    assert sys.modules["folder_paths"].get_filename_list("diffusion_models") == ["model.safetensors"]


async def test_before_the_app_starts_health_says_starting_and_other_routes_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aiohttp_client
) -> None:
    monkeypatch.setenv("WORKSPACE_ROOT", str(tmp_path / "ws"))
    prompt_server = StandInPromptServer()
    install(monkeypatch, prompt_server, folder_paths_module(tmp_path / "ComfyUI"))
    load_like_comfyui(ROOT, f"lp_comfy_{next(_names)}")
    # serve the registered routes from another app: ComfyUI's on_startup (ours included) never runs
    api_only = web.Application()
    api_only.add_routes(prompt_server.routes)
    api = Api(await aiohttp_client(api_only))
    status, body = await api.get("/launchpad/health")
    assert status == 200 and body["state"] == "starting" and body["mode"] == "comfyui"
    status, body = await api.get("/launchpad/presets")
    assert status == 503 and body["error"]["code"] == "starting"
    assert not (tmp_path / "ws").exists()
