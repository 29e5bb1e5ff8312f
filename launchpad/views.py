"""The API's read views, made from what the service gathers: plain functions of plain data.

A preset row joins the catalog, the model library's listing (catalog/state.py's rule decides
each file's state) and the downloads' progress; a preset's detail adds each file's path, job
and other presets; the queue view is ComfyUI's prompt queue in brief.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .catalog.schema import ModelFile, Preset
from .catalog.state import INSTALLED, FileState, file_state_of, overall_state
from .files import is_pickle
from .model_library import Listing
from .model_roots import ModelRoots

if TYPE_CHECKING:
    from .downloads.api import JobData, PresetProgress


def file_state(model_file: ModelFile, listing: Listing, target: str | None = None) -> FileState:
    """catalog/state.py's rule, fed from the library's cached listing instead of the disk."""
    entry = listing.by_key.get(model_file.key)
    found = (entry.path, entry.size) if entry is not None else None
    return file_state_of(model_file, found, listing.partials.get(model_file.key), target)


def preset_row(
    preset: Preset, listing: Listing, progress: PresetProgress | None, files: Sequence[FileState] | None = None
) -> dict[str, Any]:
    """A preset as the presets list shows it: its summary, installed state and download progress."""
    states = files if files is not None else [file_state(f, listing) for f in preset.files]
    installed = [f for f in states if f.state == INSTALLED]
    return {
        **preset.summary(),
        "state": overall_state(states),
        "files_installed": len(installed),
        "bytes_installed": sum(f.bytes_on_disk for f in installed),
        "progress": dict(progress) if progress else None,
    }


def preset_detail(
    preset: Preset, listing: Listing, roots: ModelRoots, owners: Mapping[str, list[str]],
    jobs: Mapping[str, JobData], progress: PresetProgress | None,
) -> dict[str, Any]:
    """A preset's row plus each file: state, path (where it is or will be), job, other presets."""
    states = []
    files = []
    for model_file in preset.files:
        entry = listing.by_key.get(model_file.key)
        target = None
        if entry is None:
            try:
                target = str(roots.target(model_file.folder, model_file.name))
            except KeyError:
                target = None
        state = file_state(model_file, listing, target)
        states.append(state)
        files.append(
            {
                **state.to_dict(),
                "model_id": entry.id if entry is not None else None,
                "used_by": [p for p in owners.get(model_file.key, []) if p != preset.id],
                "job": jobs.get(model_file.key),
                "pickle": is_pickle(model_file.name),
            }
        )
    return {**preset_row(preset, listing, progress, states), "files": files}


def latest_jobs(jobs: Sequence[JobData]) -> dict[str, JobData]:
    """The most recently updated job of each file key."""
    latest: dict[str, JobData] = {}
    for job in jobs:
        current = latest.get(job["key"])
        if current is None or job["updated_at"] >= current["updated_at"]:
            latest[job["key"]] = job
    return latest


def queue_view(running: Sequence[Any], pending: Sequence[Any]) -> dict[str, object]:
    """ComfyUI's running and pending prompts in brief, pending in the order they will run."""
    rows_running = [_queue_item(item) for item in running]
    rows_pending = sorted((_queue_item(item) for item in pending), key=lambda r: r["number"])
    return {
        "running": rows_running,
        "pending": rows_pending,
        "remaining": len(rows_running) + len(rows_pending),
        "available": True,
    }


def _queue_item(item: Any) -> dict[str, Any]:
    """A ComfyUI queue entry ``[number, prompt_id, prompt, extra_data, outputs, ...]`` in brief."""
    number, prompt_id = item[0], item[1]
    prompt = item[2] if len(item) > 2 and isinstance(item[2], dict) else {}
    extra = item[3] if len(item) > 3 and isinstance(item[3], dict) else {}
    client_id = extra.get("client_id")
    return {
        "number": number if isinstance(number, (int, float)) else 0,
        "prompt_id": str(prompt_id),
        "node_count": len(prompt),
        "client_id": client_id if isinstance(client_id, str) else None,
    }
