"""Where each model folder's files live on disk, as plain data the core can use anywhere.

Standalone, the roots come from the workspace layout (and the directories adopted from an old
tree, after the workspace's). Inside ComfyUI the HTTP layer builds
them from ComfyUI's ``folder_paths`` so the user's own extra paths count too. The first
directory of a folder is where downloads go (ComfyUI's default for that folder).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from . import model_folders
from .files import join_inside
from .migrate import adopted
from .workspace import Workspace


@dataclass(frozen=True)
class ModelRoots:
    folders: Mapping[str, tuple[Path, ...]]

    @classmethod
    def for_workspace(cls, workspace: Workspace) -> ModelRoots:
        """The workspace's directories, then the old ones `launchpad migrate --adopt` left in place."""
        folders: dict[str, tuple[Path, ...]] = {}
        for folder in model_folders.MODEL_FOLDERS:
            ordered = (folder.target_dir, *[d for d in reversed(folder.dirs) if d != folder.target_dir])
            folders[folder.name] = tuple(workspace.models / d for d in ordered)
        for name, directory in adopted.directories(workspace.config):
            if directory not in folders.get(name, ()):
                folders[name] = (*folders.get(name, ()), directory)
        return cls(folders)

    def dirs(self, folder: str) -> tuple[Path, ...]:
        name = model_folders.canonical(folder) or folder
        return self.folders.get(name, ())

    def target(self, folder: str, name: str) -> Path:
        """Where a download of ``folder/name`` is written. KeyError for a folder with no directory."""
        dirs = self.dirs(folder)
        if not dirs:
            raise KeyError(folder)
        return join_inside(dirs[0], name)

    def candidates(self, folder: str, name: str) -> Iterator[Path]:
        for root in self.dirs(folder):
            yield join_inside(root, name)

    def find(self, folder: str, name: str) -> Path | None:
        """The first existing file for ``folder/name`` across the folder's directories."""
        return next((path for path in self.candidates(folder, name) if path.is_file()), None)

    def all_roots(self) -> list[tuple[str, Path]]:
        """(folder, directory) pairs, each directory once (a directory may serve several folders)."""
        seen: set[Path] = set()
        pairs = []
        for folder, dirs in self.folders.items():
            for directory in dirs:
                if directory not in seen:
                    seen.add(directory)
                    pairs.append((folder, directory))
        return pairs
