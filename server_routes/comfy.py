"""Registration on ComfyUI's PromptServer, called from the package's ``__init__`` at import.

What ComfyUI provides, and how we use it (docs/comfyui-facts.md, PromptServer and folder_paths):

- routes go on ``prompt_server.routes`` while ComfyUI imports custom nodes; its
  ``add_routes()`` later mounts each at /launchpad/... and mirrors it at /api/launchpad/...;
- events go out through ``prompt_server.send_sync`` (thread-safe) to every tab on ComfyUI's
  /ws, after the event bus made them plain JSON (a non-JSON payload would end ComfyUI);
- model folders come from ComfyUI's ``folder_paths``, re-read on every scan so the user's
  extra paths and folders that other custom nodes register later all count; the first
  directory of a folder is where downloads go;
- the queue comes from ``prompt_server.prompt_queue``;
- the frontend's version is that of the directory it serves, ``prompt_server.web_root``
  (frontend_version.py);
- a file a download just finished is in ComfyUI's model lists at once: the folder's entry in
  ``folder_paths.filename_list_cache`` is dropped (a network volume's coarse mtimes can hide a
  new file from it), and where the running ComfyUI has the assets scanner (0.33+ with
  ``--enable-assets``) it scans the models again, as its ``POST /api/assets/seed`` does.

ComfyUI modules are only looked up here, lazily (``server`` and ``folder_paths`` are already
loaded when ComfyUI imports us). At import only the route table is built (ComfyUI reports
every pack's import time); the service is built, in a worker thread, when the app starts
(``on_startup``), and its slow start (catalog, download journal) runs as a background task,
so ComfyUI's loop is never held up. Until then health answers ``starting`` and the other
routes 503.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..launchpad import __version__, running
from .routes import ROUTES
from .security import install_gate
from .table import bind

if TYPE_CHECKING:
    from ..launchpad.config import Settings
    from ..launchpad.model_roots import ModelRoots
    from ..launchpad.service import LaunchpadService

log = logging.getLogger("launchpad")

# folder_paths keys that hold no model files
NOT_MODEL_FOLDERS = frozenset({"custom_nodes", "datasets", "fonts"})
STANDARD_WORKSPACE = Path("/workspace")



def _comfy_module(name: str) -> ModuleType | None:
    module = sys.modules.get(name)
    if module is not None:
        return module
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def model_roots(folder_paths: Any) -> ModelRoots:
    """Every model folder ComfyUI knows, with its directories in ComfyUI's order.

    Folders Launchpad knows that ComfyUI has no entry for yet (a custom node's folder
    before that node is installed) get ``<models_dir>/<name>``, where such nodes look.
    """
    from ..launchpad import model_folders
    from ..launchpad.model_roots import ModelRoots

    folders: dict[str, tuple[Path, ...]] = {}
    models_dir = Path(folder_paths.models_dir)
    shipped_configs = models_dir / "configs"  # ComfyUI's own inference YAMLs: not the user's to delete
    for name, value in list(folder_paths.folder_names_and_paths.items()):
        if name in NOT_MODEL_FOLDERS:
            continue
        dirs = tuple(Path(path) for path in value[0])
        folders[name] = tuple(d for d in dirs if d != shipped_configs) if name == "configs" else dirs
    for folder in model_folders.MODEL_FOLDERS:
        if folder.name not in folders:
            folders[folder.name] = (models_dir / folder.target_dir,)
    return ModelRoots(folders)


def workspace_root(settings: Settings, folder_paths: Any | None) -> Path:
    """WORKSPACE_ROOT if set; else /workspace if it exists; else <ComfyUI user dir>/launchpad.

    Inside ComfyUI the workspace only holds Launchpad's own state, config and logs: models
    always go where folder_paths says.
    """
    from ..launchpad.workspace import default_root

    if settings.workspace_configured:
        return settings.workspace
    root = default_root(STANDARD_WORKSPACE)
    if root.is_dir():
        return root
    if folder_paths is not None and hasattr(folder_paths, "get_user_directory"):
        return Path(folder_paths.get_user_directory()) / "launchpad"
    return settings.workspace


def _queue_reader(prompt_server: Any) -> Callable[[], tuple[list[Any], list[Any]]]:
    def read() -> tuple[list[Any], list[Any]]:
        queue = getattr(prompt_server, "prompt_queue", None)
        if queue is None:
            return [], []
        reader = getattr(queue, "get_current_queue_volatile", None) or queue.get_current_queue
        running, pending = reader()
        return list(running), list(pending)

    return read


def _queue_cancel(prompt_server: Any) -> str:
    """ComfyUI's jobs API cancels running and pending prompts alike (0.33 and later); older ComfyUI
    interrupts the running one (/interrupt) and deletes pending ones (/queue)."""
    paths = {getattr(route, "path", None) for route in getattr(prompt_server, "routes", [])}
    return "jobs" if "/api/jobs/{job_id}/cancel" in paths else "queue"


def _versions_of(prompt_server: Any) -> Callable[[], dict[str, str | None]]:
    from .frontend_version import served_version

    frontend: list[str | None] = []  # the web root never changes: found once, on the first reading

    def versions() -> dict[str, str | None]:
        if not frontend:
            frontend.append(served_version(getattr(prompt_server, "web_root", None)))
        comfy = sys.modules.get("comfyui_version")
        return {"comfyui": getattr(comfy, "__version__", None), "comfyui_frontend": frontend[0]}

    return versions


def refresh_model_lists(folder_paths: Any, event: str, data: dict) -> None:
    """After a download is done: ComfyUI lists the file without a restart (see the module docstring)."""
    if event != "launchpad.download" or data.get("state") != "done":
        return
    folder = str(data.get("key") or "").split("/", 1)[0]
    cache = getattr(folder_paths, "filename_list_cache", None)
    if isinstance(cache, dict):
        cache.pop(folder, None)
    seeder = getattr(sys.modules.get("app.assets.seeder"), "asset_seeder", None)
    if seeder is None or seeder.is_disabled():
        return
    if not seeder.start(roots=("models",)):  # a scan runs already: scan again once it is done

        def after_it() -> None:
            if seeder.wait(timeout=600):
                seeder.start(roots=("models",))

        threading.Thread(target=after_it, name="launchpad-assets-rescan", daemon=True).start()


def create_service(prompt_server: Any, settings: Settings | None = None) -> LaunchpadService:
    """The service for this ComfyUI: folder_paths' model folders, its queue, its versions."""
    from dataclasses import replace

    from ..launchpad.config import Settings
    from ..launchpad.service import Host, LaunchpadService

    settings = settings or Settings.from_env()
    folder_paths = _comfy_module("folder_paths")
    settings = replace(settings, workspace=workspace_root(settings, folder_paths))
    roots = disks = custom_nodes = None
    if folder_paths is None:
        log.warning("ComfyUI's folder_paths is not importable; Launchpad uses the workspace's model folders")
    else:
        def roots() -> ModelRoots:
            return model_roots(folder_paths)

        def custom_nodes() -> list[Path]:  # where a legacy ComfyUI-Manager clone would be
            return [Path(p) for p in folder_paths.folder_names_and_paths.get("custom_nodes", ([],))[0]]

        def disks() -> dict[str, Path]:
            return {
                "workspace": settings.workspace,
                "models": Path(folder_paths.models_dir),
                "output": Path(folder_paths.get_output_directory()),
            }

    host = Host(
        mode="comfyui",
        roots=roots,
        queue=_queue_reader(prompt_server),
        queue_cancel=_queue_cancel(prompt_server),
        versions=_versions_of(prompt_server),
        disk_paths=disks,
        create_layout=False,
        ask_sizes=True,
        custom_nodes=custom_nodes,
    )
    return LaunchpadService(settings, host)


