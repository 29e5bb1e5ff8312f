"""Which download engine a long-running host gets: the worker process (worker.py), or, where the
event loop cannot start subprocesses (Windows' selector loop), the manager in this process on a
thread of its own (local.py). Both answer the same Downloads protocol."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..catalog.loader import Catalog
    from ..config import Settings
    from ..events import EventBus
    from ..model_roots import ModelRoots
    from ..workspace import Workspace
    from .api import Downloads

log = logging.getLogger("launchpad.downloads")


async def start_engine(
    settings: Settings, workspace: Workspace, bus: EventBus, catalog: Callable[[], Catalog],
    roots: Callable[[], ModelRoots],
) -> Downloads:
    """The started engine. The worker process loads its own copy of the catalog."""
    from .worker import DownloadWorker

    worker = DownloadWorker(settings, bus, roots)
    try:
        await worker.start()
        return worker
    except NotImplementedError:
        log.warning("cannot start the download worker process here; downloading in this process instead")
    from .local import LocalDownloads
    from .manager import DownloadManager

    local = LocalDownloads(DownloadManager(settings, workspace, bus, catalog=catalog, roots=roots))
    await local.start()
    return local
