"""The record of adopted model directories: old folders ComfyUI reads where they are.

``<workspace>/config/adopted_model_dirs.json`` lists each adoption (one entry per old tree:
its id, where it came from, and per ComfyUI folder the old directories). ``model_paths``
renders one section of extra_model_paths.yaml per entry, after the workspace's own, so the
workspace stays every folder's default; ``ModelRoots.for_workspace`` lists them after the
workspace's directories; inside ComfyUI the pack adds them to ``folder_paths`` while it runs.
Removing an entry (by hand, or with `launchpad migrate --undo`) ends that adoption.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..files import atomic_write_text

FILE_NAME = "adopted_model_dirs.json"
VERSION = 1


@dataclass(frozen=True)
class Adoption:
    id: str
    source: str  # the old tree's root
    layout: str
    folders: Mapping[str, tuple[str, ...]]  # ComfyUI folder -> old directories
    at: float = 0.0

    @property
    def section(self) -> str:
        """Its section name in extra_model_paths.yaml."""
        return f"adopted_{self.id}"

    def to_dict(self) -> dict[str, object]:
        folders = {name: list(dirs) for name, dirs in self.folders.items()}
        return {"id": self.id, "source": self.source, "layout": self.layout, "at": self.at, "folders": folders}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Adoption:
        folders = data.get("folders")
        if not isinstance(folders, dict):
            raise ValueError("folders must be a mapping of folder names to lists of directories")
        return cls(
            id=str(data["id"]),
            source=str(data["source"]),
            layout=str(data.get("layout", "")),
            folders={str(k): tuple(str(d) for d in v) for k, v in folders.items() if isinstance(v, list)},
            at=_seconds(data.get("at")),
        )


def path(config_dir: Path) -> Path:
    return config_dir / FILE_NAME


def load(config_dir: Path) -> list[Adoption]:
    """Every adoption in the record; an entry that cannot be read is left out (and stays in the file)."""
    try:
        data = json.loads(path(config_dir).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError):
        return []
    entries = data.get("adopted") if isinstance(data, dict) else None
    found = []
    for entry in entries if isinstance(entries, list) else []:
        try:
            found.append(Adoption.from_dict(entry))
        except (KeyError, TypeError, ValueError):
            continue
    return found


def save(config_dir: Path, adoptions: Sequence[Adoption]) -> None:
    data = {"version": VERSION, "adopted": [a.to_dict() for a in adoptions]}
    atomic_write_text(path(config_dir), json.dumps(data, indent=2) + "\n")


def add(config_dir: Path, adoption: Adoption) -> None:
    save(config_dir, [*[a for a in load(config_dir) if a.id != adoption.id], adoption])


def remove(config_dir: Path, adoption_id: str) -> Adoption | None:
    """Take an adoption out of the record; the entry removed, or None when it was not there."""
    current = load(config_dir)
    gone = next((a for a in current if a.id == adoption_id), None)
    if gone is not None:
        save(config_dir, [a for a in current if a.id != adoption_id])
    return gone


def new_id(source: Path) -> str:
    """A sortable id, readable in a YAML section name: time, the old tree's name, a random part."""
    stamp = time.strftime("%Y%m%d_%H%M%S", time.gmtime())
    name = "".join(ch if ch.isalnum() else "_" for ch in source.name)[:32] or "root"
    return f"{stamp}_{name}_{uuid.uuid4().hex[:4]}"


def directories(config_dir: Path) -> list[tuple[str, Path]]:
    """(folder, directory) for every adopted directory, in the record's order. Blocking: a small read."""
    return [(folder, Path(d)) for a in load(config_dir) for folder, dirs in a.folders.items() for d in dirs]


def signature(config_dir: Path) -> tuple[int, int] | None:
    """Changes when the record does (mtime and size), for a cheap poll; None while there is none."""
    try:
        stat = path(config_dir).stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _seconds(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0
