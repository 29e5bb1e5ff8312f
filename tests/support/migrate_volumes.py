"""Volumes laid out the way other templates leave them, made of small files, for `launchpad migrate`.

Each builder writes into a workspace root (the volume's mount point) and returns the old
tree's root. Every file's bytes are distinct, so a test can tell each one apart after a move.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from pathlib import Path

HOUR = 3600.0


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def comfyui_tree(root: Path, tag: str) -> Path:
    """A ComfyUI directory as the rsync images and RunPod's template keep it on the volume."""
    write(root / "main.py", "# ComfyUI\n")
    (root / "comfy").mkdir(parents=True, exist_ok=True)
    models = root / "models"
    write(models / "checkpoints" / f"{tag}_ckpt.safetensors", f"checkpoint of {tag}")
    write(models / "checkpoints" / "put_checkpoints_here", "")
    write(models / "clip" / f"{tag}_clip_l.safetensors", f"clip of {tag}")  # ComfyUI's old name: text_encoders
    write(models / "unet" / f"{tag}_flux.safetensors", f"unet of {tag}")  # old name: diffusion_models
    write(models / "loras" / "sdxl" / f"{tag}_style.safetensors", f"lora of {tag}")
    write(models / "vae" / "put_vae_here", "")
    write(models / "reactor" / "inswapper_128.onnx", f"reactor of {tag}")  # no ComfyUI folder of that name
    nodes = root / "custom_nodes"
    write(nodes / "ComfyUI-KJNodes" / "__init__.py", "NODE_CLASS_MAPPINGS = {}\n")
    write(nodes / "ComfyUI-KJNodes" / "requirements.txt", "# for the nodes\nnumpy\nkornia>=0.7\n")
    write(nodes / "ComfyUI-Manager" / "__init__.py", "# the legacy Manager clone\n")
    write(nodes / "ComfyUI-Manager" / "config.ini", "[default]\nsecurity_level = normal\n")
    write(nodes / "websocket_image_save.py", "# ComfyUI's own example\n")
    user = root / "user" / "default"
    write(user / "comfy.settings.json", f'{{"Comfy.ColorPalette": "{tag}"}}')
    write(user / "workflows" / f"{tag} portrait.json", f'{{"nodes": [], "tag": "{tag}"}}')
    write(user / "ComfyUI-Manager" / "snapshots" / "2024-01-01.json", "{}")
    write(root / "input" / f"{tag}_in.png", f"input of {tag}")
    write(root / "output" / f"{tag}_00001_.png", f"output of {tag}")
    write(root / "output" / "_output_images_will_be_put_here", "")
    return root


def rsync_volume(volume: Path) -> Path:
    """The rsync images: ComfyUI copied onto the volume at /workspace/ComfyUI."""
    return comfyui_tree(volume / "ComfyUI", "rsync")


def runpod_volume(volume: Path) -> Path:
    """RunPod's current ComfyUI template: the same tree under /workspace/runpod-slim/ComfyUI."""
    return comfyui_tree(volume / "runpod-slim" / "ComfyUI", "runpod")


def aidock_volume(volume: Path) -> Path:
    """ai-dock's storage tree, laid out as its repositories say.

    ai-dock/comfyui, build/COPY_ROOT_1/opt/ai-dock/storage_monitor/etc/mappings.sh maps directories
    under ``$WORKSPACE/storage/`` to ComfyUI's model folders: ``stable_diffusion/models/ckpt`` ->
    checkpoints, ``lora`` -> loras, ``esrgan`` -> upscale_models, ``clip``, ``unet``, ``controlnet``,
    ``reactor`` ... (its provisioning scripts, config/provisioning/default.sh, download there), and
    ai-dock/base-image, build/COPY_ROOT/opt/ai-dock/storage_monitor/bin/manage-symlinks.sh links each
    stored file into ComfyUI's folder one by one. With its workspace sync on, that ComfyUI sits on the
    volume too, at /workspace/ComfyUI, with those links in its models/ folders.
    """
    storage = volume / "storage"
    models = storage / "stable_diffusion" / "models"
    stored = {
        "ckpt": "aidock_sd15.safetensors",
        "lora": "aidock_detail.safetensors",
        "esrgan": "RealESRGAN_x4.pth",
        "clip": "aidock_t5xxl.safetensors",
        "unet": "aidock_flux.safetensors",
        "controlnet": "aidock_canny.safetensors",
        "reactor": "aidock_inswapper.onnx",
    }
    for directory, name in stored.items():
        write(models / directory / name, f"{directory} of ai-dock")
    comfy = volume / "ComfyUI"
    write(comfy / "main.py", "# ComfyUI\n")
    linked = comfy / "models" / "checkpoints" / stored["ckpt"]
    linked.parent.mkdir(parents=True, exist_ok=True)
    linked.symlink_to(models / "ckpt" / stored["ckpt"])
    write(comfy / "custom_nodes" / "ComfyUI-Manager" / "__init__.py", "# cloned by ai-dock's provisioning\n")
    write(comfy / "output" / "aidock_00001_.png", "output of ai-dock")
    return storage


def age(root: Path, seconds: float = HOUR) -> None:
    """Set every mtime under ``root`` back: the old pod stopped ``seconds`` ago."""
    then = time.time() - seconds
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        os.utime(path, (then, then), follow_symlinks=False)
    os.utime(root, (then, then))


def snapshot(root: Path, *, skip: tuple[str, ...] = ()) -> dict[str, tuple]:
    """Every entry under ``root``: relative path -> (type, inode, content digest or link target)."""
    found: dict[str, tuple] = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if any(rel == s or rel.startswith(s + "/") for s in skip):
            continue
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            found[rel] = ("link", st.st_ino, os.readlink(path))
        elif stat.S_ISDIR(st.st_mode):
            found[rel] = ("dir", st.st_ino)
        else:
            found[rel] = ("file", st.st_ino, hashlib.sha256(path.read_bytes()).hexdigest())
    return found