async def _start(service: LaunchpadService) -> None:
    from ..launchpad.logs import secrets_of, setup_logging

    settings = service.settings
    try:
        await asyncio.to_thread(setup_logging, settings.workspace / "logs", settings.log_level, secrets_of(settings))
    except Exception:  # logging only to ComfyUI's console is no reason not to start
        log.exception("Launchpad could not set up its log file")
    await service.start()


def _guard(app: Any, settings: Settings | None) -> None:
    """The security gate on ComfyUI's app; with ENABLE_AUTH its middleware guards every route.

    A middleware appended while ComfyUI imports us stands in front of all of ComfyUI, /ws
    included (docs/comfyui-facts.md, PromptServer); after startup the app is frozen, so it is now or never.
    """
    from ..launchpad.config import Settings

    settings = settings or Settings.from_env()
    if app is None:
        if settings.enable_auth:  # refuse to load rather than let ComfyUI run open (see __init__.py)
            raise RuntimeError("ENABLE_AUTH is on but ComfyUI's PromptServer has no app to guard")
        return
    state = None
    if settings.enable_auth:  # the session key lives in the workspace's state dir
        from ..launchpad.workspace import Workspace

        state = Workspace(workspace_root(settings, _comfy_module("folder_paths"))).state
    install_gate(app, settings, state)


def register(prompt_server: Any, settings: Settings | None = None) -> None:
    """Add Launchpad's routes to ``prompt_server.routes`` and build the service when the app starts."""
    app = getattr(prompt_server, "app", None)
    _guard(app, settings)  # first: if this fails, no route of ours is served unguarded
    routes = prompt_server.routes
    bound = bind(ROUTES, running.service)  # build everything before touching ComfyUI's objects
    for method, path, handler in bound:
        routes.route(method, path)(handler)

    tasks: list[asyncio.Future] = []  # keep a reference so the start task is not collected

    async def start(_app: Any) -> None:
        try:
            # importing and building the core takes a few tens of ms: not on ComfyUI's loop
            service = await asyncio.to_thread(create_service, prompt_server, settings)
        except Exception:
            log.exception("Launchpad could not start; ComfyUI continues without it")
            return

        def forward(event: str, data: dict) -> None:
            prompt_server.send_sync(event, data)  # thread-safe; data is plain JSON (the bus checked)

        service.bus.subscribe(forward)
        running.publish(service, asyncio.get_running_loop())  # for the nodes, in ComfyUI's worker thread
        tasks.append(asyncio.ensure_future(_start(service)))
        folder_paths = _comfy_module("folder_paths")
        if folder_paths is not None:
            service.bus.subscribe(lambda event, data: refresh_model_lists(folder_paths, event, data))
            from . import adopted_paths  # `launchpad migrate --adopt` while ComfyUI runs: no restart needed

            tasks.append(asyncio.ensure_future(adopted_paths.follow(service, folder_paths)))

    async def stop(_app: Any) -> None:
        for task in tasks:
            task.cancel()
        service = running.service()
        if service is not None:
            await service.close()

    if app is not None:
        app.on_startup.append(start)
        app.on_cleanup.append(stop)
    log.info("Launchpad %s registered %d routes under /launchpad/", __version__, len(bound))
