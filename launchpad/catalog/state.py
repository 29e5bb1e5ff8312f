"""A preset's installed state, read from the files on disk (never from a record that can lie).

The one rule, whoever asks: a file is installed when a file of its name is in its folder with
the size the preset lists (any size when it lists none), wrong_size when the size differs,
partial when only a download's ``.part`` is there, missing otherwise; a preset is installed
when every file is, partial when some file is installed or partial, missing otherwise. The CLI
and uninstall look at the disk (:func:`file_state`); the service feeds the same rule from the
model library's cached listing (:func:`file_state_of`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..files import partial_path
from ..model_roots import ModelRoots
from .schema import ModelFile, Preset

INSTALLED, PARTIAL, MISSING, WRONG_SIZE = "installed", "partial", "missing", "wrong_size"


@dataclass(frozen=True)
class FileState:
    file: ModelFile
    state: str  # installed | partial | wrong_size | missing
    path: str | None  # where it is, or where it will be written
    bytes_on_disk: int

    def to_dict(self) -> dict[str, object]:
        return {**self.file.to_dict(), "state": self.state, "path": self.path, "bytes_on_disk": self.bytes_on_disk}


def file_state_of(
    model_file: ModelFile, found: tuple[str, int] | None, partial: int | None, target: str | None
) -> FileState:
    """The rule itself: ``found`` is (path, size) of the file when it is on disk, ``partial`` the
    bytes of its partial download when there is one, ``target`` where a download would write it."""
    if found is not None:
        path, size = found
        ok = model_file.size is None or size == model_file.size
        return FileState(model_file, INSTALLED if ok else WRONG_SIZE, path, size)
    if partial is not None:
        return FileState(model_file, PARTIAL, target, partial)
    return FileState(model_file, MISSING, target, 0)


def overall_state(files: Sequence[FileState]) -> str:
    """installed | partial | missing, for a preset whose files are in these states."""
    installed = sum(1 for f in files if f.state == INSTALLED)
    if installed == len(files):
        return INSTALLED
    if installed or any(f.state == PARTIAL for f in files):
        return PARTIAL
    return MISSING


def file_state(model_file: ModelFile, roots: ModelRoots) -> FileState:
    """The file's state, looked up on disk. Blocking."""
    found = roots.find(model_file.folder, model_file.name)
    if found is not None:
        return file_state_of(model_file, (str(found), found.stat().st_size), None, None)
    try:
        target = roots.target(model_file.folder, model_file.name)
    except KeyError:
        return file_state_of(model_file, None, None, None)
    partial = partial_path(target)
    size = partial.stat().st_size if partial.is_file() else None
    return file_state_of(model_file, None, size, str(target))


def preset_state(preset: Preset, roots: ModelRoots) -> tuple[str, list[FileState]]:
    """(installed | partial | missing, per-file states), looked up on disk. Blocking."""
    files = [file_state(f, roots) for f in preset.files]
    return overall_state(files), files
