"""Workflow-aware installs and the Launchpad nodes inside a real ComfyUI (COMFYUI_DIR).

A template workflow, fetched from ComfyUI the way its frontend opens one, is analysed (its
models missing), installed from a local fake Hub (progress on ComfyUI's /ws) and then present
in ComfyUI's own model lists. A prompt with the Launchpad Model node on a missing file
downloads it with ComfyUI's progress bar and hands the name on: ComfyUI's /history shows it,
and a real loader fed by the node opens that very file. A file the Hub lacks fails the prompt
with Launchpad's message.
"""

from __future__ import annotations

import asyncio
import json
import struct
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from workflow_helpers import WAN_TEMPLATE, serve_models, vouch_for

from fakehub import FakeHub

from .real_comfyui import ComfyUI, LaunchOptions

pytestmark = pytest.mark.integration

NODE_FILE = "checkpoints/it-node/model.safetensors"
GONE_FILE = "loras/it-node-gone.safetensors"


def tiny_safetensors(values: int) -> bytes:
    """A valid safetensors file holding one float32 tensor: any loader can open it."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [values], "data_offsets": [0, 4 * values]}}).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + bytes(4 * values)


WEIGHTS = tiny_safetensors(300_000)  # 1.2 MB


@pytest.fixture(scope="module")
def hub() -> Iterator[FakeHub]:
    server = FakeHub().start()
    server.add_hf_file("acme/it-node", "model.safetensors", WEIGHTS)
    server.behave("acme/it-node/model.safetensors", rate=600_000)  # two seconds: progress on the way
    yield server
    server.stop()


@pytest.fixture(scope="module")
def comfyui_options(hub: FakeHub) -> LaunchOptions:
    def seed(workspace: Path) -> None:
        presets = workspace / "config" / "presets"
        presets.mkdir(parents=True)
        (presets / "nodes.yaml").write_text(json.dumps({"schema": 1, "presets": [
            {"id": "it-node", "name": "Node integration", "category": "image", "files": [
                {"folder": "checkpoints", "name": "it-node/model.safetensors", "hf": "acme/it-node",
                 "path": "model.safetensors", "size": len(WEIGHTS)},
                {"folder": "loras", "name": "it-node-gone.safetensors", "hf": "acme/it-node", "path": "gone.bin"},
            ]},
        ]}), encoding="utf-8")

    return LaunchOptions(
        env={"HF_ENDPOINT": hub.url, "DOWNLOAD_FREE_SPACE_MARGIN": "0", "DOWNLOAD_RETRY_BACKOFF": "0.1",
             "DOWNLOAD_RETRIES": "1"},
        prepare=seed,
    )


@pytest.fixture(scope="module")
def ready(comfyui: ComfyUI) -> ComfyUI:
    """ComfyUI with Launchpad started (it starts in the background once ComfyUI listens)."""
    for _ in range(300):
        if comfyui.get("/api/launchpad/health").json()["state"] != "starting":  # type: ignore[index]
            break
        time.sleep(0.2)
    assert comfyui.get("/api/launchpad/health").json()["state"] == "ready"  # type: ignore[index]
    return comfyui


async def run_prompt(comfyui: ComfyUI, prompt: dict) -> tuple[str, list[dict]]:
    """Queue ``prompt`` as the frontend does; (prompt id, every JSON message until it ended)."""
    client = uuid.uuid4().hex
    messages: list[dict] = []
    async with aiohttp.ClientSession() as session, session.ws_connect(f"{comfyui.ws_url}?clientId={client}") as ws:
        await ws.receive_json(timeout=30)  # status, with our sid
        async with session.post(f"{comfyui.base_url}/prompt", json={"prompt": prompt, "client_id": client}) as reply:
            body = await reply.json()
            assert reply.status == 200, body
        prompt_id = body["prompt_id"]
        while True:
            message = await asyncio.wait_for(ws.receive(), 120)
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = message.json()
            messages.append(data)
            if data["type"] in ("execution_success", "execution_error") and data["data"]["prompt_id"] == prompt_id:
                return prompt_id, messages


def test_nodes_are_registered_with_the_v3_api_under_launchpad(ready: ComfyUI) -> None:
    info = ready.get("/object_info/LaunchpadModel").json()["LaunchpadModel"]  # type: ignore[index]
    assert info["display_name"] == "Launchpad Model" and info["category"] == "Launchpad"
    assert info["python_module"] == "custom_nodes.ComfyUI-Launchpad"
    assert "deprecated" in info  # ComfyUI 0.3.64 reports this for V3 nodes only
    assert info["output"] == ["*", "STRING"] and info["output_name"] == ["name", "path"]
    model = info["input"]["required"]["model"]
    options = model[1]["options"] if model[0] == "COMBO" else model[0]
    assert NODE_FILE in options  # the catalog's files, read when ComfyUI asks
    assert options[0] == model[1]["default"] == "(choose a model)"  # a new node names no file yet
    preset = ready.get("/object_info/LaunchpadEnsurePreset").json()["LaunchpadEnsurePreset"]  # type: ignore[index]
    assert preset["category"] == "Launchpad" and preset["output_node"] is True
    choice = preset["input"]["required"]["preset"]
    names = choice[1]["options"] if choice[0] == "COMBO" else choice[0]
    assert names[0] == "(choose a preset)" and "Node integration (it-node)" in names, names


async def test_a_template_workflow_lists_its_missing_models_and_installs_them(ready: ComfyUI, hub: FakeHub) -> None:
    reply = ready.get(f"/templates/{WAN_TEMPLATE}.json")  # where ComfyUI's frontend loads templates from
    assert reply.status == 200, reply.text
    workflow = reply.json()
    served = serve_models(hub, workflow)  # type: ignore[arg-type]
    vouch_for(ready.workspace, workflow, served)  # type: ignore[arg-type]

    reply = ready.request("POST", "/api/launchpad/workflow/models", json_body={"workflow": workflow})
    assert reply.status == 200, reply.text
    body = reply.json()
    assert {m["key"]: m["state"] for m in body["models"]} == dict.fromkeys(served, "missing")  # type: ignore[index]
    assert all(m["installable"] and m["size"] == len(served[m["key"]]) for m in body["models"])  # type: ignore[index]

    events: list[dict] = []
    async with aiohttp.ClientSession() as session, session.ws_connect(f"{ready.ws_url}?clientId=wf-it") as ws:
        await ws.receive_json(timeout=30)
        async with session.post(f"{ready.base_url}/api/launchpad/workflow/install",
                                json={"workflow": workflow, "name": f"{WAN_TEMPLATE}.json"}) as response:
            assert response.status == 202, await response.text()
            assert (await response.json())["label"] == f"workflow:{WAN_TEMPLATE}"
        while True:
            message = await asyncio.wait_for(ws.receive(), 120)
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = message.json()
            events.append(data)
            if data["type"] == "launchpad.preset" and data["data"]["preset_id"] == f"workflow:{WAN_TEMPLATE}" \
                    and data["data"]["state"] in ("done", "failed"):
                break
    assert events[-1]["data"]["state"] == "done", events[-3:]
    assert {e["data"]["key"] for e in events if e["type"] == "launchpad.download"} == set(served)
    for key, data in served.items():
        folder, name = key.split("/", 1)
        assert (ready.workspace / "models" / key).read_bytes() == data
        assert name in ready.get(f"/models/{folder}").json()  # type: ignore[operator]
    after = ready.request("POST", "/api/launchpad/workflow/models", json_body={"workflow": workflow}).json()
    assert after["summary"]["present"] == 3 and after["summary"]["missing"] == 0  # type: ignore[index]


async def test_the_model_node_downloads_a_missing_file_and_outputs_its_name(ready: ComfyUI) -> None:
    target = ready.workspace / "models" / NODE_FILE
    assert not target.exists()
    prompt = {
        "1": {"class_type": "LaunchpadModel", "inputs": {"model": NODE_FILE}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
    }

    prompt_id, messages = await run_prompt(ready, prompt)

    assert messages[-1]["type"] == "execution_success", messages[-1]
    assert target.read_bytes() == WEIGHTS
    progress = [m["data"] for m in messages if m["type"] == "progress" and m["data"].get("node") == "1"]
    assert progress and progress[-1]["value"] == progress[-1]["max"] == len(WEIGHTS)  # ComfyUI's own bar
    assert any(0 < p["value"] < len(WEIGHTS) for p in progress)
    history = ready.get(f"/history/{prompt_id}").json()[prompt_id]  # type: ignore[index]
    assert history["status"]["status_str"] == "success"
    assert history["outputs"]["2"]["text"] == ["it-node/model.safetensors"]  # what loaders list
    assert "it-node/model.safetensors" in ready.get("/models/checkpoints").json()  # type: ignore[operator]

    # the name goes into a real loader's model input, which opens that very file
    loader = {
        "1": {"class_type": "LaunchpadModel", "inputs": {"model": NODE_FILE, "preset": "it-node"}},
        "2": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ["1", 0]}},
        "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}},
    }
    _, messages = await run_prompt(ready, loader)
    error = messages[-1]["data"]
    assert messages[-1]["type"] == "execution_error" and error["node_type"] == "CheckpointLoaderSimple", error
    assert "Could not detect model type" in error["exception_message"]  # it read our tensor, not "not found"
    assert str(target) in error["exception_message"]


async def test_a_file_the_hub_lacks_fails_the_prompt_with_launchpads_message(ready: ComfyUI) -> None:
    prompt = {
        "1": {"class_type": "LaunchpadModel", "inputs": {"model": GONE_FILE}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
    }
    _, messages = await run_prompt(ready, prompt)
    error = messages[-1]["data"]
    assert messages[-1]["type"] == "execution_error" and error["node_type"] == "LaunchpadModel", error
    assert f"could not install {GONE_FILE}" in error["exception_message"]
    assert "acme/it-node" in error["exception_message"]  # which repository, so the user can check it

    reply = ready.request("POST", "/prompt", json_body={"prompt": {
        "1": {"class_type": "LaunchpadModel", "inputs": {"model": "checkpoints/not-in-any-preset.safetensors"}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
    }})
    assert reply.status == 400  # refused before it runs, saying why
    assert "no preset in the catalog lists checkpoints/not-in-any-preset.safetensors" in reply.text
