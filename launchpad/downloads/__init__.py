"""Downloads: resumable, verified, parallel installs of preset files.

:class:`~.api.Downloads` is the engine's interface and :class:`DownloadManager` its one
implementation; ``worker`` runs the manager in a child process (``worker_main`` is that
process's entry) and ``local`` on a loop thread of this one, both derived from the interface.
The rest, by job: ``jobs`` (a file job and its states), ``book`` (every job, its state changes
and the events they send), ``pipeline`` (one job from lock to published file), ``progress``
(speed, ETA, a preset's jobs added up), ``sizes`` (what files weigh before downloading),
``uninstall`` (which files a preset may delete), ``journal`` (the queue on disk), ``sources``
(Hugging Face, Civitai, URLs -> what to fetch), ``credentials`` (which token goes where),
``fetch`` (GET with per-hop credentials, retry policy), ``transfer`` (our ranged, segmented,
resumable downloader), ``resume`` (the sidecar of completed ranges), ``verify`` (sha256 while
downloading, atomic publish), ``locks`` (shared-volume locks with heartbeat), ``guard`` (the
resolver for client-given URLs), ``space`` (free-space check).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .jobs import Job, JobState, PresetState

if TYPE_CHECKING:
    from .api import Downloads
    from .manager import DownloadManager


def __getattr__(name: str) -> object:
    # aiohttp and the rest load on first use: CLI commands that download nothing start faster
    if name == "DownloadManager":
        from .manager import DownloadManager

        return DownloadManager
    if name == "Downloads":
        from .api import Downloads

        return Downloads
    raise AttributeError(name)


__all__ = ["DownloadManager", "Downloads", "Job", "JobState", "PresetState"]
