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
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__, events, leases, model_folders, views
from .catalog.loader import Catalog
from .catalog.rows import comfyui_note, sort_rows, sources_line, too_new_notes
from .catalog.schema import ModelFile, UrlSource
from .catalog.store import CatalogStore
from .catalog.verified import VerifiedFiles
from .config import Settings
from .downloads.api import InstallResult  # a TypedDict base (PresetInstall): needed at run time
from .downloads.engine import start_engine
from .errors import Conflict, InvalidInput, LaunchpadError, NotFound, WorkspaceError
from .events import EventBus
from .metrics import DownloadCounters
from .migrate.status import overview as migration_overview
from .model_library import Listing, ModelEntry, ModelLibrary
from .model_roots import ModelRoots
from .resolve.chain import ModelResolver
from .url_policy import check_custom_url
from .workflow_desk import WorkflowDesk
from .workspace import Workspace

if TYPE_CHECKING:
    from .catalog.verified import Check
    from .downloads.api import Downloads, JobData, Snapshot, UninstallResult
    from .system import SystemReader, SystemSampler

log = logging.getLogger("launchpad.service")

WATCH_TTL = 30.0  # seconds a watch lease lives unless renewed
QueueReader = Callable[[], tuple[Sequence[Any], Sequence[Any]]]


