"""Which of a preset's files an uninstall may delete, and deleting them.

A file stays when another installed preset uses it, or when a running job (of any preset or
group) still wants it; the answer names who keeps it. Everything else goes, partial file and
sidecar included, from every directory the folder spans.
"""

from __future__ import annotations

from ..catalog.loader import Catalog
from ..catalog.schema import Preset
from ..catalog.state import INSTALLED, preset_state
from ..catalog.verified import VerifiedFiles
from ..files import partial_path
from ..model_roots import ModelRoots
from . import resume
from .api import KeptFile, UninstallResult
from .jobs import Job


def remove_files(
    catalog: Catalog, preset: Preset, roots: ModelRoots, active: dict[str, Job], verified: VerifiedFiles
) -> UninstallResult:
    """Delete ``preset``'s files that nobody else needs (``active``: running jobs by file key). Blocking."""
    deleted: list[str] = []
    kept: list[KeptFile] = []
    installed: dict[str, bool] = {}
    for model_file in preset.files:
        users = []
        for other in catalog.users_of(model_file.key):
            if other == preset.id:
                continue
            if other not in installed:
                installed[other] = preset_state(catalog.get(other), roots, verified.load())[0] == INSTALLED
            if installed[other]:
                users.append(other)
        job = active.get(model_file.key)
        if job is not None:
            users.extend(p for p in job.preset_ids if p not in users)
        if users:
            kept.append({"key": model_file.key, "used_by": users})
            continue
        for path in roots.candidates(model_file.folder, model_file.name):
            for candidate in (path, partial_path(path)):
                if candidate.is_file():
                    candidate.unlink()
                    deleted.append(str(candidate))
            resume.discard(partial_path(path))
    return {"deleted": deleted, "kept": kept}


def forgettable(jobs: list[Job | None], preset_id: str) -> list[Job]:
    """The finished jobs an uninstall of ``preset_id`` forgets: those of no other preset or group.
    A job another preset shares stays, so that preset's progress still counts its file."""
    return [job for job in jobs if job is not None and not job.active and job.preset_ids == [preset_id]]
