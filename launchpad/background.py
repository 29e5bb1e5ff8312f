"""An event loop of our own, in a daemon thread, for the download manager.

Inside ComfyUI the host loop serves the UI, the WebSocket and /prompt. Downloads at hundreds
of MB/s put thousands of small callbacks a second on whatever loop runs them (socket reads,
write hand-offs, progress ticks); on ComfyUI's loop they queue in front of ComfyUI's own
requests (measured: GET /system_stats p99 going from ~6 ms to 100+ ms on two cores). On a
loop of their own they only compete for the CPU. The standalone server uses the same
arrangement, so both hosts behave alike.

Callers on the host loop use :meth:`run` (a coroutine function run there, awaited here) and
:meth:`call` (a plain function run there, e.g. to read state the manager mutates).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


class BackgroundLoop:
    def __init__(self, name: str = "launchpad-downloads") -> None:
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.loop is not None and self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()
            # whatever is left (cancelled tasks finishing) gets one last chance, then the loop closes
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        ready.wait()
        self.loop = loop

    async def run(self, function: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run ``await function(*args, **kwargs)`` on this loop; its result or exception here."""
        assert self.loop is not None, "BackgroundLoop.start() first"
        future = asyncio.run_coroutine_threadsafe(_call(function, args, kwargs), self.loop)
        return await asyncio.wrap_future(future)

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        """Run the plain function ``function(*args)`` on this loop's thread; its result here."""

        async def invoke() -> T:
            return function(*args)

        return await self.run(invoke)

    async def stop(self) -> None:
        """Stop the loop and wait for its thread (without blocking the caller's loop)."""
        loop, thread = self.loop, self._thread
        self.loop, self._thread = None, None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        await asyncio.to_thread(thread.join, 30)


async def _call(function: Callable[..., Awaitable[T]], args: tuple, kwargs: dict) -> T:
    return await function(*args, **kwargs)
