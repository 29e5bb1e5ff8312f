"""The service this process runs, for code that is handed nothing: ComfyUI's nodes.

Inside ComfyUI the service is built when the app starts; server_routes/comfy.py publishes it
here with the loop it runs on. Nodes run in ComfyUI's prompt worker thread, so they find the
service here and hand their work to that loop (provision.py). Standalone and in the CLI
nothing is published. Importing this costs nothing: ComfyUI imports the nodes early.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from .service import LaunchpadService


class Running(NamedTuple):
    service: LaunchpadService
    loop: asyncio.AbstractEventLoop


_running: Running | None = None


def publish(service: LaunchpadService, loop: asyncio.AbstractEventLoop) -> None:
    """``service`` is this process's, running on ``loop``."""
    global _running
    _running = Running(service, loop)


def current() -> Running | None:
    """The published service and its loop, or None before (or without) one."""
    return _running


def service() -> LaunchpadService | None:
    return _running.service if _running is not None else None