class PresetInstall(InstallResult):
    warnings: list[str]  # presets that need a newer ComfyUI than the one running


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
        self.workflows = WorkflowDesk(settings, self.catalog, self._roots, self.resolver, lambda: self.downloads,
                                      self.install_files, self.comfyui_version)
        # built in start(): the download engine (a worker process, downloads/worker.py), and the
        # system parts (they import psutil and NVML)
        self._downloads: Downloads | None = None
        self._system: SystemSampler | None = None
        self._reader: SystemReader | None = None
        self.lease: leases.Lease | None = None  # this pod's on the volume (leases.py), taken in start()
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

    @property
    def downloads(self) -> Downloads:
        """The download engine; routes reach it only after :meth:`ready`."""
        if self._downloads is None:
            raise LaunchpadError("Launchpad's downloads are not started yet; try again in a moment")
        return self._downloads

    @property
    def system(self) -> SystemSampler:
        if self._system is None:
            raise LaunchpadError("Launchpad's system readings are not started yet; try again in a moment")
        return self._system

    async def start(self) -> None:
        """Prepare the workspace, load the catalog, start the download manager and sampler."""
        loop = asyncio.get_running_loop()
        if self._ready is None:
            self._ready = loop.create_future()
        try:
            await asyncio.to_thread(self.workspace.prepare, full_layout=self.host.create_layout)
            # the worker process loads its own copy of the catalog meanwhile
            _, self._downloads = await asyncio.gather(
                asyncio.to_thread(self.catalogs.load),
                start_engine(self.settings, self.workspace, self.bus, self.catalogs.current, self._roots),
            )
            self._build_system()
            self.ask_sizes()
            self.lease = leases.for_pod(self.settings, self.workspace, self.catalogs.current(), self.host.mode)
            await asyncio.to_thread(self.lease.start)
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

    def _build_system(self) -> None:
        from .system import SystemReader, SystemSampler

        if self._system is None:
            self._reader = SystemReader(self._disk_paths())
            self._system = SystemSampler(self._read_system, self.bus)

    def _disk_paths(self) -> dict[str, Path]:
        if self.host.disk_paths is not None:
            return dict(self.host.disk_paths())
        return {"workspace": self.workspace.root, "models": self.workspace.models, "output": self.workspace.output}

    def _read_system(self) -> dict[str, Any]:
        assert self._reader is not None
        versions = {k: v for k, v in (self.host.versions() if self.host.versions else {}).items() if v}
        return self._reader.read(versions)

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
        if self.lease is not None:
            await asyncio.to_thread(self.lease.stop)
        if self._downloads is not None:
            try:
                await self._downloads.close()
            except Exception:
                log.exception("error while closing the download manager")
        if self._system is not None:
            try:
                await self._system.close()
            except Exception:
                log.exception("error while closing the system sampler")
        if self._reader is not None:
            await asyncio.to_thread(self._reader.close)

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
        from .size_lookup import ask_sources

        self._sizing = asyncio.ensure_future(
            ask_sources(self.settings, self.workspace.state, self.catalogs, self.downloads)
        )
        self._sizing.add_done_callback(_log_task_failure)
        return self._sizing

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

    async def _view(self) -> tuple[Catalog, Listing, Mapping[str, Check]]:
        """The catalog, the model listing and the verified files, read in one trip to a worker thread."""
        await self.ready()

        def read() -> tuple[Catalog, Listing, Mapping[str, Check]]:
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
            row = views.preset_row(catalog, preset, listing, checks, progress.get(preset.id), comfyui)
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
            "sources_line": sources_line(catalog.sources),
        }

    def comfyui_version(self) -> str | None:
        """The running ComfyUI's version (None standalone, or when ComfyUI does not say)."""
        versions = self.host.versions() if self.host.versions else {}
        return versions.get("comfyui") or None

    async def preset_detail(self, preset_id: str) -> dict[str, object]:
        catalog, listing, checks = await self._view()
        preset = catalog.get(preset_id)
        snapshot = await self._snapshot()
        states = views.file_states(preset, listing, checks, self._roots())
        files = views.preset_files(
            catalog, preset, listing, states, self._owners(catalog), views.latest_jobs(snapshot["jobs"])
        )
        comfyui = self.comfyui_version()
        row = views.preset_row(catalog, preset, listing, checks, snapshot["presets"].get(preset.id), comfyui, states)
        return {**row, "files": files, "comfyui_version": comfyui, "comfyui_note": comfyui_note(preset, comfyui)}

    async def install(self, preset_ids: Sequence[str]) -> PresetInstall:
        catalog = await self.catalog()  # a preset file the user just saved counts
        presets = [catalog.get(pid) for pid in dict.fromkeys(preset_ids)]  # an alias installs what it names
        result = await self.downloads.install(list(dict.fromkeys(p.id for p in presets)))
        notes = too_new_notes(presets, self.comfyui_version())
        for note in notes:
            log.warning("install: %s", note)
        return {"jobs": result["jobs"], "skipped": result["skipped"], "warnings": notes}

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

    async def uninstall(self, preset_id: str) -> UninstallResult:
        preset = (await self.catalog()).get(preset_id)  # NotFound before anything else
        keys = [f.key for f in preset.files]
        await asyncio.to_thread(leases.refuse_if_served, self.workspace, keys, self._lease_id, "uninstall")
        result = await self.downloads.uninstall(preset_id)
        for path in result["deleted"]:
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

    async def _snapshot(self) -> Snapshot:
        return await self.downloads.snapshot()

    async def wait_downloads(self, job_ids: Sequence[str] | None = None) -> None:
        """Until the given jobs (default: all known now) are done, failed or cancelled."""
        await self.ready()
        await self.downloads.wait(job_ids)

    async def cancel_job(self, job_id: str) -> JobData:
        await self.ready()
        return await self.downloads.cancel(job_id)

    async def retry_job(self, job_id: str) -> JobData:
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
        space = await asyncio.to_thread(views.free_space, self._roots(), [folder] if folder else listing.folders)
        pods = await asyncio.to_thread(leases.users, self.workspace, [e.key for e in page.models])
        return views.models_page(page, listing, self._owners(catalog), space, pods, self._lease_id)

    async def delete_model(self, file_id: str) -> dict[str, object]:
        await self.ready()
        busy = {job["key"] for job in (await self._snapshot())["jobs"] if job["active"]}

        def refuse(entry: ModelEntry) -> None:
            if entry.key in busy:
                raise Conflict(
                    f"{entry.key} is being downloaded; cancel that download first",
                    details={"id": file_id, "key": entry.key},
                )
            leases.refuse_if_served(self.workspace, [entry.key], self._lease_id)  # another pod serves it

        entry = await self.library.delete_async(file_id, refuse=refuse)
        owners = self._owners(self.catalogs.current())
        deleted = entry.to_dict(owners)
        self.bus.emit(events.MODEL, {"action": "deleted", "path": entry.path, "key": entry.key, "model": deleted})
        return {"deleted": deleted}

    async def migration(self) -> dict[str, object]:
        """The old trees on the volume, those adopted, and the command for each (`launchpad migrate`)."""
        return await asyncio.to_thread(migration_overview, self.workspace)

    # --- locks and leases (docs/lockfile.md) ------------------------------------------------------

    @property
    def _lease_id(self) -> str | None:
        return self.lease.id if self.lease is not None and self.lease.active else None

    async def installed_lock(self) -> dict[str, object]:
        """The models lock of every installed file whose source is known, and its warnings."""
        from .lock import build

        catalog, listing, _ = await self._view()
        jobs = await asyncio.to_thread(build.journal_jobs, self.workspace.state)
        wanted, notes = build.from_installed(listing, catalog, jobs)
        built = await build.build(wanted, self.settings, self._roots(), installed=True, warnings=notes)
        return {**built.to_dict(), "filename": "models.lock.json"}

    # --- workflows (the Workflow view's side: workflow_desk.py) ------------------------------

    async def install_files(self, files: Sequence[ModelFile], label: str, guarded: bool = False) -> InstallResult:
        """Queue files that belong to no preset (a workflow's, a node's) as the group ``label``."""
        await self.ready()
        return await self.downloads.install_files(files, label, guarded)

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
        rows = views.queue_view(*self.host.queue(), self._queue_seen)
        # the times in it are this clock's, which the browser's may not be
        return {**rows, "cancel": self.host.queue_cancel, "now": time.time()}

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
        depth = self.queue()["remaining"] if self.host.queue is not None else None
        return render_metrics(
            await self._snapshot(),
            bytes_downloaded_total=self.counters.bytes,
            download_failures_total=self.counters.failures,
            system=reading,
            comfyui_queue_depth=depth if isinstance(depth, int) else None,
        )


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
