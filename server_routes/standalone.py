"""`launchpad serve`: the same routes without ComfyUI, plus a WebSocket hub and the dashboard page.

Every route answers at /launchpad/... and /api/launchpad/... (the frontend's fetchApi adds
/api inside ComfyUI, so the panel code works unchanged here). /ws and /api/ws send the
envelope ComfyUI uses, ``{"type": ..., "data": ...}``, starting with a ``status`` message
that carries the client's ``sid``. The page at / is web/index.html; web/ is also served at
/extensions/launchpad/ like ComfyUI serves it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from pathlib import Path

from aiohttp import WSMsgType, hdrs, web
from aiohttp.typedefs import Handler

from ..launchpad.config import Settings
from ..launchpad.service import Host, LaunchpadService
from .errors import MethodNotAllowed, RouteNotFound, error_response
from .routes import ROUTES
from .security import install_gate
from .table import bind

log = logging.getLogger("launchpad.http")

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
SEND_TIMEOUT = 10.0


class WebSocketHub:
    """Broadcasts bus events to every connected socket; ``publish`` may be called from any thread."""

    def __init__(self) -> None:
        self.clients: dict[str, web.WebSocketResponse] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[str] | None = None
        self._pump: asyncio.Task | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._pump = asyncio.ensure_future(self._run())

    async def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)
        for ws in list(self.clients.values()):
            await ws.close()
        self.clients.clear()

    def publish(self, event: str, data: dict) -> None:
        if self._loop is None or self._queue is None or self._loop.is_closed():
            return
        text = json.dumps({"type": event, "data": data})  # the bus already made data plain JSON
        self._loop.call_soon_threadsafe(self._queue.put_nowait, text)

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            text = await self._queue.get()
            await asyncio.gather(*(self._send(sid, ws, text) for sid, ws in list(self.clients.items())))

    async def _send(self, sid: str, ws: web.WebSocketResponse, text: str) -> None:
        try:
            await asyncio.wait_for(ws.send_str(text), SEND_TIMEOUT)
        except (ConnectionError, RuntimeError, asyncio.TimeoutError) as exc:
            log.debug("dropping WebSocket client %s: %s", sid, exc)
            if self.clients.get(sid) is ws:
                del self.clients[sid]
            await ws.close()

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        sid = request.query.get("clientId") or uuid.uuid4().hex
        previous = self.clients.get(sid)
        if previous is not None:  # like ComfyUI: a reconnect with the same id replaces the old socket
            await previous.close()
        self.clients[sid] = ws
        try:
            status = {"status": {"exec_info": {"queue_remaining": 0}}, "sid": sid}
            await ws.send_json({"type": "status", "data": status})
            async for message in ws:
                if message.type == WSMsgType.ERROR:
                    break  # clients have nothing to tell us; other messages are ignored
        finally:
            if self.clients.get(sid) is ws:
                del self.clients[sid]
        return ws


SERVICE = web.AppKey("launchpad_service", LaunchpadService)
HUB = web.AppKey("launchpad_hub", WebSocketHub)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Unknown paths and methods under our prefixes answer in the API's JSON error shape."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        if request.path.startswith(("/launchpad", "/api/")):
            return error_response(RouteNotFound(f"no route {request.path}; see /launchpad/openapi.json"))
        raise
    except web.HTTPMethodNotAllowed as exc:
        if request.path.startswith(("/launchpad", "/api/")):
            allowed = ", ".join(sorted(exc.allowed_methods))
            message = f"{request.method} is not allowed on {request.path}; use {allowed}"
            response = error_response(MethodNotAllowed(message))
            response.headers[hdrs.ALLOW] = allowed  # RFC 9110: a 405 says what is allowed
            return response
        raise


async def _index(request: web.Request) -> web.FileResponse:
    response = web.FileResponse(WEB_DIR / "index.html")
    response.headers["Cache-Control"] = "no-cache"
    return response


def create_app(service: LaunchpadService) -> web.Application:
    """The standalone application around ``service`` (started and closed with the app)."""
    app = web.Application(middlewares=[json_errors])
    install_gate(app, service.settings, service.workspace.state)
    hub = WebSocketHub()
    app[SERVICE] = service
    app[HUB] = hub
    for method, path, handler in bind(ROUTES, service):
        app.router.add_route(method, path, handler)
        app.router.add_route(method, "/api" + path, handler)
    app.router.add_get("/ws", hub.handle)
    app.router.add_get("/api/ws", hub.handle)
    app.router.add_get("/", _index)
    app.router.add_static("/extensions/launchpad/", WEB_DIR)

    unsubscribe: list = []
    starting: list[asyncio.Future] = []

    async def on_startup(app: web.Application) -> None:
        hub.start()
        unsubscribe.append(service.bus.subscribe(hub.publish))
        # start in the background: the port answers (health says "starting") while the catalog loads
        starting.append(asyncio.ensure_future(service.start()))

    async def on_shutdown(app: web.Application) -> None:
        # open browser tabs keep their WebSockets: close them first, or stopping waits out aiohttp's timeout
        for undo in unsubscribe:
            undo()
        unsubscribe.clear()
        await hub.close()

    async def on_cleanup(app: web.Application) -> None:
        await on_shutdown(app)
        for start in starting:
            if not start.done():
                start.cancel()
        await service.close()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return app


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8189) -> None:
    """Run the standalone server until interrupted."""
    from ..launchpad.logs import secrets_of, setup_logging

    setup_logging(settings.workspace / "logs", settings.log_level, secrets_of(settings))
    service = LaunchpadService(settings, Host(mode="standalone", ask_sizes=True))
    app = create_app(service)
    url_host = f"[{host}]" if ":" in host else host
    log.info("Launchpad standalone on http://%s:%d (workspace %s)", url_host, port, settings.workspace)
    web.run_app(app, host=host, port=port, print=lambda *_: None, access_log=None)
