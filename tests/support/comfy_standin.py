"""Stand-ins for the ComfyUI boundary: its ``server`` module (PromptServer) and ``folder_paths``.

Only what docs/comfyui-facts.md describes (PromptServer, folder_paths) and only the slice our
package touches: a real RouteTableDef and Application, ``send_sync`` feeding a publish loop
that writes ``{"type", "data"}`` to the sockets on /ws like ComfyUI's, ``loop``, and a
``prompt_queue`` with ``get_current_queue_volatile``. :func:`add_routes` mounts the routes and
their /api mirror exactly as ComfyUI's ``PromptServer.add_routes`` does.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import types
import uuid
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

PT = {".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft"}


class StandInQueue:
    """ComfyUI's PromptQueue, as far as reading it goes: items ``[number, id, prompt, extra, outputs]``."""

    def __init__(self) -> None:
        self.mutex = threading.RLock()
        self.queue: list[tuple] = []
        self.currently_running: dict[int, tuple] = {}

    def get_current_queue_volatile(self) -> tuple[list, list]:
        with self.mutex:
            return list(self.currently_running.values()), list(self.queue)


class StandInPromptServer:
    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.routes = web.RouteTableDef()
        self.app = web.Application()
        self.loop = loop
        self.prompt_queue = StandInQueue()
        self.sockets: dict[str, web.WebSocketResponse] = {}
        self.sent: list[tuple[str, Any, Any]] = []
        self.messages: asyncio.Queue | None = None
        self._pending: list[tuple[str, Any, Any]] = []

        @self.routes.get("/ws")
        async def websocket_handler(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            sid = request.query.get("clientId") or uuid.uuid4().hex
            self.sockets[sid] = ws
            try:
                await ws.send_json({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}},
                                                                "sid": sid}})
                async for message in ws:
                    if message.type == WSMsgType.ERROR:
                        break
            finally:
                self.sockets.pop(sid, None)
            return ws

        self.app.on_startup.append(self._start_publishing)

    def send_sync(self, event: str, data: Any, sid: Any = None) -> None:
        """Thread-safe, like ComfyUI's: queue now, send from the publish loop."""
        self.sent.append((event, data, sid))
        if self.messages is None or self.loop is None:
            self._pending.append((event, data, sid))  # before the server starts, messages wait
            return
        self.loop.call_soon_threadsafe(self.messages.put_nowait, (event, data, sid))

    async def _start_publishing(self, app: web.Application) -> None:
        self.loop = asyncio.get_running_loop()
        self.messages = asyncio.Queue()
        for item in self._pending:
            self.messages.put_nowait(item)
        self._pending.clear()
        self._publisher = asyncio.ensure_future(self._publish_loop())

    async def _publish_loop(self) -> None:
        assert self.messages is not None
        while True:
            event, data, sid = await self.messages.get()
            text = json.dumps({"type": event, "data": data})  # ComfyUI's send_json: raises on non-JSON
            targets = [self.sockets[sid]] if sid in self.sockets else list(self.sockets.values())
            for ws in targets:
                await ws.send_str(text)


def add_routes(prompt_server: StandInPromptServer) -> web.Application:
    """ComfyUI's add_routes(): an /api duplicate of every RouteDef, then the routes themselves."""
    api_routes = web.RouteTableDef()
    for route in prompt_server.routes:
        if isinstance(route, web.RouteDef):
            api_routes.route(route.method, "/api" + route.path)(route.handler, **route.kwargs)
    prompt_server.app.add_routes(api_routes)
    prompt_server.app.add_routes(prompt_server.routes)
    return prompt_server.app


def folder_paths_module(base: Path, extra: dict[str, list[Path]] | None = None) -> types.ModuleType:
    """A ``folder_paths`` with ComfyUI's defaults under ``base``, plus ``extra`` paths appended."""
    models = base / "models"
    names = {
        "checkpoints": ["checkpoints"], "configs": ["configs"], "loras": ["loras"], "vae": ["vae"],
        "text_encoders": ["text_encoders", "clip"], "diffusion_models": ["unet", "diffusion_models"],
        "clip_vision": ["clip_vision"], "upscale_models": ["upscale_models"], "embeddings": ["embeddings"],
        "controlnet": ["controlnet", "t2i_adapter"],
    }
    table: dict[str, tuple[list[str], set[str]]] = {
        name: ([str(models / d) for d in dirs], set(PT)) for name, dirs in names.items()
    }
    table["custom_nodes"] = ([str(base / "custom_nodes")], set())
    for name, paths in (extra or {}).items():
        table.setdefault(name, ([], set(PT)))[0].extend(str(p) for p in paths)
    module = types.ModuleType("folder_paths")
    module.base_path = str(base)
    module.models_dir = str(models)
    module.folder_names_and_paths = table
    module.supported_pt_extensions = set(PT)
    module.get_user_directory = lambda: str(base / "user")
    module.get_output_directory = lambda: str(base / "output")

    def get_folder_paths(name: str) -> list[str]:
        return list(table[{"unet": "diffusion_models", "clip": "text_encoders"}.get(name, name)][0])

    def get_filename_list(name: str) -> list[str]:
        found = set()
        for root in get_folder_paths(name):
            for dirpath, _, files in os.walk(root, followlinks=True):
                for file in files:
                    if os.path.splitext(file)[1].lower() in table[name][1]:
                        found.add(os.path.relpath(os.path.join(dirpath, file), root))
        return sorted(found)

    module.get_folder_paths = get_folder_paths
    module.get_filename_list = get_filename_list
    return module


def install(monkeypatch: Any, prompt_server: StandInPromptServer, folder_paths: types.ModuleType) -> None:
    """Put the stand-ins where ComfyUI's modules would be (``server``, ``folder_paths``)."""
    server = types.ModuleType("server")
    server.PromptServer = type("PromptServer", (), {"instance": prompt_server})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "server", server)
    monkeypatch.setitem(sys.modules, "folder_paths", folder_paths)
