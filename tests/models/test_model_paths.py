"""extra_model_paths.yaml: the shape ComfyUI's loader accepts, the layout, user files, flags."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from lp.launchpad import model_folders, model_paths
from lp.launchpad.workspace import Workspace


def load_like_comfyui_loader(path: Path) -> dict[str, list[str]]:
    """What ComfyUI's utils/extra_config.py would register, following its documented rules
    (docs/comfyui-facts.md, Extra model paths); the real loader runs in tests/integration."""
    config = yaml.safe_load(path.read_text())
    registered: dict[str, list[str]] = {}
    for section in config.values():
        if section is None:
            continue
        section = dict(section)
        base = os.path.expandvars(os.path.expanduser(section.pop("base_path"))) if "base_path" in section else None
        is_default = section.pop("is_default", False)
        for folder, value in section.items():
            for line in value.split("\n"):  # AttributeError for non-strings, as in ComfyUI
                if not line:
                    continue
                full = os.path.normpath(os.path.join(base, line) if base else line)
                paths = registered.setdefault(folder, [])
                if is_default:
                    paths.insert(0, full)
                else:
                    paths.append(full)
    return registered


def test_generated_file_is_flat_strings_with_workspace_default(workspace_dir: Path) -> None:
    result = model_paths.write(Workspace(workspace_dir))
    text = result.config.read_text()
    assert model_paths.problems(text) == []
    section = yaml.safe_load(text)[model_paths.SECTION]
    assert section["base_path"] == str(workspace_dir / "models")
    assert section["is_default"] is True
    assert all(isinstance(v, str) for k, v in section.items() if k != "is_default")
    assert "lora" not in section and "loras" in section


def test_every_folder_resolves_to_workspace_with_preferred_dir_first(workspace_dir: Path) -> None:
    result = model_paths.write(Workspace(workspace_dir))
    registered = load_like_comfyui_loader(result.config)
    models = workspace_dir / "models"
    for folder in model_folders.MODEL_FOLDERS:
        assert registered[folder.name][0] == str(models / folder.target_dir), folder.name
        assert sorted(registered[folder.name]) == sorted(str(models / d) for d in folder.dirs)
    # the names ComfyUI and popular packs look up
    for name in ("audio_encoders", "model_patches", "ipadapter", "sams", "ultralytics", "insightface"):
        assert name in registered
    assert registered["text_encoders"][0] == str(models / "text_encoders")
    assert str(models / "clip") in registered["text_encoders"]
    assert str(models / "unet") in registered["diffusion_models"]
    assert str(models / "t2i_adapter") in registered["controlnet"]


def test_creates_every_directory_and_is_idempotent(workspace_dir: Path) -> None:
    workspace = Workspace(workspace_dir)
    first = model_paths.write(workspace)
    assert first.changed and first.created_dirs
    for path in workspace.all_dirs():
        assert path.is_dir(), path
    mtime = first.config.stat().st_mtime_ns
    second = model_paths.write(workspace)
    assert not second.changed and second.created_dirs == []
    assert first.config.stat().st_mtime_ns == mtime
    # no temp files left behind by the atomic write
    assert sorted(p.name for p in workspace.config.iterdir()) == ["extra_model_paths.yaml", "presets"]


def test_rewrites_a_damaged_file(workspace_dir: Path) -> None:
    workspace = Workspace(workspace_dir)
    model_paths.write(workspace)
    workspace.extra_model_paths.write_text("model_paths:\n  checkpoints: {a: b}\n")
    assert model_paths.write(workspace).changed
    assert model_paths.problems(workspace.extra_model_paths.read_text()) == []


def test_user_file_is_kept_and_passed_to_comfyui(workspace_dir: Path) -> None:
    workspace = Workspace(workspace_dir)
    workspace.config.mkdir(parents=True)
    user = workspace.config / "extra_model_paths.user.yaml"
    user.write_text("mine:\n  checkpoints: /data/my-checkpoints\n")
    result = model_paths.write(workspace)
    assert result.user_configs == [user]
    assert user.read_text() == "mine:\n  checkpoints: /data/my-checkpoints\n"
    args = model_paths.comfy_args(workspace, LOCAL_DB)
    i = args.index("--extra-model-paths-config")
    assert args[i + 1 : i + 3] == [str(workspace.extra_model_paths), str(user)]


LOCAL_DB = Path("/var/lib/local-disk/comfyui.db")


def test_user_file_that_would_crash_comfyui_is_not_passed(workspace_dir: Path) -> None:
    workspace = Workspace(workspace_dir)
    workspace.config.mkdir(parents=True)
    bad = workspace.config / "extra_model_paths.mine.yaml"
    bad.write_text("ComfyUI:\n  model_paths:\n    checkpoints: /x\n")
    result = model_paths.write(workspace)
    assert result.user_configs == []
    assert "model_paths" in result.rejected_user_configs[bad][0]
    assert str(bad) not in model_paths.comfy_args(workspace, LOCAL_DB)


def test_problems_names_what_comfyui_would_crash_on() -> None:
    assert model_paths.problems("a:\n  checkpoints: [x, y]\n")[0].startswith("a.checkpoints must be a string")
    assert "a.checkpoints" in model_paths.problems("a:\n  checkpoints:\n")[0]
    assert "section 'a'" in model_paths.problems("a: /x\n")[0]
    assert model_paths.problems("")[0].startswith("the top level")
    assert model_paths.problems("a:\n  checkpoints: /x\n   ,llava: /y\n")[0].startswith("not valid YAML")
    assert model_paths.problems("empty:\nb:\n  checkpoints: x\n") == []


def test_comfy_args_put_everything_on_the_workspace(workspace_dir: Path) -> None:
    workspace = Workspace(workspace_dir)
    model_paths.write(workspace)
    args = model_paths.comfy_args(workspace, LOCAL_DB)
    pairs = dict(zip(args[::2], args[1::2], strict=True))
    assert pairs["--output-directory"] == str(workspace_dir / "output")
    assert pairs["--input-directory"] == str(workspace_dir / "input")
    assert pairs["--user-directory"] == str(workspace_dir / "user")
    assert pairs["--temp-directory"].startswith(str(workspace_dir))
    assert pairs["--database-url"] == f"sqlite:///{LOCAL_DB}"
    assert Path(pairs["--user-directory"]).is_dir()  # ComfyUI refuses a missing user directory


def test_each_comfyui_process_gets_its_own_database_off_the_volume(tmp_path: Path) -> None:
    # ComfyUI locks its database for as long as it runs: two pods on one volume need two files
    volume, local = Workspace(tmp_path / "volume"), tmp_path / "local"
    first = model_paths.database_path(volume, local, 8188)
    assert first.parent == local and first.suffix == ".db"
    assert model_paths.database_path(volume, local, 8188) == first  # a restart finds its database again
    assert model_paths.database_path(volume, local, 8189) != first
    assert model_paths.database_path(Workspace(tmp_path / "other"), local, 8188) != first
    default = model_paths.database_path(volume, None, 8188)
    assert default.is_relative_to(Path.home()) and not default.is_relative_to(volume.root)


def test_custom_nodes_on_the_volume(workspace_dir: Path) -> None:
    workspace = Workspace(workspace_dir)
    model_paths.write(workspace, custom_nodes=True)
    registered = load_like_comfyui_loader(workspace.extra_model_paths)
    assert registered["custom_nodes"] == [str(workspace_dir / "custom_nodes")]
    assert (workspace_dir / "custom_nodes").is_dir()


def test_runpod_serverless_volume_is_used_when_workspace_is_absent(tmp_path: Path) -> None:
    from lp.launchpad.workspace import default_root

    volume = tmp_path / "runpod-volume"
    volume.mkdir()
    missing_default = Path("/workspace")
    if missing_default.exists():
        assert default_root(missing_default, volume) == missing_default  # a mounted /workspace wins
    else:
        assert default_root(missing_default, volume) == volume
    assert default_root(tmp_path / "elsewhere", volume) == tmp_path / "elsewhere"  # an explicit root is kept
    assert default_root(missing_default, tmp_path / "none") == missing_default
