"""Downloads: resumable, verified, parallel installs of preset files.

:class:`DownloadManager` is the one entry point (HTTP API, sidebar, CLI). The modules:
``jobs`` (a file job and its states), ``manager`` (queue, workers, events, uninstall),
``sources`` (Hugging Face, Civitai, URLs -> what to fetch), ``credentials`` (which token goes
where), ``fetch`` (GET with per-hop credentials, retry policy), ``transfer`` (our ranged,
segmented, resumable downloader), ``resume`` (the sidecar of completed ranges), ``verify``
(sha256 while downloading, atomic publish), ``locks`` (shared-volume locks with heartbeat),
``space`` (free-space check), ``journal`` (the queue on disk), ``progress`` (speed, ETA).
"""

from .jobs import CANCELLED, DONE, DOWNLOADING, FAILED, QUEUED, RESOLVING, STATES, VERIFYING, Job
from .manager import DownloadManager

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
