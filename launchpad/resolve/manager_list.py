"""Source 3: ComfyUI-Manager's model list (``model-list.json``).

The list is read where it already is, never copied into this repository (it is GPL-3.0):

1. the copy ``launchpad workflow --refresh`` fetched into ``<workspace>/.launchpad/resolve/``
   from MANAGER_MODEL_LIST_URL (the Manager's default channel), when the user asked for the newest;
2. an installed ``comfyui_manager`` package (ComfyUI 0.33 and later install it with
   ``--enable-manager``), whose data file sits in the package: found with the import system's
   path finder, nothing of it imported;
3. a legacy ``custom_nodes/ComfyUI-Manager`` clone.

Its entries are ``{name, type, base, save_path, description, reference, filename, url, size}``:
``save_path`` is ``default`` (the type's folder) or ``<folder>[/<subdirectory>]`` under the models
directory; ``filename`` ``<huggingface>`` stands for a whole repository and ``custom_nodes/...``
save paths for a node's own directory (neither is a loader's file, both are skipped); ``size`` is
rounded text such as ``4.71MB`` (an estimate here).
"""

from __future__ import annotations

import importlib.machinery
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import model_folders
from ..catalog.schema import source_from_url
from ..documents import DocumentError, load_json
from ..files import unsafe_reason
from .candidates import EXACT, NAME, Candidate, Wanted

log = logging.getLogger(__name__)

FILENAME = "model-list.json"
REFRESHED = "manager-model-list.json"  # our fetched copy, in <state>/resolve/
PACKAGE = "comfyui_manager"
LEGACY_CLONES = ("ComfyUI-Manager", "comfyui-manager")
# the Manager's types for save_path "default", and what folder each stands for
TYPE_FOLDERS = {
    "checkpoint": "checkpoints", "checkpoints": "checkpoints", "unclip": "checkpoints",
    "clip": "text_encoders", "text_encoders": "text_encoders", "vae": "vae", "lora": "loras",
    "t2i-adapter": "controlnet", "t2i-style": "controlnet", "controlnet": "controlnet",
    "clip_vision": "clip_vision", "gligen": "gligen", "upscale": "upscale_models",
    "embedding": "embeddings", "embeddings": "embeddings", "unet": "diffusion_models",
    "diffusion_model": "diffusion_models", "taesd": "vae_approx",
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)B\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Entry:
    folder: str
    subdir: str  # the save path under the folder ("" for none)
    filename: str
    url: str
    size: int | None
    title: str

    @property
    def name(self) -> str:
        return f"{self.subdir}/{self.filename}" if self.subdir else self.filename


def locate(state_dir: Path, custom_nodes: Sequence[Path], search_path: Sequence[str] | None = None) -> list[Path]:
    """Every model list to read, in the order above. ``search_path``: where to look for the package
    (default: this Python's ``sys.path``)."""
    found = []
    refreshed = state_dir / "resolve" / REFRESHED
    if refreshed.is_file():
        found.append(refreshed)
    paths = list(search_path) if search_path is not None else None
    try:
        spec = importlib.machinery.PathFinder.find_spec(PACKAGE, paths)
    except (ImportError, ValueError):
        spec = None
    for directory in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(directory) / FILENAME
        if candidate.is_file():
            found.append(candidate)
    for root in custom_nodes:
        for clone in LEGACY_CLONES:
            candidate = Path(root) / clone / FILENAME
            if candidate.is_file() and candidate not in found:
                found.append(candidate)
    return found


def parse_size(text: object) -> int | None:
    match = _SIZE.match(text) if isinstance(text, str) else None
    if not match:
        return None
    prefix = match.group(2).upper()
    power = "KMGT".index(prefix) + 1 if prefix else 0
    return int(float(match.group(1)) * 1000**power)


def parse(data: object) -> list[Entry]:
    """The entries a loader can name (see the module docstring); odd ones are skipped."""
    models = data.get("models") if isinstance(data, dict) else None
    entries = []
    for item in models if isinstance(models, list) else []:
        entry = _entry(item) if isinstance(item, dict) else None
        if entry is not None:
            entries.append(entry)
    return entries


