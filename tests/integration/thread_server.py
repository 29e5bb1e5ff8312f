"""An aiohttp app served from a background thread, for fakes a ComfyUI subprocess must reach.

pytest-aiohttp's servers live on a per-test event loop, so they cannot outlive one test, while
the ``comfyui`` fixture serves a whole module. A fake Hugging Face Hub for ComfyUI to download
from runs here instead, on its own loop, bound to 127.0.0.1 on a free port:

    @pytest.fixture(scope="module")
    def fake_hub():
        with ThreadServer(make_fake_hub_app()) as server:
            yield server

    @pytest.fixture(scope="module")
    def comfyui_options(fake_hub):
        return LaunchOptions(env={"HF_ENDPOINT": fake_hub.url})
"""

from __future__ import annotations

import asyncio
import socket
import threading
from types import TracebackType

from aiohttp import web


class ThreadServer:
    """Serves ``app`` on 127.0.0.1 from a daemon thread between ``start()`` and ``close()``."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(app)
        self._thread = threading.Thread(target=self._loop.run_forever, name="thread-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _start(self, sock: socket.socket) -> None:
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    def start(self) -> ThreadServer:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))  # bound here, so the port is known and cannot be taken meanwhile
        self.port = sock.getsockname()[1]
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(sock), self._loop).result(30)
        return self

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()

    def __enter__(self) -> ThreadServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
