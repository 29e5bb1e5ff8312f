"""The HTTP API and its events inside a real ComfyUI (COMFYUI_DIR): presets answer under /api,
a preset installed from a local fake Hub reports progress on ComfyUI's own /ws, the file lands
in the workspace, and ComfyUI's own model list shows it."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from fakehub import FakeHub

from .real_comfyui import ComfyUI, LaunchOptions

pytestmark = pytest.mark.integration

WEIGHTS = os.urandom(3_000_000)
LORA = os.urandom(200_000)


@pytest.fixture(scope="module")
def hub() -> Iterator[FakeHub]:
    server = FakeHub().start()
    server.add_hf_file("acme/integration", "ckpt/model.safetensors", WEIGHTS)
    server.behave("acme/integration/ckpt/model.safetensors", rate=2_000_000)  # ~1.5 s: progress on the way
    yield server
    server.stop()


@pytest.fixture(scope="module")
def comfyui_options(hub: FakeHub) -> LaunchOptions:
    lora_url = hub.add_file("lora.safetensors", LORA)
    sha = hashlib.sha256(WEIGHTS).hexdigest()

    def seed(workspace: Path) -> None:
        presets = workspace / "config" / "presets"
        presets.mkdir(parents=True)
        (presets / "integration.yaml").write_text(
            "schema: 1\npresets:\n"
            "  - id: integration-preset\n    name: Integration\n    category: image\n    files:\n"
            "      - folder: checkpoints\n        name: integration-model.safetensors\n"
            f"        hf: acme/integration\n        path: ckpt/model.safetensors\n        size: {len(WEIGHTS)}\n"
            f"        sha256: {sha}\n"
            f"      - folder: loras\n        name: integration-lora.safetensors\n        url: {lora_url}\n",
            encoding="utf-8",
        )

    return LaunchOptions(
        env={"HF_ENDPOINT": hub.url, "DOWNLOAD_FREE_SPACE_MARGIN": "0", "DOWNLOAD_RETRY_BACKOFF": "0.1"},
        prepare=seed,
    )


def wait_ready(comfyui: ComfyUI, timeout: float = 60) -> dict:
    """Launchpad starts in the background after ComfyUI listens: wait for its health to say so."""
    deadline = time.monotonic() + timeout
    while True:
        health = comfyui.get("/api/launchpad/health").json()
        if health["state"] != "starting" or time.monotonic() > deadline:  # type: ignore[index]
            return health  # type: ignore[return-value]
        time.sleep(0.2)


def test_presets_answer_under_api(comfyui: ComfyUI) -> None:
    health = wait_ready(comfyui)
    assert health["state"] == "ready" and health["mode"] == "comfyui", health
    assert health["workspace"] == str(comfyui.workspace)
    reply = comfyui.get("/api/launchpad/presets")
    assert reply.status == 200, reply.text
    presets = {p["id"]: p for p in reply.json()["presets"]}  # type: ignore[index]
    assert presets["integration-preset"]["state"] == "missing"
    assert len(presets) > 10  # curated and template-derived ones too
    assert comfyui.get("/launchpad/openapi.json").json()["openapi"].startswith("3.1")  # type: ignore[index]


def test_queue_comes_from_comfyui(comfyui: ComfyUI) -> None:
    wait_ready(comfyui)
    reply = comfyui.get("/api/launchpad/queue")
    assert reply.status == 200 and reply.json()["available"] is True  # type: ignore[index]


def test_refused_requests_get_json_errors(comfyui: ComfyUI) -> None:
    wait_ready(comfyui)
    reply = comfyui.request("POST", "/api/launchpad/presets/install",
                            json_body={"presets": ["integration-preset"], "url": "http://evil.example/x"})
    assert reply.status == 400 and reply.json()["error"]["code"] == "invalid_input"  # type: ignore[index]
    reply = comfyui.request("DELETE", "/api/launchpad/models/" + "0" * 24)
    assert reply.status == 404 and reply.json()["error"]["code"] == "not_found"  # type: ignore[index]


async def test_install_reports_progress_on_comfyuis_websocket(comfyui: ComfyUI) -> None:
    wait_ready(comfyui)
    name = "integration-model.safetensors"
    assert name not in comfyui.get("/models/checkpoints").json()  # type: ignore[operator]
    messages: list[dict] = []
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{comfyui.ws_url}?clientId=launchpad-it") as ws,
    ):
        first = await ws.receive_json(timeout=30)
        assert first["type"] == "status"
        async with session.post(
            f"{comfyui.base_url}/api/launchpad/presets/install", json={"presets": ["integration-preset"]}
        ) as response:
            assert response.status == 202, await response.text()
        while True:
            message = await asyncio.wait_for(ws.receive(), 120)
            if message.type != aiohttp.WSMsgType.TEXT:  # binary previews and the like are not ours
                continue
            data = message.json()
            messages.append(data)
            if data["type"] == "launchpad.preset" and data["data"]["state"] in ("done", "failed"):
                break

    downloads = [m["data"] for m in messages if m["type"] == "launchpad.download"]
    model = [d for d in downloads if d["name"] == name]
    assert model and model[-1]["state"] == "done", model[-1:] or messages[-3:]
    assert any(d["state"] == "downloading" and 0 < d["bytes_done"] < len(WEIGHTS) for d in model)
    assert messages[-1]["data"]["state"] == "done"

    target = comfyui.workspace / "models" / "checkpoints" / name
    assert target.read_bytes() == WEIGHTS
    assert (comfyui.workspace / "models" / "loras" / "integration-lora.safetensors").read_bytes() == LORA
    assert name in comfyui.get("/models/checkpoints").json()  # type: ignore[operator]
    listed = comfyui.get(f"/api/launchpad/models?search={name}").json()
    assert listed["models"][0]["presets"] == ["integration-preset"]  # type: ignore[index]
    detail = comfyui.get("/api/launchpad/presets/integration-preset").json()
    assert detail["state"] == "installed"  # type: ignore[index]


def test_system_reading_names_comfyui_versions(comfyui: ComfyUI) -> None:
    wait_ready(comfyui)
    reply = comfyui.get("/api/launchpad/system")
    assert reply.status == 200, reply.text
    versions = reply.json()["versions"]  # type: ignore[index]
    assert versions["comfyui"] and versions["torch"]
    # no --front-end-root here: ComfyUI serves the frontend package installed in its environment
    probe = "from importlib.metadata import version; print(version('comfyui-frontend-package'))"
    installed = subprocess.run([comfyui.argv[0], "-c", probe], capture_output=True, text=True, timeout=60,
                               check=True).stdout.strip()
    assert versions["comfyui_frontend"] == installed
    metrics = comfyui.get("/api/launchpad/metrics").text
    assert "launchpad_comfyui_queue_depth 0" in metrics


def test_presets_say_whether_this_comfyui_runs_their_workflows(comfyui: ComfyUI) -> None:
    wait_ready(comfyui)
    body = comfyui.get("/api/launchpad/presets").json()
    running = comfyui.get("/api/launchpad/system").json()["versions"]["comfyui"]  # type: ignore[index]
    assert body["comfyui_version"] == running  # type: ignore[index]
    rows = {row["id"]: row for row in body["presets"]}  # type: ignore[index]

    def version(text: str) -> tuple[int, ...]:
        return tuple(int(part) for part in text.split("."))

    for row in rows.values():
        assert row["size"] and row["vram_gb"], row["id"]  # offline here: estimates at least, and marked
        if row["min_comfyui"]:
            assert row["comfyui_ok"] is (version(running) >= version(row["min_comfyui"])), row["id"]
    # the curated LTX-2.3 preset states what its templates need, whatever templates this ComfyUI ships
    assert rows["LTX_23_22B_FP8"]["min_comfyui"] == "0.16.4"
    if version(running) < (0, 16, 4):  # 0.3.64: says it needs a newer ComfyUI
        assert rows["LTX_23_22B_FP8"]["comfyui_ok"] is False
        detail = comfyui.get("/api/launchpad/presets/LTX_23_22B_FP8").json()
        assert f"this ComfyUI is {running}" in detail["comfyui_note"]  # type: ignore[index]


def test_the_queue_says_how_this_comfyui_cancels_a_prompt(comfyui: ComfyUI) -> None:
    wait_ready(comfyui)
    queue = comfyui.get("/api/launchpad/queue").json()
    has_jobs_api = comfyui.get("/api/jobs?limit=1").status == 200  # ComfyUI 0.33 and later
    assert queue == {"running": [], "pending": [], "remaining": 0, "available": True,  # type: ignore[comparison-overlap]
                     "cancel": "jobs" if has_jobs_api else "queue", "now": queue["now"]}  # type: ignore[index]
