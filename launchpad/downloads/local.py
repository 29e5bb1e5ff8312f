"""The download manager in this process, on an event loop of its own in a daemon thread.

The fallback for hosts where the worker process (worker.py) cannot be started.
Downloads at hundreds of MB/s put thousands of small callbacks a second on whatever loop runs
them; on a thread of their own they at least do not queue in front of the host's requests
(though they still share its GIL, which is why the worker process is the default).

Callers on the host loop use :meth:`BackgroundLoop.run` (a coroutine function run there,
awaited here) and :meth:`BackgroundLoop.call` (a plain function run there).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .api import CALLS

if TYPE_CHECKING:
    from .api import Downloads
    from .manager import DownloadManager

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


class LocalDownloads:
    """The download manager in this process, on a :class:`BackgroundLoop`, answering every call of
    :class:`~.api.Downloads` by running it there. The fallback where a worker process cannot be started."""

    def __init__(self, manager: DownloadManager) -> None:
        self.manager = manager
        self.loop = BackgroundLoop()

    async def start(self) -> None:
        self.loop.start()
        await self.loop.run(self.manager.start)

    async def close(self) -> None:
        if self.loop.running:
            await self.loop.run(self.manager.close)
        await self.loop.stop()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name not in CALLS:
            raise AttributeError(name)
        method = getattr(self.manager, name)

        async def forward(*args: Any, **kwargs: Any) -> Any:
            return await self.loop.run(method, *args, **kwargs)  # the manager's state lives on its loop

        forward.__name__ = name
        return forward


if TYPE_CHECKING:

    def _implements(local: LocalDownloads) -> Downloads:
        return local  # mypy checks that the runner answers the whole interface
