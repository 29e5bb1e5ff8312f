"""A file's installed state, read from the files on disk (never from a record that can lie).

One rule for every caller (the API, the CLI), per file, so two presets that share a file
can never disagree about it: a file is ``installed`` when it is on disk with the exact size
the catalog states (when it states one) and, when the catalog states a sha256, a record of
verified.py says these very bytes hashed to it; on disk without that record it is
``unverified`` (an install checks it). A preset is installed only when all its files are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..files import partial_path
from ..model_roots import ModelRoots
from .schema import ModelFile, Preset
from .verified import Check, passed

INSTALLED, PARTIAL, MISSING, WRONG_SIZE, UNVERIFIED = "installed", "partial", "missing", "wrong_size", "unverified"


@dataclass(frozen=True)
class OnDisk:
    """What is at a file's place: the file itself (path, size, mtime), or a partial download."""

    path: str | None = None
    size: int = 0
    mtime: float = 0.0
    partial: int | None = None  # bytes of ``<target>.part`` when a download is unfinished


@dataclass(frozen=True)
class FileState:
    file: ModelFile
    state: str  # installed | unverified | wrong_size | partial | missing
    path: str | None  # where it is, or where it will be written
    bytes_on_disk: int

    @property
    def verified(self) -> bool:
        return self.state == INSTALLED and self.file.sha256 is not None

    def to_dict(self) -> dict[str, object]:
        return {**self.file.to_dict(), "state": self.state, "path": self.path, "bytes_on_disk": self.bytes_on_disk,
                "verified": self.verified}


def judge(model_file: ModelFile, disk: OnDisk, target: str | None, checks: Mapping[str, Check]) -> FileState:
    """The state of ``model_file`` given what is on disk."""
    if disk.path is not None:
        if model_file.size is not None and disk.size != model_file.size:
            return FileState(model_file, WRONG_SIZE, disk.path, disk.size)
        ok = passed(checks, disk.path, disk.size, disk.mtime, model_file.sha256)
        return FileState(model_file, INSTALLED if ok else UNVERIFIED, disk.path, disk.size)
    if disk.partial is not None:
        return FileState(model_file, PARTIAL, target, disk.partial)
    return FileState(model_file, MISSING, target, 0)


def overall(files: list[FileState]) -> str:
    """installed | partial | missing for a preset with these file states."""
    installed = sum(1 for f in files if f.state == INSTALLED)
    if installed == len(files):
        return INSTALLED
    if installed or any(f.state in (PARTIAL, UNVERIFIED, WRONG_SIZE) for f in files):
        return PARTIAL
    return MISSING


def file_state(model_file: ModelFile, roots: ModelRoots, checks: Mapping[str, Check] | None = None) -> FileState:
    """Look at the disk directly (the CLI); the service reads the model library's listing instead."""
    target: str | None
    try:
        target = str(roots.target(model_file.folder, model_file.name))
    except KeyError:
        target = None
    found = roots.find(model_file.folder, model_file.name)
    if found is not None:
        st = found.stat()
        return judge(model_file, OnDisk(str(found), st.st_size, st.st_mtime), target, checks or {})
    partial = partial_path(roots.target(model_file.folder, model_file.name)) if target else None
    size = partial.stat().st_size if partial is not None and partial.is_file() else None
    return judge(model_file, OnDisk(partial=size), target, checks or {})


def preset_state(
    preset: Preset, roots: ModelRoots, checks: Mapping[str, Check] | None = None
) -> tuple[str, list[FileState]]:
    """(installed | partial | missing, per-file states)."""
    files = [file_state(f, roots, checks) for f in preset.files]
    return overall(files), files
