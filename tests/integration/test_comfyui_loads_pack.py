"""Issue 2, against a real ComfyUI: it starts with our generated config and flags, uses the
workspace for its models, and loads this checkout as a custom node quickly and cleanly.

One ComfyUI serves the whole module. The workspace holds malformed user preset files from
the start, as a user's volume might: everything below must work regardless.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from lp.launchpad import model_folders

from .real_comfyui import REPO, ComfyUI, LaunchOptions

pytestmark = pytest.mark.integration

BROKEN_PRESETS = {
    # not YAML at all: an unterminated flow mapping
    "broken-syntax.yaml": "schema: 1\npresets:\n  - id: BROKEN\n    files: [{folder: checkpoints, name: x\n",
    # valid YAML, invalid preset: unknown folder and a path that leaves the workspace
    "bad-field.yaml": (
        "schema: 1\npresets:\n  - id: BAD_FIELD\n    name: Bad\n    category: image\n    files:\n"
        "      - {folder: lora, name: ../../escape.safetensors, url: 'ftp://example.invalid/x'}\n"
    ),
}
DISABLED_MESSAGE = "ComfyUI-Launchpad could not load"


def put_broken_presets(workspace: Path) -> None:
    presets = workspace / "config" / "presets"
    presets.mkdir(parents=True)
    for name, text in BROKEN_PRESETS.items():
        (presets / name).write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def comfyui_options() -> LaunchOptions:
    return LaunchOptions(prepare=put_broken_presets)


def folder_map(comfyui: ComfyUI) -> dict[str, list[str]]:
    """ComfyUI's own view of its model folders: name -> directories, default first."""
    reply = comfyui.get("/experiment/models")
    assert reply.status == 200, reply.text
    return {entry["name"]: entry["folders"] for entry in reply.json()}  # type: ignore[union-attr]


def test_pack_is_in_the_import_times_list_under_a_tenth_of_a_second(comfyui: ComfyUI) -> None:
    entry = comfyui.pack_import()
    listed = "\n".join(f"{t.seconds} {t.failed} {t.path}" for t in comfyui.import_times())
    assert entry is not None, f"{comfyui.pack_dir} is not in ComfyUI's import-time list:\n{listed}"
    assert not entry.failed, "ComfyUI reports (IMPORT FAILED) for the pack"
    assert entry.seconds < 0.1, f"ComfyUI reports an import time of {entry.seconds} s"
    assert DISABLED_MESSAGE not in comfyui.log_text()


def test_every_model_folder_defaults_to_the_workspace(comfyui: ComfyUI) -> None:
    models = comfyui.workspace / "models"
    folders = folder_map(comfyui)
    # /experiment/models leaves out configs (and custom_nodes); the internal route has every folder
    internal = comfyui.get("/internal/folder_paths")
    assert internal.status == 200, internal.text
    everything = {**internal.json(), **folders}  # type: ignore[dict-item]
    for folder in model_folders.MODEL_FOLDERS:
        assert folder.name in everything, f"ComfyUI does not know the folder {folder.name!r}"
        paths = everything[folder.name]
        assert paths[0] == str(models / folder.target_dir), f"{folder.name}: default is {paths[0]}"
        for directory in folder.dirs:
            assert str(models / directory) in paths, f"{folder.name}: {models / directory} missing from {paths}"
    names = comfyui.get("/models").json()
    assert {f.name for f in model_folders.MODEL_FOLDERS} <= set(names)  # type: ignore[arg-type]


def test_file_placed_in_the_workspace_appears_in_comfyuis_model_lists(comfyui: ComfyUI) -> None:
    models = comfyui.workspace / "models"
    name = f"launchpad-probe-{uuid.uuid4().hex[:8]}.safetensors"
    assert name not in comfyui.get("/models/checkpoints").json()  # type: ignore[operator]

    (models / "checkpoints" / name).write_bytes(b"\0" * 16)
    (models / "checkpoints" / "sdxl").mkdir()
    (models / "checkpoints" / "sdxl" / name).write_bytes(b"\0" * 16)
    # the legacy directory of a two-directory folder is searched too
    (models / "clip" / name).write_bytes(b"\0" * 16)

    checkpoints = comfyui.get("/models/checkpoints")
    assert checkpoints.status == 200, checkpoints.text
    assert name in checkpoints.json()  # type: ignore[operator]
    assert f"sdxl/{name}" in checkpoints.json()  # type: ignore[operator]
    assert name in comfyui.get("/models/text_encoders").json()  # type: ignore[operator]


def test_output_input_user_and_temp_directories_are_the_workspace(comfyui: ComfyUI) -> None:
    workspace = comfyui.workspace
    log = comfyui.log_text()
    assert f"Setting output directory to: {workspace / 'output'}" in log
    assert f"Setting input directory to: {workspace / 'input'}" in log
    assert f"Setting user directory to: {workspace / 'user'}" in log
    assert f"Setting temp directory to: {workspace / 'cache' / 'comfyui' / 'temp'}" in log
    # ComfyUI's own settings storage writes below --user-directory
    saved = comfyui.request("POST", "/userdata/launchpad-probe.json", json_body={"probe": True})
    assert saved.status == 200, saved.text
    assert (workspace / "user" / "default" / "launchpad-probe.json").is_file()


@pytest.mark.parametrize("path", ["/launchpad/health", "/api/launchpad/health"])
def test_health_route_answers(comfyui: ComfyUI, path: str) -> None:
    reply = comfyui.get(path)
    assert reply.status == 200, reply.text
    assert reply.json()["status"] == "ok"  # type: ignore[index]


def test_web_extension_is_listed_and_served(comfyui: ComfyUI) -> None:
    reply = comfyui.get("/extensions")
    assert reply.status == 200, reply.text
    listed = reply.json()
    scripts = sorted((REPO / "web").rglob("*.js"))
    assert scripts, "web/ has no .js file for ComfyUI to load"
    for script in scripts:
        url = f"/extensions/{comfyui.pack_dir.name}/{script.relative_to(REPO / 'web').as_posix()}"
        assert url in listed, f"{url} not in GET /extensions: {listed}"  # type: ignore[operator]
        served = comfyui.get(url)
        assert served.status == 200
        assert served.body == script.read_bytes()


def test_malformed_user_presets_do_not_stop_comfyui_or_the_pack(comfyui: ComfyUI) -> None:
    presets = comfyui.workspace / "config" / "presets"
    assert sorted(p.name for p in presets.iterdir()) == sorted(BROKEN_PRESETS)
    entry = comfyui.pack_import()
    assert entry is not None and not entry.failed
    assert DISABLED_MESSAGE not in comfyui.log_text()
    assert comfyui.get("/launchpad/health").status == 200
    assert comfyui.get("/system_stats").status == 200