def _entry(item: dict) -> Entry | None:
    filename, url, save_path = item.get("filename"), item.get("url"), item.get("save_path")
    if not (isinstance(filename, str) and isinstance(url, str) and isinstance(save_path, str)):
        return None
    if not (filename and url and save_path):
        return None
    if unsafe_reason(filename) or "/" in filename or filename.startswith("<"):  # "<huggingface>": a repository
        return None
    folder: str | None
    if save_path == "default":
        folder, subdir = TYPE_FOLDERS.get(str(item.get("type", "")).lower()), ""
    else:
        head, _, subdir = save_path.strip("/").partition("/")
        folder = model_folders.canonical(head)
        if subdir and unsafe_reason(subdir):
            return None
    if folder is None:  # a custom node's own directory, or a folder no loader here knows
        return None
    try:
        source_from_url(url)
    except ValueError:
        return None
    return Entry(folder, subdir, filename, url, parse_size(item.get("size")), str(item.get("name") or filename))


class ManagerList:
    """The entries of every list found, by file name; re-read when a file changes."""

    def __init__(self) -> None:
        self._read: dict[Path, tuple[tuple[int, int], list[Entry]]] = {}
        self.paths: list[Path] = []
        self.by_name: dict[str, list[Entry]] = {}

    def load(self, paths: Sequence[Path]) -> ManagerList:
        """Read ``paths`` (blocking; unchanged files are not read again)."""
        changed = list(paths) != self.paths
        for path in paths:
            try:
                stat = path.stat()
            except OSError:
                continue
            stamp = (stat.st_mtime_ns, stat.st_size)
            if self._read.get(path, ((0, 0), []))[0] != stamp:
                self._read[path] = (stamp, _read(path))
                changed = True
        if changed:
            self.paths = list(paths)
            self.by_name = {}
            seen = set()
            for path in paths:
                for entry in self._read.get(path, ((0, 0), []))[1]:
                    if (entry.folder, entry.name, entry.url) not in seen:
                        seen.add((entry.folder, entry.name, entry.url))
                        self.by_name.setdefault(entry.filename.lower(), []).append(entry)
        return self

    @property
    def count(self) -> int:
        return sum(len(entries) for entries in self.by_name.values())

    def candidates(self, wanted: Wanted) -> list[Candidate]:
        entries = self.by_name.get(wanted.basename.lower(), [])
        same = [e for e in entries if e.folder == wanted.folder and e.filename == wanted.basename]
        # a workflow naming the subdirectory too ("SDXL/x.safetensors") means that one of several
        pinned = [e for e in same if e.name == wanted.name]
        found = []
        for entry in entries:
            sure = entry in pinned or (entry in same and not pinned)
            found.append(Candidate(
                "manager", EXACT if sure else NAME, source_from_url(entry.url), size=entry.size,
                where=f"ComfyUI-Manager's model list: {entry.title}",
                found_as=None if entry.folder == wanted.folder and entry.name == wanted.name
                else f"{entry.folder}/{entry.name}",
            ))
        return found


def _read(path: Path) -> list[Entry]:
    try:
        entries = parse(load_json(path.read_bytes()))
    except (OSError, DocumentError) as exc:
        log.warning("cannot read ComfyUI-Manager's model list %s: %s", path, exc)
        return []
    log.info("ComfyUI-Manager's model list %s: %d files a loader can name", path, len(entries))
    return entries


def save_refreshed(state_dir: Path, raw: bytes) -> int:
    """Keep a fetched list as our copy (blocking); the number of usable entries. DocumentError when
    it is not a model list, and nothing is written then."""
    from ..files import atomic_write_text

    data = load_json(raw)
    entries = parse(data)
    if not entries:
        raise DocumentError("not a ComfyUI-Manager model list: no `models` entries with filename, url and save_path")
    atomic_write_text(state_dir / "resolve" / REFRESHED, json.dumps(data))
    return len(entries)

