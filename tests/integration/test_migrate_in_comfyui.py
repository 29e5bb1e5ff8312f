"""`launchpad migrate --adopt` seen by a real ComfyUI: adopted model folders answer in ComfyUI's own
`GET /models/<folder>` without a file moved, both when adopted before it starts (the generated
extra_model_paths.yaml) and while it runs (the pack adds them to folder_paths, no restart), and
an undo takes them out again."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from migrate_volumes import aidock_volume, rsync_volume, runpod_volume

from conftest import cli_argv

from .real_comfyui import ComfyUI, LaunchOptions, run_cli

pytestmark = pytest.mark.integration


def adopt_at_start(workspace: Path) -> None:
    """Before ComfyUI's first start: the rsync images' tree and ai-dock's storage, both adopted."""
    rsync_volume(workspace)
    aidock_volume(workspace)
    run_cli(cli_argv, "migrate", "--adopt", "--workspace", str(workspace))


@pytest.fixture(scope="module")
def comfyui_options() -> LaunchOptions:
    return LaunchOptions(prepare=adopt_at_start)


def models(server: ComfyUI, folder: str) -> list[str]:
    reply = server.get(f"/models/{folder}")
    assert reply.status == 200, reply.text
    return reply.json()  # type: ignore[return-value]


def eventually(check: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.25)
    return check()


def test_models_adopted_before_the_start_are_in_comfyuis_lists(comfyui: ComfyUI) -> None:
    ws = comfyui.workspace
    assert "rsync_ckpt.safetensors" in models(comfyui, "checkpoints")
    assert "rsync_clip_l.safetensors" in models(comfyui, "text_encoders")  # old `clip/`
    assert "rsync_flux.safetensors" in models(comfyui, "diffusion_models")  # old `unet/`
    assert "sdxl/rsync_style.safetensors" in models(comfyui, "loras")
    assert "aidock_sd15.safetensors" in models(comfyui, "checkpoints")  # ai-dock's `ckpt/`
    assert "RealESRGAN_x4.pth" in models(comfyui, "upscale_models")  # ai-dock's `esrgan/`
    assert (ws / "ComfyUI" / "models" / "checkpoints" / "rsync_ckpt.safetensors").is_file()  # not moved
    assert not (ws / "models" / "checkpoints" / "rsync_ckpt.safetensors").exists()


def test_the_launchpad_models_view_lists_them_with_their_old_paths(comfyui: ComfyUI) -> None:
    reply = comfyui.get("/launchpad/models?folder=diffusion_models")
    assert reply.status == 200, reply.text
    paths = {m["path"] for m in reply.json()["models"]}  # type: ignore[index]
    assert str(comfyui.workspace / "ComfyUI" / "models" / "unet" / "rsync_flux.safetensors") in paths


def test_an_adoption_while_comfyui_runs_appears_without_a_restart_and_undo_takes_it_out(comfyui: ComfyUI) -> None:
    ws = comfyui.workspace
    old = runpod_volume(ws)
    assert "sdxl/runpod_style.safetensors" not in models(comfyui, "loras")
    pid = comfyui.process.pid

    run_cli(cli_argv, "migrate", "--adopt", "--workspace", str(ws), str(old))
    assert eventually(lambda: "sdxl/runpod_style.safetensors" in models(comfyui, "loras")), comfyui.log_text()[-3000:]
    assert "runpod_clip_l.safetensors" in models(comfyui, "text_encoders")
    assert comfyui.process.pid == pid and comfyui.process.poll() is None  # the same ComfyUI, never restarted
    listed = comfyui.get("/launchpad/models?folder=loras").json()
    assert str(old / "models" / "loras" / "sdxl" / "runpod_style.safetensors") in {m["path"] for m in listed["models"]}
    status = comfyui.get("/launchpad/migrate").json()
    assert str(old) in {a["source"] for a in status["adopted"]}  # type: ignore[index]

    run_cli(cli_argv, "migrate", "--undo", "--workspace", str(ws))
    assert eventually(lambda: "sdxl/runpod_style.safetensors" not in models(comfyui, "loras"))
    assert "sdxl/rsync_style.safetensors" in models(comfyui, "loras")  # the adoption before it stays
    assert json.loads((ws / "config" / "adopted_model_dirs.json").read_text())["adopted"]
