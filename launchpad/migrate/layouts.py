"""The old layouts Launchpad recognises on a volume, and what each holds where.

- the rsync images: ComfyUI copied onto the volume at ``/workspace/ComfyUI``, with its
  ``models/<folder>``, ``custom_nodes``, ``user``, ``input`` and ``output``;
- RunPod's current ComfyUI template: the same tree at ``/workspace/runpod-slim/ComfyUI``;
- ai-dock: model files under ``/workspace/storage/stable_diffusion/models/<dir>``, linked one
  by one into ComfyUI's own models folders, with directory names of its own (``ckpt``,
  ``lora``, ``esrgan``, ...; ai-dock/comfyui, build/COPY_ROOT_1/opt/ai-dock/storage_monitor/
  etc/mappings.sh);
- any other ComfyUI checkout on the volume (a ``main.py`` with ``models/`` in or beside it);
- and a directory named on the command line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .. import model_folders
from ..errors import InvalidInput
from ..workspace import TOP_DIRS

RSYNC = "rsync"
RUNPOD = "runpod-slim"
AIDOCK = "ai-dock"
COMFYUI = "comfyui"
DIRECTORY = "directory"

# ai-dock's storage directory names -> ComfyUI folder names, where they differ (its mappings.sh).
# Its "vae_approx" is linked into ComfyUI's upscale_models there, which looks like a slip: the
# name says what the files are, so they go to vae_approx. "reactor" has no folder of ours.
AIDOCK_NAMES: Mapping[str, str] = {
    "ckpt": "checkpoints",
    "lora": "loras",
    "esrgan": "upscale_models",
    "facerestore": "facerestore_models",
}
AIDOCK_MODELS = Path("storage") / "stable_diffusion" / "models"

# directories of the workspace itself: never a source
OWN_DIRS = frozenset({*TOP_DIRS, "custom_nodes", ".launchpad"})


@dataclass(frozen=True)
class Source:
    """One old tree: where its model folders, custom nodes, user data, inputs and outputs are."""

    layout: str
    title: str  # for people: "the rsync images' ComfyUI"
    root: Path  # what FROM names, and what the adopted record and the journal refer to
    models: Path | None
    custom_nodes: Path | None = None
    user: Path | None = None
    input: Path | None = None
    output: Path | None = None
    names: Mapping[str, str] = field(default_factory=dict)  # this layout's own folder names

    def folder_for(self, name: str) -> str | None:
        """The ComfyUI folder an old directory called ``name`` holds (aliases applied), or None."""
        return model_folders.canonical(self.names.get(name, name))

    def to_dict(self) -> dict[str, object]:
        return {
            "layout": self.layout,
            "title": self.title,
            "root": str(self.root),
            **{part: _text(getattr(self, part)) for part in ("models", "custom_nodes", "user", "input", "output")},
        }


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _dir(path: Path) -> Path | None:
    return path if path.is_dir() and not path.is_symlink() else None


def comfyui_tree(layout: str, title: str, root: Path, models: Path | None = None) -> Source:
    """A ComfyUI directory's own tree: models (or ``models``, when given), custom_nodes, user, input, output."""
    return Source(
        layout,
        title,
        root,
        models=models or _dir(root / "models"),
        custom_nodes=_dir(root / "custom_nodes"),
        user=_dir(root / "user"),
        input=_dir(root / "input"),
        output=_dir(root / "output"),
    )


def aidock(root: Path) -> Source:
    return Source(AIDOCK, "ai-dock's storage", root, models=root / "stable_diffusion" / "models", names=AIDOCK_NAMES)


def _is_comfyui(path: Path) -> bool:
    return (path / "main.py").is_file() and (path / "comfy").is_dir()


def _children(path: Path) -> list[Path]:
    try:
        return sorted(p for p in path.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))
    except OSError:
        return []


def detect(root: Path) -> list[Source]:
    """Every old layout found on the volume at ``root``, the known ones first."""
    found: list[Source] = []
    if (root / "ComfyUI" / "models").is_dir():
        # ai-dock with its workspace sync puts its ComfyUI there too (its models/ then holds links)
        title = "ai-dock's ComfyUI" if (root / AIDOCK_MODELS).is_dir() else "the rsync images' ComfyUI"
        found.append(comfyui_tree(RSYNC, title, root / "ComfyUI"))
    if (root / "runpod-slim" / "ComfyUI" / "models").is_dir():
        found.append(comfyui_tree(RUNPOD, "RunPod's ComfyUI template", root / "runpod-slim" / "ComfyUI"))
    if (root / AIDOCK_MODELS).is_dir():
        found.append(aidock(root / "storage"))
    known = {source.root for source in found}
    # any other ComfyUI checkout one or two levels down, with its models in it or beside it
    for child in _children(root):
        if child.name in OWN_DIRS:
            continue
        for candidate in (child, *_children(child)):
            if candidate in known or not _is_comfyui(candidate):
                continue
            source = _checkout(candidate, root)
            if source is not None:
                found.append(source)
                known.add(source.root)
    return found


def _checkout(path: Path, root: Path) -> Source | None:
    if (path / "models").is_dir():
        return comfyui_tree(COMFYUI, f"a ComfyUI at {path}", path)
    beside = path.parent / "models"
    if path.parent != root and beside.is_dir():
        source = comfyui_tree(COMFYUI, f"a ComfyUI at {path} with models/ beside it", path, models=beside)
        return source
    return None


def named(path: Path, root: Path) -> Source:
    """The source a person named on the command line; InvalidInput saying what to name instead."""
    path = Path(os.path.abspath(path.expanduser()))
    if not path.is_dir():
        raise InvalidInput(f"{path} is not a directory: name the old ComfyUI directory (the one holding models/)")
    ws = Path(os.path.abspath(root))
    if path == ws or ws.is_relative_to(path):
        raise InvalidInput(f"{path} holds the workspace {ws} itself: name the old ComfyUI directory inside it")
    own = next((ws / name for name in OWN_DIRS if path.is_relative_to(ws / name)), None)
    if own is not None:
        raise InvalidInput(f"{path} is inside the workspace's own {own.name}/: it is already where Launchpad looks")
    for source in detect(ws):
        if source.root == path:
            return source
    if (path / "stable_diffusion" / "models").is_dir():
        return aidock(path)
    if (path / "models").is_dir():
        return comfyui_tree(DIRECTORY, f"the directory {path}", path)
    if any(model_folders.canonical(child.name) for child in _children(path)):
        return Source(DIRECTORY, f"the model folders in {path}", path, models=path)
    raise InvalidInput(
        f"found neither models/ nor model folders (checkpoints, loras, ...) in {path}: name the old ComfyUI "
        "directory (the one holding models/ and custom_nodes/), or a models folder"
    )
