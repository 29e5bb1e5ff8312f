"""The core service: one object behind every HTTP route, inside ComfyUI and standalone.

It owns the settings, the workspace, the event bus, the catalog (reloaded when the user's
presets change), the download manager, the system sampler and the model library, and answers
in plain JSON-ready data. It never imports ComfyUI: the host passes in what differs (where
the model folders are, ComfyUI's queue, versions) as callables.

Construction is cheap and import-light (ComfyUI builds it while importing custom nodes);
:meth:`start` does the slow work (catalog, download journal) and is awaited by every route
that needs it through :meth:`ready`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__, events, model_folders
from .catalog.loader import Catalog
from .catalog.rows import comfyui_note, comfyui_ok, sort_rows
from .catalog.schema import HFSource, ModelFile, Preset, UrlSource
from .catalog.state import INSTALLED, FileState, OnDisk, judge, overall
from .catalog.store import CatalogStore
from .catalog.verified import VerifiedFiles
from .config import Settings
from .errors import Conflict, InvalidInput, LaunchpadError, NotFound, WorkspaceError
from .events import EventBus
from .files import is_pickle
from .migrate.status import overview as migration_overview
from .model_library import ModelEntry, ModelLibrary
from .model_roots import ModelRoots
from .resolve.chain import Known, ModelResolver
from .url_policy import check_custom_url
from .workflow_models import NeededModel, analyze, choose, group_label, summarize
from .workspace import Workspace

log = logging.getLogger("launchpad.service")

WATCH_TTL = 30.0  # seconds a watch lease lives unless renewed
ACTIVE_STATES = ("queued", "resolving", "downloading", "verifying")
QueueReader = Callable[[], tuple[Sequence[Any], Sequence[Any]]]


@dataclass
class Host:
    """What the process hosting Launchpad provides; the defaults are the standalone ones."""

    mode: str = "standalone"  # "standalone" | "comfyui"
    roots: Callable[[], ModelRoots] | None = None  # default: the workspace layout
    queue: QueueReader | None = None  # ComfyUI's (running, pending); none standalone
    versions: Callable[[], Mapping[str, str | None]] | None = None  # ComfyUI, frontend, ...
    disk_paths: Callable[[], Mapping[str, Path]] | None = None  # default: workspace, models, output
    # how the host's queue cancels a prompt: "jobs" (ComfyUI's jobs API), "queue" (/interrupt, /queue)
    queue_cancel: str | None = None
    create_layout: bool = True  # standalone owns the workspace layout; inside ComfyUI only our state dirs
    ask_sizes: bool = False  # long-running hosts ask the sources for unknown sizes in the background
    custom_nodes: Callable[[], Sequence[Path]] | None = None  # default: <workspace>/custom_nodes


class LaunchpadService:
    def __init__(self, settings: Settings, host: Host | None = None, *, bus: EventBus | None = None) -> None:
        self.settings = settings
        self.host = host or Host()
        self.workspace = Workspace(settings.workspace)
        self.bus = bus or EventBus()
        self.started_at = time.time()
        self._roots = self.host.roots or (lambda: ModelRoots.for_workspace(self.workspace))
        self.catalogs = CatalogStore(
            self.workspace.user_presets, templates_dir=settings.templates_dir, state_dir=self.workspace.state,
            on_change=self._catalog_changed,
        )
        self.verified = VerifiedFiles(self.workspace.state)
        self.library = ModelLibrary(self._roots)
        custom_nodes = self.host.custom_nodes or (lambda: [self.workspace.root / "custom_nodes"])
        self.resolver = ModelResolver(settings, self.workspace.state, custom_nodes=custom_nodes, bus=self.bus)
        # the download manager, in a worker process (download_worker.py), started in start()
        self.downloads: Any = None
        self.system: Any = None  # SystemSampler, built in start() (it imports psutil / NVML)
        self.reader: Any = None  # SystemReader
        self._ready: asyncio.Future[None] | None = None
        self._start_error: BaseException | None = None
        self._owners_cache: tuple[int, dict[str, list[str]]] = (-1, {})
        self.counters = DownloadCounters()
        self._background: set[asyncio.Future[Any]] = set()
        self._sizing: asyncio.Future[int] | None = None
        self.bus.subscribe(self.counters.on_event)
        self._queue_seen: dict[str, float] = {}  # prompt id -> when Launchpad first saw it queued

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def roots(self) -> ModelRoots:
        return self._roots()

    async def start(self) -> None:
        """Prepare the workspace, load the catalog, start the download manager and sampler."""
        loop = asyncio.get_running_loop()
        if self._ready is None:
            self._ready = loop.create_future()
        try:
            await asyncio.to_thread(self._prepare_workspace)
            # the worker process loads its own copy of the catalog meanwhile
            await asyncio.gather(asyncio.to_thread(self.catalogs.load), self._start_downloads())
            self._build_system()
            self.ask_sizes()
            if self.settings.preset_download:
                self._install_at_boot(self.settings.preset_download)
        except BaseException as exc:
            self._start_error = exc
            if not self._ready.done():
                self._ready.set_exception(exc if isinstance(exc, LaunchpadError) else _not_started(exc))
                self._ready.exception()  # mark retrieved: routes report it, asyncio need not
            log.exception("Launchpad could not start; its routes answer with the error")
            if not isinstance(exc, Exception):
                raise
            return
        if not self._ready.done():
            self._ready.set_result(None)
        log.info(
            "Launchpad %s ready (%s) on workspace %s: %d presets",
            __version__, self.host.mode, self.workspace.root, len(self.catalogs.current().presets),
        )

    def _prepare_workspace(self) -> None:
        if self.host.create_layout:
            self.workspace.ensure()
            return
        for path in (self.workspace.logs, self.workspace.user_presets, self.workspace.state, self.workspace.cache):
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise WorkspaceError(
                    f"cannot create {path}: {exc.strerror}; set WORKSPACE_ROOT to a writable directory"
                ) from exc

    def _build_system(self) -> None:
        from .system import SystemReader, SystemSampler

        if self.system is None:
            self.reader = SystemReader(self._disk_paths())
            self.system = SystemSampler(self._read_system, self.bus)

    async def _start_downloads(self) -> None:
        from .download_worker import DownloadWorker

        worker = DownloadWorker(self.settings, self.bus, self._roots)
        try:
            await worker.start()
        except NotImplementedError:  # an event loop without subprocess support (Windows selector loop)
            log.warning("cannot start the download worker process here; downloading in this process instead")
            from .background import LocalDownloads
            from .downloads import DownloadManager

            manager = DownloadManager(
                self.settings, self.workspace, self.bus, catalog=self.catalogs.current, roots=self._roots
            )
            local = LocalDownloads(manager)
            await local.start()
            self.downloads = local
            return
        self.downloads = worker

    def _disk_paths(self) -> dict[str, Path]:
        if self.host.disk_paths is not None:
            return dict(self.host.disk_paths())
        return {"workspace": self.workspace.root, "models": self.workspace.models, "output": self.workspace.output}

    def _read_system(self) -> dict:
        versions = {k: v for k, v in (self.host.versions() if self.host.versions else {}).items() if v}
        return self.reader.read(versions)

    def _install_at_boot(self, preset_ids: Sequence[str]) -> None:
        catalog = self.catalogs.current()
        known = list(dict.fromkeys(catalog.get(p).id for p in preset_ids if p in catalog))
        for unknown in sorted({p for p in preset_ids if p not in catalog}):
            log.warning("PRESET_DOWNLOAD names unknown preset %r; skipped (see GET /launchpad/presets)", unknown)
        if known:
            log.info("PRESET_DOWNLOAD: installing %s in the background", ", ".join(known))
            task = asyncio.ensure_future(self.downloads.install(known))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            task.add_done_callback(_log_task_failure)

    async def ready(self) -> None:
        """Wait until :meth:`start` finished; raise what stopped it, if anything."""
        if self._ready is None:
            self._ready = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._ready)

    @property
    def is_ready(self) -> bool:
        return self._ready is not None and self._ready.done() and self._start_error is None

    async def close(self) -> None:
        if self._sizing is not None and not self._sizing.done():
            self._sizing.cancel()
        self.resolver.close()
        if self.downloads is not None:
            try:
                await self.downloads.close()
            except Exception:
                log.exception("error while closing the download manager")
        if self.system is not None:
            try:
                await self.system.close()
            except Exception:
                log.exception("error while closing the system sampler")
        if self.reader is not None:
            await asyncio.to_thread(self.reader.close)

    # --- catalog -----------------------------------------------------------------------------

    def _catalog_changed(self, catalog: Catalog) -> None:
        self.bus.emit(
            events.CATALOG,
            {"version": self.catalogs.version, "presets": len(catalog.presets), "warnings": len(catalog.warnings)},
        )

    async def catalog(self) -> Catalog:
        await self.ready()
        return await asyncio.to_thread(self.catalogs.refresh)

    async def reload_catalog(self) -> dict[str, object]:
        await self.ready()
        catalog = await asyncio.to_thread(self.catalogs.load)
        self.ask_sizes()
        return self._warnings(catalog)

    def ask_sizes(self) -> asyncio.Future[int] | None:
        """In the background, ask the sources once for the sizes no one knows yet (catalog/size_cache.py);
        their answers replace the estimates. None when this host does not ask (a CLI, a test), when
        switched off (LAUNCHPAD_SIZE_LOOKUP=0), or while it is asking already."""
        if not (self.host.ask_sizes and self.settings.size_lookup):
            return None
        if self._sizing is not None and not self._sizing.done():
            return None
        self._sizing = asyncio.ensure_future(self._ask_sizes())
        self._sizing.add_done_callback(_log_task_failure)
        return self._sizing

    async def _ask_sizes(self) -> int:
        """Ask, keep the answers, and reload the figures; the number of sizes learned."""
        from .catalog.size_cache import Answer, SizeCache, to_ask
        from .downloads.sources import hf_sizes

        cache = SizeCache(self.workspace.state)
        answers = await asyncio.to_thread(cache.load)
        todo = to_ask(answers, self.catalogs.current().files())
        if not todo:
            return 0
        hub = [f for f in todo if isinstance(f.source, HFSource)]
        found = await asyncio.to_thread(hf_sizes, self.settings, hub) if hub else {}
        others = [f for f in todo if not isinstance(f.source, HFSource)]
        if others:  # Civitai and plain URLs: one resolution each, as the download would do
            found.update(await self.downloads.sizes(others))
        now = time.time()
        await asyncio.to_thread(cache.save, {f.key: Answer(f.source.url, found.get(f.key), now) for f in todo})
        learned = sum(found.get(f.key) is not None for f in todo)
        log.info("asked the sources for %d file sizes: %d answered", len(todo), learned)
        if learned:
            await asyncio.to_thread(self.catalogs.sizes_changed)
        return learned

    async def catalog_warnings(self) -> dict[str, object]:
        return self._warnings(await self.catalog())

    def _warnings(self, catalog: Catalog) -> dict[str, object]:
        return {
            "presets": len(catalog.presets),
            "warnings": [w.to_dict() for w in catalog.warnings],
            "templates_dir": str(catalog.templates_dir) if catalog.templates_dir else None,
        }

    def _owners(self, catalog: Catalog) -> dict[str, list[str]]:
        """file key -> ids of the presets that include it."""
        version, owners = self._owners_cache
        if version != self.catalogs.version:
            owners = {}
            for preset in catalog.presets.values():
                for model_file in preset.files:
                    owners.setdefault(model_file.key, []).append(preset.id)
            self._owners_cache = (self.catalogs.version, owners)
        return owners

    async def _view(self) -> tuple[Catalog, Any, Mapping[str, Any]]:
        """The catalog, the model listing and the verified files, read in one trip to a worker thread."""
        await self.ready()

        def read() -> tuple[Catalog, Any, Mapping[str, Any]]:
            return self.catalogs.refresh(), self.library.scan(), self.verified.load()

        return await asyncio.to_thread(read)

    # --- presets -----------------------------------------------------------------------------

    async def list_presets(
        self, *, category: str | None = None, search: str | None = None, installed: bool | None = None,
        sort: str | None = None,
    ) -> dict[str, object]:
        catalog, listing, checks = await self._view()
        progress = (await self._snapshot())["presets"]
        comfyui = self.comfyui_version()
        rows = []
        for preset in catalog.search(category=category, text=search):
            row = self._preset_row(catalog, preset, listing, checks, progress.get(preset.id), comfyui)
            if installed is not None and (row["state"] == "installed") != installed:
                continue
            rows.append(row)
        rows = sort_rows(rows, sort)
        return {
            "presets": rows,
            "total": len(rows),
            "categories": catalog.categories(),
            "warnings": len(catalog.warnings),
            "comfyui_version": comfyui,
            "sources": catalog.sources,
        }

    def comfyui_version(self) -> str | None:
        """The running ComfyUI's version (None standalone, or when ComfyUI does not say)."""
        versions = self.host.versions() if self.host.versions else {}
        return versions.get("comfyui") or None

    def _file_states(
        self, preset: Preset, listing: Any, checks: Mapping[str, Any], roots: ModelRoots | None = None
    ) -> list[FileState]:
        """Each file's state from the model listing; with ``roots``, where a missing one would go."""
        states = []
        for model_file in preset.files:
            entry: ModelEntry | None = listing.by_key.get(model_file.key)
            if entry is not None:
                disk = OnDisk(entry.path, entry.size, entry.mtime)
            else:
                disk = OnDisk(partial=listing.partials.get(model_file.key))
            states.append(judge(model_file, disk, _target(roots, model_file) if roots else None, checks))
        return states

    def _preset_row(
        self, catalog: Catalog, preset: Preset, listing: Any, checks: Mapping[str, Any],
        progress: Mapping[str, object] | None, comfyui: str | None,
    ) -> dict[str, Any]:
        files = self._file_states(preset, listing, checks)
        passed = [f for f in files if f.state == INSTALLED]
        return {
            **catalog.summary(preset, comfyui),
            "state": overall(files),
            "files_installed": len(passed),
            "bytes_installed": sum(f.bytes_on_disk for f in passed),
            "progress": dict(progress) if progress else None,
        }

    async def preset_detail(self, preset_id: str) -> dict[str, object]:
        catalog, listing, checks = await self._view()
        preset = catalog.get(preset_id)
        snapshot = await self._snapshot()
        jobs = _latest_jobs(snapshot["jobs"])
        owners = self._owners(catalog)
        files = []
        for state in self._file_states(preset, listing, checks, self._roots()):
            model_file = state.file
            entry: ModelEntry | None = listing.by_key.get(model_file.key)
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
        comfyui = self.comfyui_version()
        row = self._preset_row(catalog, preset, listing, checks, snapshot["presets"].get(preset.id), comfyui)
        return {**row, "files": files, "comfyui_version": comfyui, "comfyui_note": comfyui_note(preset, comfyui)}

    async def install(self, preset_ids: Sequence[str]) -> dict[str, object]:
        catalog = await self.catalog()  # a preset file the user just saved counts
        presets = [catalog.get(pid) for pid in dict.fromkeys(preset_ids)]  # an alias installs what it names
        result = await self.downloads.install(list(dict.fromkeys(p.id for p in presets)))
        comfyui = self.comfyui_version()
        notes = []
        for preset in presets:
            note = comfyui_note(preset, comfyui)
            if note and comfyui_ok(preset.min_comfyui, comfyui) is False:
                notes.append(f"{preset.id}: {note}")
        for note in notes:
            log.warning("install: %s", note)
        return {**result, "warnings": notes}

    async def download_url(self, url: str, folder: str, name: str | None) -> dict[str, object]:
        """Download one file from a client-given URL: only with ALLOW_CUSTOM_URLS, see url_policy."""
        checked = check_custom_url(url, name, self.settings)  # Forbidden while switched off
        canonical = model_folders.canonical(folder)
        if canonical is None:
            raise InvalidInput(f"{folder!r} is not a model folder; use one of: {', '.join(model_folders.FOLDER_NAMES)}")
        await self.ready()
        model_file = ModelFile(canonical, checked.name, UrlSource(checked.url))
        job = await self.downloads.install_file(model_file, guarded=True)  # every hop checked too
        log.info("custom download queued from %s into %s/%s", checked.host, canonical, checked.name)
        return {"job": job, "pickle": checked.pickle}

    async def uninstall(self, preset_id: str) -> dict[str, object]:
        (await self.catalog()).get(preset_id)  # NotFound before anything else
        result = await self.downloads.uninstall(preset_id)
        for path in result.get("deleted", []):
            self.bus.emit(events.MODEL, {"action": "deleted", "path": path, "preset_id": preset_id})
        return result

    async def cancel_preset(self, preset_id: str) -> dict[str, object]:
        await self.catalog()
        cancelled = await self.downloads.cancel_preset(preset_id)
        return {"preset_id": preset_id, "cancelled": list(cancelled)}

    # --- downloads ---------------------------------------------------------------------------

    async def downloads_snapshot(self) -> dict[str, object]:
        """Every job and group; done jobs whose files were deleted since drop out first. ``taken_at``:
        a job updated later than that may be missing here (its event is newer than this answer)."""
        await self.ready()
        taken_at = time.time()
        await self.downloads.drop_gone()
        return {**await self._snapshot(), "taken_at": taken_at}

    async def clear_finished_downloads(self) -> dict[str, object]:
        """Forget the finished jobs (done, failed, cancelled); files on disk stay."""
        await self.ready()
        return {"cleared": await self.downloads.clear_finished()}

    async def _snapshot(self) -> dict[str, Any]:
        return await self.downloads.snapshot()

    async def wait_downloads(self, job_ids: Sequence[str] | None = None) -> None:
        """Until the given jobs (default: all known now) are done, failed or cancelled."""
        await self.ready()
        await self.downloads.wait(job_ids)

    async def cancel_job(self, job_id: str) -> dict[str, object]:
        await self.ready()
        return await self.downloads.cancel(job_id)

    async def retry_job(self, job_id: str) -> dict[str, object]:
        await self.ready()
        return await self.downloads.retry(job_id)

    # --- models ------------------------------------------------------------------------------

    async def list_models(
        self, *, folder: str | None = None, search: str | None = None, offset: int = 0, limit: int = 100
    ) -> dict[str, object]:
        catalog, listing, _ = await self._view()
        if folder and folder not in listing.folders:
            raise NotFound(
                f"unknown model folder {folder!r}; known folders: {', '.join(listing.folders)}",
                details={"folder": folder},
            )
        page = ModelLibrary.query(listing, folder=folder, search=search, offset=offset, limit=limit)
        owners = self._owners(catalog)
        space = await asyncio.to_thread(self._free_space, [folder] if folder else listing.folders)
        return {
            "models": [entry.to_dict(owners) for entry in page.models],
            "total": page.total,
            "total_bytes": page.total_bytes,
            "offset": page.offset,
            "limit": page.limit,
            "folders": listing.folders,
            "space": space,
        }

    def _free_space(self, folders: Sequence[str]) -> dict[str, dict[str, int | None]]:
        """Free and total bytes of the disk each folder downloads to (blocking: statvfs per folder)."""
        from .system.disks import disk_usage

        roots = self._roots()
        space: dict[str, dict[str, int | None]] = {}
        for name in folders:
            dirs = roots.dirs(name)
            if dirs:
                usage = disk_usage(name, dirs[0], [])
                space[name] = {"free": usage.free, "total": usage.total}
        return space

    async def delete_model(self, file_id: str) -> dict[str, object]:
        await self.ready()
        busy = {job["key"] for job in (await self._snapshot())["jobs"] if job.get("state") in ACTIVE_STATES}

        def refuse(entry: ModelEntry) -> None:
            if entry.key in busy:
                raise Conflict(
                    f"{entry.key} is being downloaded; cancel that download first",
                    details={"id": file_id, "key": entry.key},
                )

        entry = await self.library.delete_async(file_id, refuse=refuse)
        owners = self._owners(self.catalogs.current())
        deleted = entry.to_dict(owners)
        self.bus.emit(events.MODEL, {"action": "deleted", "path": entry.path, "key": entry.key, "model": deleted})
        return {"deleted": deleted}

    async def migration(self) -> dict[str, object]:
        """The old trees on the volume, those adopted, and the command for each (`launchpad migrate`)."""
        return await asyncio.to_thread(migration_overview, self.workspace)

    # --- workflows -----------------------------------------------------------------------------

    async def workflow_models(self, workflow: object, wait: float = 0) -> dict[str, object]:
        """What ``workflow`` needs: present, missing (every candidate source, how sure, how big) and
        unknown models. What is known here answers at once; lookups that could tell more (Civitai by
        hash, Hub listings) run on, ``resolving`` says so, and a ``launchpad.resolve`` event follows.
        ``wait``: seconds to wait for those lookups before answering."""
        models, known = await self._resolved(workflow, sizes=True)
        lookups = self._look_up(models, known)
        if lookups is not None and wait > 0:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(lookups), wait)
            models, known = await self._resolved(workflow, sizes=True)
            lookups = self._look_up(models, known)
        jobs = _latest_jobs((await self._snapshot())["jobs"])
        return {
            "models": [{**model.to_dict(), "job": jobs.get(model.key)} for model in models],
            "summary": summarize(models),
            "allowed_hosts": list(self.settings.allowed_url_hosts),
            "resolving": lookups is not None,
            "sources": known.sources(),
        }

    def _look_up(self, models: Sequence[NeededModel], known: Known) -> asyncio.Future[None] | None:
        """Start (or join) the lookups that could tell more about the models no source is sure of."""
        unsure = [m for m in models if m.state != "present" and not (m.choice and m.choice.confident)]
        hashes, repos = self.resolver.pending(known, [m.wanted for m in unsure if m.wanted])
        if not (hashes or repos):
            return None
        return self.resolver.look_up(hashes, repos, [m.key for m in unsure])

    async def install_workflow(
        self, workflow: object, name: str | None = None, keys: Sequence[str] | None = None, optional: bool = False,
        choices: Mapping[str, str] | None = None,
    ) -> dict[str, object]:
        """Queue the workflow's missing models whose chosen source is sure and on an allowed host.

        The server analyses the workflow itself: only what that analysis calls installable is
        queued, never a URL or path the client names. ``choices`` (model key -> candidate id from
        the analysis) picks another candidate, a name match included: the user said so. ``keys``
        narrows it to some models; models of muted or bypassed nodes are left out unless
        ``optional`` (or named in ``keys`` or ``choices``).
        """
        models, _ = await self._resolved(workflow, sizes=False)
        by_key = {model.key: model for model in models}
        named = [*(keys or ()), *(choices or {})]
        strangers = [key for key in named if key not in by_key]
        if strangers:  # names a model that is not in this workflow: nothing to find
            raise NotFound(f"the workflow does not need {', '.join(strangers[:5])}", details={"keys": strangers})
        for key, candidate_id in (choices or {}).items():
            model = by_key[key]
            picked = next((c for c in model.candidates if c.id == candidate_id), None)
            if picked is None:
                raise NotFound(f"no source {candidate_id!r} was found for {key}; analyse the workflow again",
                               details={"key": key, "choice": candidate_id})
            if model.state != "present":
                choose(model, picked, confirmed=True)
        if named:
            chosen = [by_key[key] for key in dict.fromkeys(named)]
        else:
            chosen = [m for m in models if optional or not m.optional]
        todo = [m for m in chosen if m.state == "missing" and m.installable and m.file is not None]
        refused = [{"key": m.key, "state": m.state, "reason": m.reason} for m in chosen
                   if m.state != "present" and not m.installable]
        label = group_label(name)
        result: dict[str, object] = {"jobs": [], "skipped": []}
        if todo:
            files = [m.file for m in todo if m.file is not None]
            result = await self.install_files(files, label, guarded=True)  # links from a client: every hop checked
        return {**result, "skipped": [*result["skipped"], *(m.key for m in chosen if m.state == "present")],  # type: ignore[misc]
                "label": label, "refused": refused}

    async def install_files(self, files: Sequence[ModelFile], label: str, guarded: bool = False) -> dict[str, object]:
        """Queue files that belong to no preset (a workflow's, a node's) as the group ``label``."""
        await self.ready()
        return await self.downloads.install_files(files, label, guarded)

    async def _analyze(self, workflow: object, *, sizes: bool) -> list[NeededModel]:
        return (await self._resolved(workflow, sizes=sizes))[0]

    async def _resolved(self, workflow: object, *, sizes: bool) -> tuple[list[NeededModel], Known]:
        """The analysis, with what the resolver's sources on this machine knew for it."""
        catalog = await self.catalog()

        def run() -> tuple[list[NeededModel], Known]:
            known = self.resolver.known(catalog)
            return analyze(workflow, catalog, self._roots(), self.settings.allowed_url_hosts, known), known

        models, known = await asyncio.to_thread(run)
        unsized = [m.file for m in models
                   if m.state == "missing" and m.installable and (m.size is None or m.size_estimated) and m.file]
        if sizes and unsized:  # templates' links carry no size: ask the sources (allowed hosts only)
            found = await self.downloads.sizes(unsized, guarded=True)  # a workflow's links
            for model in models:
                if (model.size is None or model.size_estimated) and found.get(model.key) is not None:
                    model.size, model.size_estimated = found[model.key], False
        return models, known

    # --- system, queue, health -----------------------------------------------------------------

    async def system_reading(self) -> dict[str, object]:
        await self.ready()
        return await self.system.reading_async()

    async def watch_system(self, client_id: str, ttl: float | None = None) -> dict[str, object]:
        """Take or renew ``client_id``'s lease; ``launchpad.system`` events flow while one lives."""
        await self.ready()
        reading = await self.system.watch_async(client_id, ttl if ttl is not None else WATCH_TTL)
        return {"client_id": client_id, "ttl": ttl or WATCH_TTL, "interval": self.system.interval, "reading": reading}

    async def unwatch_system(self, client_id: str) -> dict[str, object]:
        await self.ready()
        self.system.unwatch(client_id)
        return {"client_id": client_id, "watchers": self.system.watchers}

    def queue(self) -> dict[str, object]:
        """ComfyUI's running and pending prompts (both empty standalone)."""
        if self.host.queue is None:
            return {"running": [], "pending": [], "remaining": 0, "available": False, "cancel": None,
                    "now": time.time()}
        running, pending = self.host.queue()
        rows_running = [_queue_item(item, self._queue_seen) for item in running]
        rows_pending = sorted((_queue_item(item, self._queue_seen) for item in pending), key=lambda r: r["number"])
        listed = {row["prompt_id"] for row in (*rows_running, *rows_pending)}
        self._queue_seen = {k: v for k, v in self._queue_seen.items() if k in listed}
        return {
            "running": rows_running,
            "pending": rows_pending,
            "remaining": len(rows_running) + len(rows_pending),
            "available": True,
            "cancel": self.host.queue_cancel,
            "now": time.time(),  # the times above are this clock's, which the browser's may not be
        }

    def health(self) -> dict[str, object]:
        state = "ready" if self.is_ready else ("failed" if self._start_error else "starting")
        return {
            "status": "failed" if state == "failed" else "ok",
            "state": state,
            "version": __version__,
            "mode": self.host.mode,
            "workspace": str(self.workspace.root),
            "uptime": round(time.time() - self.started_at, 1),
            "presets": len(self.catalogs.current().presets),
            "error": _describe(self._start_error) if self._start_error else None,
        }

    async def metrics(self) -> str:
        """Prometheus text: downloads, bytes, failures, ComfyUI's queue depth, GPU and disk figures."""
        await self.ready()
        from .metrics import render_metrics

        reading = await self.system.reading_async()
        text = render_metrics(
            await self._snapshot(),
            bytes_downloaded_total=self.counters.bytes,
            download_failures_total=self.counters.failures,
            system=reading,
        )
        if self.host.queue is not None:
            depth = self.queue()["remaining"]
            text += (
                "# HELP launchpad_comfyui_queue_depth Prompts running or waiting in ComfyUI's queue.\n"
                "# TYPE launchpad_comfyui_queue_depth gauge\n"
                f"launchpad_comfyui_queue_depth {depth}\n"
            )
        return text


