"""The download manager in a child process, behind the same interface (api.Downloads).

Why a process: moving hundreds of MB/s through Python keeps a thread busy enough that, in
the same interpreter, ComfyUI's server thread waits for the GIL on every request (measured
on two cores: GET /system_stats p50 2 ms -> 13 ms, p99 4 ms -> 100+ ms with the manager on a
thread of its own; see benchmarks/system_stats_under_downloads.py). In a child process the
downloads share only the CPU, and the child lowers its own scheduling priority.

The parent side, :class:`DownloadWorker`, answers every call of :class:`~.api.Downloads` by
forwarding it (the list of calls and which arguments are catalog files come from the protocol).
The protocol is JSON lines: the parent writes ``{"id", "call", "args": {name: value}, "roots"}``
on the child's stdin; the child answers ``{"id", "result"}`` or ``{"id", "error": {"code",
"message", "details"}}``, which the parent raises again as that code's own LaunchpadError class,
and pushes ``{"event": type, "data": ...}`` (re-emitted on the parent's bus) and ``{"log": {...}}``
(re-logged by the parent, so one process owns the log file). The first line the parent sends
holds the settings (``Settings.to_json``). Model roots travel with every call: inside ComfyUI
they come from ``folder_paths``, which only the parent has. The child loads its own catalog
from the same files and re-reads the user's presets before the calls that read them.

If the child dies, pending calls fail with a DownloadError and a new child starts; the
download journal makes it resume. If the parent dies, the child sees its stdin close, stops
its transfers (partial files and journal kept) and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..catalog.schema import ModelFile
from ..config import Settings
from ..errors import DownloadError, LaunchpadError, error_from_dict
from ..events import EventBus
from ..model_roots import ModelRoots
from .api import CALLS, READS_CATALOG, bind_args, map_files

if TYPE_CHECKING:
    from .api import Downloads

log = logging.getLogger("launchpad.downloads.worker")

ENTRY = Path(__file__).resolve().with_name("worker_main.py")
LINE_LIMIT = 64 * 2**20  # a snapshot of thousands of jobs is one line
CLOSE_TIMEOUT = 30.0
RESTART_BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)
NICENESS = 10


# --- data across the pipe ------------------------------------------------------------------------


def roots_to_json(roots: ModelRoots) -> dict[str, list[str]]:
    return {folder: [str(d) for d in dirs] for folder, dirs in roots.folders.items()}


def roots_from_json(data: dict[str, list[str]]) -> ModelRoots:
    return ModelRoots({folder: tuple(Path(d) for d in dirs) for folder, dirs in data.items()})


def error_to_json(exc: BaseException) -> dict[str, object]:
    if isinstance(exc, LaunchpadError):
        return {"code": exc.code, "message": exc.message, "details": exc.details or None}
    return {"code": "internal", "message": f"the download worker failed: {type(exc).__name__}: {exc}"}


# --- parent side ---------------------------------------------------------------------------------


class DownloadWorker:
    """The parent's handle on the worker process; the service uses it like a DownloadManager."""

    def __init__(self, settings: Settings, events: EventBus, roots: Callable[[], ModelRoots]) -> None:
        self.settings = settings
        self.events = events
        self._roots = roots
        self._proc: asyncio.subprocess.Process | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._next_id = 0
        self._reader: asyncio.Task[None] | None = None
        self._closing = False
        self._restarts = 0
        self._started_at = 0.0
        self._tasks: set[asyncio.Future[None]] = set()

    async def start(self) -> None:
        await self._spawn()

    async def _spawn(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, str(ENTRY),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=LINE_LIMIT, env=env,
        )
        self._started_at = time.monotonic()
        self._send({"settings": self.settings.to_json()})
        self._reader = asyncio.ensure_future(self._read(self._proc))
        await self._call("start", {})
        log.info("download worker started (pid %d)", self._proc.pid)

    def _send(self, message: dict[str, Any]) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(message).encode() + b"\n")

    async def _call(self, name: str, arguments: dict[str, Any]) -> Any:
        if self._proc is None or self._proc.returncode is not None:
            raise DownloadError("the download worker is not running; it restarts by itself, try again shortly")
        self._next_id += 1
        call_id = self._next_id
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        self._send({"id": call_id, "call": name, "args": arguments, "roots": roots_to_json(self._roots())})
        assert self._proc.stdin is not None
        await self._proc.stdin.drain()
        return await future

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while True:
            try:
                line = await proc.stdout.readline()
            except (ValueError, asyncio.LimitOverrunError):
                log.error("download worker sent a line longer than %d bytes; restarting it", LINE_LIMIT)
                proc.kill()
                line = b""
            if not line:
                break
            try:
                message = json.loads(line)
            except ValueError:
                log.warning("download worker: unreadable line %r", line[:200])
                continue
            self._dispatch(message)
        await proc.wait()
        self._fail_pending(DownloadError("the download worker stopped; it restarts by itself, try again shortly"))
        if not self._closing:
            self._keep(asyncio.ensure_future(self._restart(proc.returncode)))

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "event" in message:
            self.events.emit(message["event"], message.get("data") or {})
        elif "log" in message:
            record = message["log"]
            logging.getLogger(record.get("name") or "launchpad.downloads").log(
                int(record.get("level", logging.INFO)), "%s", record.get("message", "")
            )
        elif "id" in message:
            future = self._pending.pop(message["id"], None)
            if future is None or future.done():
                return
            if "error" in message:
                future.set_exception(error_from_dict(message["error"]))  # its own class again
            else:
                future.set_result(message.get("result"))

    def _fail_pending(self, exc: LaunchpadError) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(exc)

    async def _restart(self, returncode: int | None) -> None:
        # a worker that lived a while gets the shortest backoff again
        if time.monotonic() - self._started_at > 60:
            self._restarts = 0
        delay = RESTART_BACKOFF[min(self._restarts, len(RESTART_BACKOFF) - 1)]
        self._restarts += 1
        log.error("download worker exited with %s; restarting in %.0f s (unfinished jobs resume)", returncode, delay)
        await asyncio.sleep(delay)
        if self._closing:
            return
        try:
            await self._spawn()
        except Exception:
            log.exception("download worker could not be restarted")
            self._keep(asyncio.ensure_future(self._restart(None)))

    def _keep(self, task: asyncio.Future[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        self._closing = True
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(asyncio.TimeoutError, LaunchpadError):
            await asyncio.wait_for(self._call("close", {}), CLOSE_TIMEOUT)
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            await asyncio.wait_for(proc.wait(), CLOSE_TIMEOUT)
        except asyncio.TimeoutError:
            log.warning("download worker did not stop in %.0f s; killing it", CLOSE_TIMEOUT)
            proc.kill()
            await proc.wait()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # every call of the Downloads protocol, forwarded

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name not in CALLS:
            raise AttributeError(name)

        async def forward(*args: Any, **kwargs: Any) -> Any:
            arguments = map_files(name, bind_args(name, args, kwargs), ModelFile.to_catalog_data)
            return await self._call(name, arguments)

        forward.__name__ = name
        return forward


if TYPE_CHECKING:

    def _implements(worker: DownloadWorker) -> Downloads:
        return worker  # mypy checks that the proxy answers the whole interface


# --- child side ----------------------------------------------------------------------------------


class _ProtocolLogHandler(logging.Handler):
    def __init__(self, send: Callable[[dict[str, Any]], None]) -> None:
        super().__init__()
        self._send = send

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # never let logging kill the worker
            self._send({"log": {"level": record.levelno, "name": _short(record.name), "message": self.format(record)}})


def _short(name: str) -> str:
    index = name.find("launchpad.")
    return name[index:] if index >= 0 else name


async def child_main() -> None:
    """Serve the protocol on stdin/stdout until stdin closes or the parent says close."""
    from ..catalog.schema import parse_file
    from ..catalog.store import CatalogStore
    from ..workspace import Workspace
    from .manager import DownloadManager

    package = __name__.rsplit(".", 3)[0]
    loop = asyncio.get_running_loop()
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # stray prints must not corrupt the protocol
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def send(message: dict[str, Any]) -> None:
        data = json.dumps(message, default=str).encode() + b"\n"
        out.write(data)

    def send_threadsafe(message: dict[str, Any]) -> None:
        loop.call_soon_threadsafe(send, message)

    handler = _ProtocolLogHandler(send_threadsafe)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for name in ("launchpad", package):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.propagate = False
    line = await reader.readline()
    if not line:
        return  # the parent went away before saying anything
    first = json.loads(line)
    settings = Settings.from_json(first["settings"])
    level = logging.getLevelName(settings.log_level)
    for name in ("launchpad", package):
        logging.getLogger(name).setLevel(level if isinstance(level, int) else logging.INFO)
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(NICENESS)  # ComfyUI's threads first; downloads take what is left

    workspace = Workspace(settings.workspace)
    store = CatalogStore(workspace.user_presets, templates_dir=settings.templates_dir)
    await asyncio.to_thread(store.load)
    current_roots = {"roots": ModelRoots({})}
    bus = EventBus()
    bus.subscribe(lambda event, data: send_threadsafe({"event": event, "data": data}))
    manager = DownloadManager(
        settings, workspace, bus, catalog=store.current, roots=lambda: current_roots["roots"]
    )
    tasks: set[asyncio.Task[None]] = set()

    async def handle(message: dict[str, Any]) -> None:
        call_id, name = message.get("id"), message.get("call")
        try:
            if "roots" in message:
                current_roots["roots"] = roots_from_json(message["roots"])
            result: Any = None
            if name == "close":
                await manager.close()
            elif name == "start":
                await manager.start()
            elif name in CALLS:
                if name in READS_CATALOG:
                    await asyncio.to_thread(store.refresh)
                # a file travels as its catalog entry
                arguments = map_files(name, message.get("args") or {}, lambda data: parse_file(data, "file"))
                result = await getattr(manager, name)(**arguments)
            else:
                raise LaunchpadError(f"unknown worker call {name!r}")
            send({"id": call_id, "result": result})
        except Exception as exc:
            send({"id": call_id, "error": error_to_json(exc)})
        if name == "close":
            reader.feed_eof()

    while True:
        line = await reader.readline()
        if not line:
            break
        try:
            message = json.loads(line)
        except ValueError:
            continue
        task = asyncio.ensure_future(handle(message))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await manager.close()  # stdin closed: the parent is gone (or said close); keep partials, save journal
    for task in list(tasks):
        task.cancel()
