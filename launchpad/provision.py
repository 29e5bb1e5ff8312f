"""Making sure a catalog file or a whole preset is on disk, from a thread that is not the loop.

ComfyUI runs nodes in its prompt worker thread, while the service lives on the server's event
loop (and its download manager on a loop of its own). A :class:`Provisioner` hands the
install to the service on the server loop (``run_coroutine_threadsafe``), then waits in the
calling thread for the jobs to end, following their ``launchpad.download`` events: it reports
bytes as they arrive and, between events, asks the caller whether to stop (ComfyUI's interrupt).
Nothing here imports ComfyUI; the nodes pass in ComfyUI's progress bar and interrupt check.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from . import model_folders
from .downloads.jobs import JobState
from .errors import DownloadError, InvalidInput, NotFound
from .events import DOWNLOAD

if TYPE_CHECKING:
    from .catalog import Catalog, ModelFile
    from .downloads.api import InstallResult, JobData
    from .service import LaunchpadService

T = TypeVar("T")
POLL = 0.25  # seconds between checks for an interrupt while nothing arrives
Progress = Callable[[int, int | None], None]  # (bytes done, bytes in all or None while unknown)


def _never() -> None:
    return None


def split_key(model: str) -> tuple[str, str]:
    """``"folder/name"`` -> (canonical folder, name); InvalidInput when it names no model folder."""
    folder, _, name = (model or "").strip().partition("/")
    canonical = model_folders.canonical(folder)
    if canonical is None or not name:
        raise InvalidInput(f"{model!r} does not name a model as folder/file, like checkpoints/model.safetensors")
    return canonical, name


def find_file(catalog: Catalog, model: str, preset: str | None = None) -> ModelFile:
    """The catalog's file that ``model`` (``folder/name``) names; inside ``preset`` when one is given."""
    folder, name = split_key(model)
    key = f"{folder}/{name}"
    if preset:
        chosen = catalog.get(preset)  # NotFound names the id
        for model_file in chosen.files:
            if model_file.key == key:
                return model_file
        listed = ", ".join(f.key for f in chosen.files)
        raise NotFound(f"preset {preset} has no file {key}; its files are: {listed}",
                       details={"preset": preset, "key": key})
    for candidate in catalog.presets.values():
        for model_file in candidate.files:
            if model_file.key == key:
                return model_file
    raise NotFound(
        f"no preset in the catalog lists {key}. Pick a file from the node's list, or add it to one of your "
        "presets (config/presets/*.yaml in the Launchpad workspace) with its source",
        details={"key": key},
    )


class Provisioner:
    """Installs through ``service`` (running on ``loop``) and waits for it from another thread."""

    def __init__(self, service: LaunchpadService, loop: asyncio.AbstractEventLoop) -> None:
        self.service = service
        self.loop = loop

    def catalog(self, check: Callable[[], None] = _never) -> Catalog:
        return self._call(self.service.catalog(), check)

    def ensure_file(
        self, model: str, preset: str | None = None, *, label: str = "node:LaunchpadModel",
        progress: Progress | None = None, check: Callable[[], None] = _never,
    ) -> Path:
        """The path of ``model`` on disk, downloading it first when it is missing."""
        model_file = find_file(self.catalog(check), model, preset)
        service = self.service
        return self._ensure([model_file], lambda: service.install_files([model_file], label), progress, check)[0]

    def ensure_preset(
        self, preset_id: str, *, progress: Progress | None = None, check: Callable[[], None] = _never
    ) -> list[Path]:
        """The paths of every file of ``preset_id``, installing the preset first when any is missing."""
        preset = self.catalog(check).get(preset_id)
        service = self.service
        return self._ensure(list(preset.files), lambda: service.install([preset.id]), progress, check)

    # --- waiting ------------------------------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T], check: Callable[[], None]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        while True:
            try:
                return future.result(timeout=POLL)
            except concurrent.futures.TimeoutError:
                try:
                    check()
                except BaseException:
                    future.cancel()
                    raise

    def _ensure(
        self, files: Sequence[ModelFile], start: Callable[[], Awaitable[InstallResult]],
        progress: Progress | None, check: Callable[[], None],
    ) -> list[Path]:
        keys = {f.key for f in files}
        events: queue.Queue[JobData] = queue.Queue()

        def listen(kind: str, data: Mapping[str, object]) -> None:  # on the loop; never blocks
            if kind == DOWNLOAD and data.get("key") in keys:
                events.put(cast("JobData", data))  # a launchpad.download payload is a job

        # listening before the install starts: no event of its jobs can be missed
        unsubscribe = self.service.bus.subscribe(listen)
        try:
            result = self._call(_awaited(start), check)
            jobs: dict[str, JobData] = {job["key"]: job for job in result["jobs"]}
            _report(progress, jobs)
            while any(job["active"] for job in jobs.values()):
                try:
                    data = events.get(timeout=POLL)
                except queue.Empty:
                    check()
                    continue
                current = jobs.get(data["key"])
                if current is not None and data["id"] == current["id"]:
                    jobs[data["key"]] = data
                    _report(progress, jobs)
        finally:
            unsubscribe()
        failed = [job for job in jobs.values() if job["state"] != JobState.DONE]
        if failed:
            reasons = "; ".join(
                f"{job['key']}: {(job.get('error') or {}).get('message') or job['state']}" for job in failed
            )
            raise DownloadError(f"could not install {reasons}", details={"keys": [job["key"] for job in failed]})
        roots = self.service.roots
        paths = []
        for model_file in files:
            found = roots.find(model_file.folder, model_file.name)
            if found is None:
                raise DownloadError(
                    f"{model_file.key} is not on disk after its download; check the Launchpad log",
                    details={"key": model_file.key},
                )
            paths.append(found)
        return paths


async def _awaited(start: Callable[[], Awaitable[InstallResult]]) -> InstallResult:
    return await start()  # created here, on the service's loop


def _report(progress: Progress | None, jobs: Mapping[str, JobData]) -> None:
    if progress is None or not jobs:
        return
    done = sum(job["bytes_done"] for job in jobs.values())
    totals = [job["bytes_total"] for job in jobs.values()]
    progress(done, sum(t for t in totals if t is not None) if None not in totals else None)
