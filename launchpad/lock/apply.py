"""Making a workspace match a models lock (`launchpad provision`), idempotently.

First every file of the lock is looked for on disk: checked by size, and by sha256 when asked
to verify (hashing in threads). When nothing is missing that is all: no network, no download
engine loaded, a fraction of a second. Missing files go to the download engine
(:class:`~launchpad.downloads.manager.DownloadManager`, the one every install uses), pinned to
the lock's commits, with its volume locks: ten provisioners starting together on one volume
download each file once, the others wait and find it present. A read-only volume is only
checked: complete, it passes; incomplete, provisioning fails at once naming what is missing.

A file that is present but differs from the lock (another size, or another sha256 under
``verify``) is never overwritten, since another pod may be using it; it is reported as a
conflict, with what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .. import humanize
from ..config import Settings
from ..errors import WorkspaceError
from ..model_roots import ModelRoots
from ..workspace import Workspace
from .format import LockedFile, ModelsLock

PRESENT, VERIFIED, MISSING, CONFLICT = "present", "verified", "missing", "conflict"
HASH_WORKERS = 4
Emit = Callable[[dict[str, object]], None]


@dataclass(frozen=True)
class Found:
    """One file of the lock as found on disk."""

    file: LockedFile
    state: str  # present | verified | missing | conflict
    path: Path | None = None
    detail: str = ""

    def event(self) -> dict[str, object]:
        data: dict[str, object] = {"event": self.state, "key": self.file.key, "size": self.file.size}
        if self.path is not None:
            data["path"] = str(self.path)
        if self.detail:
            data["detail"] = self.detail
        return data


@dataclass
class Summary:
    files: int = 0
    present: int = 0
    downloaded: int = 0
    by_others: int = 0  # another process on the volume downloaded them meanwhile
    failed: list[dict[str, object]] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    bytes_downloaded: int = 0
    verified: bool = False
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def complete(self) -> bool:
        return not (self.failed or self.conflicts or self.interrupted)

    def to_dict(self) -> dict[str, object]:
        return {
            "event": "summary", "complete": self.complete, "files": self.files, "present": self.present,
            "downloaded": self.downloaded, "downloaded_by_others": self.by_others, "failed": self.failed,
            "conflicts": self.conflicts, "bytes_downloaded": self.bytes_downloaded, "verified": self.verified,
            "interrupted": self.interrupted, "seconds": round(self.seconds, 3),
        }

    def line(self) -> str:
        parts = [f"{self.present} present"]
        if self.downloaded or self.by_others:
            parts.append(f"{self.downloaded} downloaded ({humanize.size(self.bytes_downloaded)})")
        if self.by_others:
            parts.append(f"{self.by_others} downloaded by another process")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        if self.conflicts:
            parts.append(f"{len(self.conflicts)} in conflict")
        what = "complete" if self.complete else "INCOMPLETE"
        checked = ", sha256 verified" if self.verified else ""
        return (f"{what}: {humanize.count(self.files, 'file')}: {', '.join(parts)}{checked} "
                f"in {self.seconds:.2f} s")


# --- looking ----------------------------------------------------------------------------------


def check(lock: ModelsLock, roots: ModelRoots, *, verify: bool = False) -> list[Found]:
    """Each file of the lock as it is on disk. Blocking; hashing (``verify``) runs on a few threads."""
    found = [_look(locked, roots) for locked in lock.files]
    if not verify:
        return found
    hashable = [f for f in found if f.state == PRESENT and f.file.sha256 and f.path is not None]
    if not hashable:
        return found
    from ..downloads.verify import hash_file

    workers = min(HASH_WORKERS, len(hashable))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="launchpad-verify") as pool:
        hashes = pool.map(_safe_hash(hash_file), [f.path for f in hashable])
        digests = dict(zip((f.file.key for f in hashable), hashes, strict=True))
    result = []
    for item in found:
        digest = digests.get(item.file.key)
        if item.file.key not in digests:
            result.append(item)
        elif digest == item.file.sha256:
            result.append(Found(item.file, VERIFIED, item.path))
        else:
            shown = f"{digest[:12]}…" if digest else "unreadable"
            result.append(Found(item.file, CONFLICT, item.path,
                                f"sha256 {shown} differs from the lock's {item.file.sha256[:12]}…"))  # type: ignore[index]
    return result


def _safe_hash(hash_file: Callable[[Path], str]) -> Callable[[Path | None], str | None]:
    def run(path: Path | None) -> str | None:
        try:
            return hash_file(path) if path is not None else None
        except OSError:
            return None

    return run


def _look(locked: LockedFile, roots: ModelRoots) -> Found:
    try:
        path = roots.find(locked.folder, locked.name)
    except OSError:
        path = None
    if path is None:
        return Found(locked, MISSING)
    try:
        size = path.stat().st_size
    except OSError:
        return Found(locked, MISSING)
    if locked.size is not None and size != locked.size:
        return Found(locked, CONFLICT, path, f"is {size} bytes, the lock says {locked.size}")
    return Found(locked, PRESENT, path)


# --- provisioning -----------------------------------------------------------------------------------


async def provision(
    lock: ModelsLock,
    settings: Settings,
    *,
    name: str,
    verify: bool = False,
    emit: Emit | None = None,
    on_jobs: Callable[[set[str]], None] | None = None,
    stop: asyncio.Event | None = None,
) -> Summary:
    """Make ``settings.workspace`` hold every file of ``lock``; see the module docstring.

    ``emit`` gets one plain-JSON event per file found, per download state change or progress
    tick (``launchpad.download`` job dicts as ``{"event": "download", "job": ...}``), and the
    summary. ``stop`` set: downloads stop keeping partial files (a rerun resumes). Raises
    WorkspaceError on a read-only or absent volume that lacks files, naming them.
    """
    started = time.monotonic()
    tell = emit or (lambda event: None)
    workspace = Workspace(settings.workspace)
    roots = ModelRoots.for_workspace(workspace)
    found = await asyncio.to_thread(check, lock, roots, verify=verify)
    summary = Summary(files=len(found), verified=verify)
    for item in found:
        tell(item.event())
    summary.present = sum(f.state in (PRESENT, VERIFIED) for f in found)
    summary.conflicts = [f"{f.file.key}: {f.detail}; delete it (or take it out of the lock) and run provision "
                         "again" for f in found if f.state == CONFLICT]
    missing = [f.file for f in found if f.state == MISSING]
    if missing:
        try:
            await asyncio.to_thread(workspace.ensure)  # a real write test: a read-only volume fails it
        except WorkspaceError as exc:
            names = ", ".join(f.key for f in missing[:10]) + (" ..." if len(missing) > 10 else "")
            raise WorkspaceError(
                f"{exc.message.rstrip('.')}; it lacks {humanize.count(len(missing), 'file')} of the lock: {names}. "
                "Provision it once from a pod or job that mounts the volume read-write",
                details={"missing": [f.key for f in missing]},
            ) from None
        from ..leases import Lease

        # held while downloading: the files it brings are in use (a no-op run holds none, so a
        # read-only volume is never written to)
        with Lease.held(settings, workspace, "provision", locks={name: lock.keys}):
            await _download(missing, settings, workspace, roots, name, summary, tell, on_jobs, stop)
    summary.seconds = time.monotonic() - started
    tell(summary.to_dict())
    return summary


def group_label(name: str) -> str:
    """The download group of a lock's files, ``lock:<name>``."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.-")[:64]
    return f"lock:{slug or 'models'}"


