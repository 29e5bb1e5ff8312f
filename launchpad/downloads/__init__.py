"""Downloads: resumable, verified, parallel installs of preset files.

:class:`DownloadManager` is the one entry point (HTTP API, sidebar, CLI). The modules:
``jobs`` (a file job and its states), ``manager`` (queue, workers, events, uninstall),
``sources`` (Hugging Face, Civitai, URLs -> what to fetch), ``credentials`` (which token goes
where), ``fetch`` (GET with per-hop credentials, retry policy), ``transfer`` (our ranged,
segmented, resumable downloader), ``resume`` (the sidecar of completed ranges), ``verify``
(sha256 while downloading, atomic publish), ``locks`` (shared-volume locks with heartbeat),
``space`` (free-space check), ``journal`` (the queue on disk), ``progress`` (speed, ETA).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .jobs import CANCELLED, DONE, DOWNLOADING, FAILED, QUEUED, RESOLVING, STATES, VERIFYING, Job

if TYPE_CHECKING:
    from .manager import DownloadManager


def __getattr__(name: str) -> object:
    # aiohttp and the rest load on first use: CLI commands that download nothing start faster
    if name == "DownloadManager":
        from .manager import DownloadManager

        return DownloadManager
    raise AttributeError(name)


__all__ = [
    "CANCELLED",
    "DONE",
    "DOWNLOADING",
    "FAILED",
    "QUEUED",
    "RESOLVING",
    "STATES",
    "VERIFYING",
    "DownloadManager",
    "Job",
]
