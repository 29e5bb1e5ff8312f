"""A file Launchpad installs is in a real ComfyUI's model lists at once (COMFYUI_DIR).

ComfyUI's ``folder_paths`` keeps each folder's listing while the folder's mtime stays the same;
on a network volume with coarse mtimes a new file can hide behind a cached listing. Here the
real module is given exactly that (the folder's mtime put back after the file was added) and
``server_routes.comfy.refresh_model_lists`` makes it list the file. Where ComfyUI has the assets
scanner (0.33+, ``--enable-assets``), a preset installed through Launchpad is in ``/api/assets``
and ``/models/<folder>`` without a restart.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ROOT
from fakehub import FakeHub, random_bytes

from .real_comfyui import ComfyUI, ComfyUIInstall, LaunchOptions

pytestmark = pytest.mark.integration

PRESET_FILE = "loras/it-lists/fresh-lora.safetensors"


def test_a_cached_listing_that_missed_a_new_file_lists_it_after_an_install(
    comfyui_install: ComfyUIInstall, tmp_path: Path
) -> None:
    folder = tmp_path / "loras"
    folder.mkdir()
    script = textwrap.dedent(f"""
        import importlib, json, os, sys, types
        sys.argv = ["main.py"]
        sys.path.insert(0, {str(comfyui_install.root)!r})
        import folder_paths
        folder_paths.add_model_folder_path("loras", {str(folder)!r}, is_default=True)
        package = types.ModuleType("checkout")
        package.__path__ = [{str(ROOT)!r}]
        sys.modules["checkout"] = package
        comfy = importlib.import_module("checkout.server_routes.comfy")

        before = folder_paths.get_filename_list("loras")
        stat = os.stat({str(folder)!r})
        open(os.path.join({str(folder)!r}, "new.safetensors"), "wb").write(b"x" * 10)
        os.utime({str(folder)!r}, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the volume's mtime did not move
        stale = folder_paths.get_filename_list("loras")
        done = {{"state": "done", "key": "loras/new.safetensors"}}
        comfy.refresh_model_lists(folder_paths, "launchpad.download", done)
        fresh = folder_paths.get_filename_list("loras")
        print(json.dumps({{"before": before, "stale": stale, "fresh": fresh}}))
    """)
    done = subprocess.run([str(comfyui_install.python), "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lists = json.loads(done.stdout.strip().splitlines()[-1])
    assert "new.safetensors" not in lists["stale"]  # ComfyUI's cache alone misses it
    assert "new.safetensors" in lists["fresh"]


@pytest.fixture(scope="module")
def hub() -> Iterator[FakeHub]:
    server = FakeHub().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def comfyui_options(comfyui_install: ComfyUIInstall, hub: FakeHub) -> LaunchOptions:
    if not comfyui_install.supports("--enable-assets"):
        pytest.skip("this ComfyUI has no assets scanner (--enable-assets came with 0.33)")
    data = random_bytes(120_000)
    hub.add_hf_file("acme/it-lists", "fresh.safetensors", data)

    def seed(workspace: Path) -> None:
        presets = workspace / "config" / "presets"
        presets.mkdir(parents=True)
        folder, name = PRESET_FILE.split("/", 1)
        (presets / "lists.yaml").write_text(json.dumps({"schema": 1, "presets": [
            {"id": "it-lists", "name": "Model lists", "category": "image", "files": [
                {"folder": folder, "name": name, "hf": "acme/it-lists", "path": "fresh.safetensors",
                 "size": len(data)}]}]}), encoding="utf-8")

    return LaunchOptions(env={"HF_ENDPOINT": hub.url, "DOWNLOAD_FREE_SPACE_MARGIN": "0"}, args=["--enable-assets"],
                         prepare=seed)


def test_an_install_shows_in_the_assets_and_the_folder_listing(comfyui: ComfyUI) -> None:
    for _ in range(300):
        if comfyui.get("/api/launchpad/health").json()["state"] == "ready":  # type: ignore[index]
            break
        time.sleep(0.2)
    name = PRESET_FILE.split("/", 1)[1]
    for _ in range(150):  # ComfyUI's own start-up scan first
        if comfyui.get("/api/assets/seed/status").json().get("state") == "IDLE":  # type: ignore[union-attr]
            break
        time.sleep(0.2)
    assert not comfyui.get("/api/assets?name_contains=fresh-lora").json()["assets"]  # type: ignore[index]

    reply = comfyui.request("POST", "/api/launchpad/presets/install", json_body={"presets": ["it-lists"]})
    assert reply.status == 202, reply.text
    for _ in range(300):
        assets = comfyui.get("/api/assets?name_contains=fresh-lora").json()["assets"]  # type: ignore[index]
        if assets:
            break
        time.sleep(0.1)
    assert [a["name"] for a in assets] == ["fresh-lora.safetensors"]
    assert name in comfyui.get("/models/loras").json()  # type: ignore[operator]
