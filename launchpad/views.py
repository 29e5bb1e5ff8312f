"""The API's read views, made from what the service gathers: plain functions of plain data.

A preset row joins the catalog, the model library's listing (catalog/state.py's rule decides
each file's state, with the verified-files record) and the downloads' progress; a preset's
detail adds each file's path, size figure, job and other presets; the queue view is ComfyUI's
prompt queue in brief; a page of models carries each file's presets and the pods serving it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .catalog.loader import Catalog
from .catalog.schema import ModelFile, Preset
from .catalog.state import INSTALLED, FileState, OnDisk, judge, overall
from .files import is_pickle
from .model_library import Listing, Page
from .model_roots import ModelRoots

if TYPE_CHECKING:
    from .catalog.verified import Check
    from .downloads.api import JobData, PresetProgress
    from .leases import PodLease


def file_states(
    preset: Preset, listing: Listing, checks: Mapping[str, Check], roots: ModelRoots | None = None
) -> list[FileState]:
    """Each file's state from the model listing; with ``roots``, where a missing one would go."""
    states = []
    for model_file in preset.files:
        entry = listing.by_key.get(model_file.key)
        if entry is not None:
            disk = OnDisk(entry.path, entry.size, entry.mtime)
        else:
            disk = OnDisk(partial=listing.partials.get(model_file.key))
        states.append(judge(model_file, disk, _target(roots, model_file) if roots else None, checks))
    return states


def preset_row(
    catalog: Catalog, preset: Preset, listing: Listing, checks: Mapping[str, Check],
    progress: PresetProgress | None, comfyui: str | None, files: Sequence[FileState] | None = None,
) -> dict[str, Any]:
    """A preset as the presets list shows it: its summary, installed state and download progress."""
    states = list(files) if files is not None else file_states(preset, listing, checks)
    passed = [f for f in states if f.state == INSTALLED]
    return {
        **catalog.summary(preset, comfyui),
        "state": overall(states),
        "files_installed": len(passed),
        "bytes_installed": sum(f.bytes_on_disk for f in passed),
        "progress": dict(progress) if progress else None,
    }


def preset_files(
    catalog: Catalog, preset: Preset, listing: Listing, states: Sequence[FileState],
    owners: Mapping[str, list[str]], jobs: Mapping[str, JobData],
) -> list[dict[str, Any]]:
    """A preset's files for its detail: state, where it is or will be, its size figure, its job."""
    files = []
    for state in states:
        model_file = state.file
        entry = listing.by_key.get(model_file.key)
        figure = catalog.figures.get(model_file.key)
        files.append(
            {
                **state.to_dict(),
                "expected_size": figure.bytes if figure else None,
                "size_estimated": figure.estimated if figure else True,
                "size_basis": figure.basis if figure else None,
                "model_id": entry.id if entry is not None else None,
                "used_by": [p for p in owners.get(model_file.key, []) if p != preset.id],
                "job": jobs.get(model_file.key),
                "pickle": is_pickle(model_file.name),
            }
        )
    return files


def latest_jobs(jobs: Sequence[JobData]) -> dict[str, JobData]:
    """The most recently updated job of each file key."""
    latest: dict[str, JobData] = {}
    for job in jobs:
        current = latest.get(job["key"])
        if current is None or job["updated_at"] >= current["updated_at"]:
            latest[job["key"]] = job
    return latest


def _target(roots: ModelRoots, model_file: ModelFile) -> str | None:
    try:
        return str(roots.target(model_file.folder, model_file.name))
    except KeyError:
        return None


def _queue_item(item: Any, seen: dict[str, float]) -> dict[str, Any]:
    """A ComfyUI queue entry ``[number, prompt_id, prompt, extra_data, outputs, ...]`` in brief.

    ``queued_at``: when ComfyUI queued it (its ``create_time``, ComfyUI 0.33 and later), else None;
    ``seen_at``: when Launchpad first saw it in the queue (``seen`` remembers that). ``workflow_id``:
    the id of the workflow the frontend sent with it, which the frontend can name.
    """
    number, prompt_id = item[0], str(item[1])
    prompt = item[2] if len(item) > 2 and isinstance(item[2], dict) else {}
    extra = item[3] if len(item) > 3 and isinstance(item[3], dict) else {}
    client_id = extra.get("client_id")
    created = extra.get("create_time")  # milliseconds
    pnginfo = extra.get("extra_pnginfo")
    workflow = pnginfo.get("workflow") if isinstance(pnginfo, dict) else None
    workflow_id = workflow.get("id") if isinstance(workflow, dict) else None
    return {
        "number": number if isinstance(number, (int, float)) else 0,
        "prompt_id": prompt_id,
        "node_count": len(prompt),
        "client_id": client_id if isinstance(client_id, str) else None,
        "workflow_id": workflow_id if isinstance(workflow_id, str) else None,
        "queued_at": created / 1000 if isinstance(created, (int, float)) and not isinstance(created, bool) else None,
        "seen_at": seen.setdefault(prompt_id, time.time()),
    }


def queue_view(running: Sequence[Any], pending: Sequence[Any], seen: dict[str, float]) -> dict[str, Any]:
    """ComfyUI's running and pending prompts in brief, pending in the order they will run. ``seen``
    (prompt id -> when first seen) is updated, and forgets prompts no longer queued."""
    rows_running = [_queue_item(item, seen) for item in running]
    rows_pending = sorted((_queue_item(item, seen) for item in pending), key=lambda r: r["number"])
    listed = {row["prompt_id"] for row in (*rows_running, *rows_pending)}
    for prompt_id in [k for k in seen if k not in listed]:
        del seen[prompt_id]
    return {
        "running": rows_running,
        "pending": rows_pending,
        "remaining": len(rows_running) + len(rows_pending),
        "available": True,
    }


def models_page(
    page: Page, listing: Listing, owners: Mapping[str, list[str]], space: Mapping[str, dict[str, int | None]],
    pods: Mapping[str, Sequence[PodLease]], own_lease: str | None,
) -> dict[str, Any]:
    """GET /launchpad/models: a page of the listing, each file with its presets and the pods serving it."""
    return {
        "models": [
            {**entry.to_dict(owners), "pods": [pod.to_dict(entry.key, own_lease) for pod in pods.get(entry.key, [])]}
            for entry in page.models
        ],
        "total": page.total,
        "total_bytes": page.total_bytes,
        "offset": page.offset,
        "limit": page.limit,
        "folders": listing.folders,
        "space": space,
    }


def free_space(roots: ModelRoots, folders: Sequence[str]) -> dict[str, dict[str, int | None]]:
    """Free and total bytes of the disk each folder downloads to. Blocking (statvfs per folder)."""
    from .system.disks import disk_usage

    space: dict[str, dict[str, int | None]] = {}
    for name in folders:
        dirs = roots.dirs(name)
        if dirs:
            usage = disk_usage(name, dirs[0], [])
            space[name] = {"free": usage.free, "total": usage.total}
    return space
