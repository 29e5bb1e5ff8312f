"""A preset's installed state, read from the files on disk (never from a record that can lie)."""

from __future__ import annotations

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


def file_state(model_file: ModelFile, roots: ModelRoots) -> FileState:
    found = roots.find(model_file.folder, model_file.name)
    if found is not None:
        size = found.stat().st_size
        ok = model_file.size is None or size == model_file.size
        return FileState(model_file, INSTALLED if ok else WRONG_SIZE, str(found), size)
    try:
        target = roots.target(model_file.folder, model_file.name)
    except KeyError:
        return FileState(model_file, MISSING, None, 0)
    partial = partial_path(target)
    if partial.is_file():
        return FileState(model_file, PARTIAL, str(target), partial.stat().st_size)
    return FileState(model_file, MISSING, str(target), 0)


def preset_state(preset: Preset, roots: ModelRoots) -> tuple[str, list[FileState]]:
    """(installed | partial | missing, per-file states)."""
    files = [file_state(f, roots) for f in preset.files]
    installed = sum(1 for f in files if f.state == INSTALLED)
    if installed == len(files):
        overall = INSTALLED
    elif installed or any(f.state == PARTIAL for f in files):
        overall = PARTIAL
    else:
        overall = MISSING
    return overall, files