async def _download(
    missing: Sequence[LockedFile],
    settings: Settings,
    workspace: Workspace,
    roots: ModelRoots,
    name: str,
    summary: Summary,
    tell: Emit,
    on_jobs: Callable[[set[str]], None] | None,
    stop: asyncio.Event | None,
) -> None:
    from ..catalog import Catalog
    from ..downloads.manager import DownloadManager
    from ..events import DOWNLOAD, EventBus

    bus = EventBus()
    mine: set[str] = set()

    def forward(kind: str, job: dict) -> None:
        if kind == DOWNLOAD and (not mine or job["id"] in mine):
            tell({"event": "download", "job": job})

    bus.subscribe(forward)
    empty = Catalog()
    manager = DownloadManager(settings, workspace, bus, lambda: empty, lambda: roots)
    await manager.start(resume_jobs=False)
    try:
        result = await manager.install_files([f.model_file() for f in missing], group_label(name))
        mine.update(job["id"] for job in result["jobs"])
        if on_jobs is not None:
            on_jobs(set(mine))
        summary.interrupted = not await manager.wait_or_stop(mine, stop or asyncio.Event())
        jobs = [j for j in (await manager.snapshot())["jobs"] if j["id"] in mine]
    finally:
        with contextlib.suppress(Exception):
            await manager.close()
    for job in jobs:
        if job["state"] == "done" and job.get("message") == "downloaded by another process":
            summary.by_others += 1
        elif job["state"] == "done":
            summary.downloaded += 1
            summary.bytes_downloaded += int(job.get("bytes_total") or job.get("bytes_done") or 0)
        elif not summary.interrupted or job["state"] == "failed":
            summary.failed.append({"key": job["key"], "state": job["state"], "error": job.get("error")})
    summary.present += len(result.get("skipped", []))