class DownloadCounters:
    """Bytes downloaded and jobs failed since the process started, from ``launchpad.download`` events."""

    def __init__(self) -> None:
        self.bytes = 0
        self.failures = 0
        self._seen: dict[str, tuple[int, str]] = {}  # job id -> (bytes_done, state) last seen
        self._lock = threading.Lock()

    def on_event(self, event: str, data: Mapping[str, Any]) -> None:
        if event != events.DOWNLOAD or not isinstance(data.get("id"), str):
            return
        done = data.get("bytes_done") if isinstance(data.get("bytes_done"), int) else 0
        state = str(data.get("state"))
        with self._lock:
            before, before_state = self._seen.get(data["id"], (None, ""))
            if before is not None and done > before:
                self.bytes += done - before  # a resumed job starts from its partial file: count only new bytes
            if state == "failed" and before_state != "failed":
                self.failures += 1
            self._seen[data["id"]] = (done, state)


# --- helpers --------------------------------------------------------------------------------------


def _not_started(exc: BaseException) -> LaunchpadError:
    error = WorkspaceError if isinstance(exc, OSError) else LaunchpadError
    return error(f"Launchpad could not start: {exc}. Check its log, fix the cause and restart")


def _describe(exc: BaseException) -> dict[str, str]:
    if isinstance(exc, LaunchpadError):
        return {"code": exc.code, "message": exc.message}
    return {"code": "internal", "message": _not_started(exc).message}


def _log_task_failure(task: asyncio.Future) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task failed: %s", task.exception())


def _target(roots: ModelRoots, model_file: ModelFile) -> str | None:
    try:
        return str(roots.target(model_file.folder, model_file.name))
    except KeyError:
        return None


def _latest_jobs(jobs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for job in jobs:
        current = latest.get(job["key"])
        if current is None or job.get("updated_at", 0) >= current.get("updated_at", 0):
            latest[job["key"]] = dict(job)
    return latest


def _queue_item(item: Any, seen: dict[str, float]) -> dict[str, object]:
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
