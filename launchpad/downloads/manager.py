"""The download manager: the queue of file jobs behind every install, whoever asks for it.

The HTTP API, the sidebar and the CLI all drive this one object. It runs on an asyncio loop
(ComfyUI's, the standalone server's, or the CLI's) and never blocks it: file-system work
runs in threads. State changes and progress go out as ``launchpad.download`` and
``launchpad.preset`` events (progress at most ``EVENT_HZ`` times a second per job, state
changes at once), and :meth:`snapshot` returns everything at any time.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import aiohttp

from .. import events as event_types
from .. import humanize
from ..catalog import Catalog, ModelFile, Preset
from ..catalog.schema import UrlSource
from ..catalog.state import INSTALLED, preset_state
from ..catalog.verified import VerifiedFiles, passed
from ..config import Settings
from ..errors import (
    Conflict,
    DownloadError,
    Forbidden,
    IntegrityError,
    InvalidInput,
    LaunchpadError,
    NotFound,
    SourceUnauthorized,
    TooLarge,
)
from ..events import EventBus
from ..files import is_within, partial_path
from ..model_roots import ModelRoots
from ..url_policy import HopPolicy
from ..workspace import Workspace
from . import guard, locks, resume, space
from .credentials import Credentials
from .jobs import (
    ACTIVE,
    CANCELLED,
    DONE,
    DOWNLOADING,
    FAILED,
    QUEUED,
    RESOLVING,
    VERIFYING,
    Job,
)
from .journal import Journal, job_record
from .progress import SpeedMeter, eta, overall_eta
from .sources import Resolved, Resolver
from .transfer import Transfer
from .verify import hash_file, publish

log = logging.getLogger(__name__)

EVENT_HZ = 4
TICK = 1.0 / EVENT_HZ
SAVE_DELAY = 0.5
# aiohttp pauses a connection when 2x this is buffered; larger means fewer pause/resume
# round trips through epoll, at READ_BUFFER x 2 x connections of memory at most.
READ_BUFFER = 2**20  # the journal is written at most this often while things change
# files installed outside a preset are grouped under a label like ``workflow:<name>``
GROUP_LABEL = re.compile(r"^[a-z]+:[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
SIZE_TIMEOUT = 8.0  # seconds :meth:`DownloadManager.sizes` waits for the sources
SIZE_TTL = 600.0  # seconds a source's answer about a size is remembered


class DownloadManager:
    """Installs presets as file jobs; see the module docstring. Create it, ``await start()``."""

    def __init__(
        self,
        settings: Settings,
        workspace: Workspace,
        events: EventBus,
        catalog: Callable[[], Catalog],
        roots: Callable[[], ModelRoots],
    ) -> None:
        self.settings = settings
        self.workspace = workspace
        self.events = events
        self._catalog = catalog
        self._roots = roots
        self._owner = locks.owner_id()
        self._journal = Journal(workspace.state)
        self._verified = VerifiedFiles(workspace.state)
        self._locks_dir = workspace.state / "locks"
        self._jobs: dict[str, Job] = {}  # id -> job
        self._by_key: dict[str, str] = {}  # file key -> id of its newest job
        self._presets: dict[str, dict[str, int | None]] = {}  # preset id -> {file key: size}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._waiting: dict[str, asyncio.Task[None]] = {}
        self._transfers: dict[str, Transfer] = {}
        self._meters: dict[str, SpeedMeter] = {}
        self._cancelling: set[str] = set()
        self._dirty_events: set[str] = set()
        self._dirty_keys: set[str] = set()
        self._dirty_presets: set[str] = set()
        self._forget_jobs: dict[str, str] = {}
        self._forget_presets: set[str] = set()
        self._changed = asyncio.Event()
        self._save_wanted = asyncio.Event()
        self._queue: asyncio.Queue[str] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self._resolver: Resolver | None = None
        self._policy = HopPolicy.from_settings(settings)
        self._checked_session: aiohttp.ClientSession | None = None  # for guarded jobs (guard.py)
        self._credentials = Credentials(settings)
        self._pool: ThreadPoolExecutor | None = None
        self._sizes: dict[tuple[str, str], tuple[int | None, float]] = {}  # (key, url) -> (size, when)
        self._started = False
        self._closing = False

    # --- lifecycle --------------------------------------------------------------------

    async def start(self, *, resume_jobs: bool = True) -> None:
        """Load the journal, resume unfinished jobs (unless ``resume_jobs`` is False), start workers."""
        if self._started:
            return
        loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self._save_wanted = asyncio.Event()
        self._queue = asyncio.Queue()
        self._pool = ThreadPoolExecutor(
            max_workers=max(4, self.settings.concurrent_downloads * 3), thread_name_prefix="launchpad-download"
        )
        connections = self.settings.concurrent_downloads * max(1, self.settings.segments) + 8
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections, limit_per_host=0),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=self.settings.stall_timeout),
            auto_decompress=False,
            read_bufsize=READ_BUFFER,
        )
        self._resolver = Resolver(self.settings, self._session, self._credentials)
        if resume_jobs:
            jobs, presets = await loop.run_in_executor(None, self._journal.load)
            self._presets.update(presets)
            for job in jobs:
                self._jobs[job.id] = job
                self._by_key[job.key] = job.id
                if job.state == QUEUED:
                    self._queue.put_nowait(job.id)
            if jobs:
                log.info("download journal: %d jobs, %d to resume", len(jobs), sum(j.state == QUEUED for j in jobs))
        self._started = True
        self._tasks = [asyncio.ensure_future(self._worker()) for _ in range(self.settings.concurrent_downloads)]
        self._tasks.append(asyncio.ensure_future(self._ticker()))
        self._tasks.append(asyncio.ensure_future(self._saver()))

    async def close(self) -> None:
        """Stop every transfer, keeping partial files and the journal so the next start resumes."""
        if not self._started or self._closing:
            return
        self._closing = True  # workers take no new job from here on
        pending = [*self._running.values(), *self._waiting.values()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        for task in self._tasks:
            task.cancel()
        await asyncio.wait(self._tasks)
        self._tasks = []
        for job in self._jobs.values():
            if job.state in (RESOLVING, DOWNLOADING, VERIFYING):
                job.state, job.speed, job.eta = QUEUED, None, None
                job.message = "interrupted; resumes when Launchpad starts again"
                self._dirty_keys.add(job.key)
        await self._save()
        if self._session is not None:
            await self._session.close()
        if self._checked_session is not None:
            await self._checked_session.close()
            self._checked_session = None
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await asyncio.get_running_loop().run_in_executor(None, pool.shutdown)
        self._started = False
        self._closing = False

    # --- public API -------------------------------------------------------------------

    async def install(self, preset_ids: Sequence[str]) -> dict[str, object]:
        """Queue the missing files of ``preset_ids``. NotFound (nothing queued) for an unknown id."""
        self._require_started()
        catalog = self._catalog()
        presets = [catalog.get(pid) for pid in dict.fromkeys(preset_ids)]
        return await self._enqueue([(preset.id, preset.files) for preset in presets], merge=False)

    async def install_files(self, files: Sequence[ModelFile], label: str, guarded: bool = False) -> dict[str, object]:
        """Queue the missing ones of ``files``, which belong to no preset, as the group ``label``.

        ``guarded``: their URLs came from a client (a workflow's links), so every hop of a plain
        URL download is checked (url_policy.HopPolicy).

        For files a workflow or a node names (``label`` like ``workflow:<name>``; a colon keeps
        it apart from preset ids). They take the same path as a preset's files: the same jobs,
        resume, verification and events; each job lists ``label`` in ``preset_ids`` and the
        group's progress goes out as ``launchpad.preset``. Earlier files of the same group that
        are still downloading stay in it.
        """
        self._require_started()
        if not GROUP_LABEL.match(label):
            raise InvalidInput(f"group label {label!r} must look like kind:name (letters, digits, _ . -)")
        unique = list({f.key: f for f in files}.values())
        if not unique:
            raise InvalidInput("no files to install")
        # their names came from a workflow, so like install_file they stay inside their folder
        roots = self._roots()
        for model_file in unique:
            dirs = roots.dirs(model_file.folder)
            if dirs and not await asyncio.get_running_loop().run_in_executor(
                None, is_within, roots.target(model_file.folder, model_file.name), dirs[0]
            ):
                raise Forbidden(f"{model_file.key} would be written outside {dirs[0]} through a symlink")
        return await self._enqueue([(label, tuple(unique))], merge=True, guarded=guarded)

    async def _enqueue(
        self, groups: Sequence[tuple[str, Sequence[ModelFile]]], *, merge: bool, guarded: bool = False
    ) -> dict[str, object]:
        """Queue each group's files that are neither on disk nor already being downloaded."""
        roots = self._roots()
        plan: list[tuple[str, ModelFile, Path]] = []
        for group, files in groups:
            for model_file in files:
                try:
                    target = roots.target(model_file.folder, model_file.name)
                except KeyError:
                    raise InvalidInput(
                        f"{group}: no directory is configured for model folder {model_file.folder!r}",
                        details={"preset": group, "folder": model_file.folder},
                    ) from None
                plan.append((group, model_file, target))
        for group, files in groups:
            members = {f.key: f.size for f in files}
            if merge:  # what the group still downloads stays part of its progress
                members = {k: s for k, s in self._presets.get(group, {}).items() if self._active_job(k)} | members
            self._presets[group] = members
            self._dirty_presets.add(group)
        loop = asyncio.get_running_loop()
        touched: dict[str, Job] = {}
        skipped: list[str] = []
        for group, model_file, target in plan:
            job = self._active_job(model_file.key)
            if job is not None:
                if group not in job.preset_ids:
                    job.preset_ids.append(group)
                    self._touch(job)
                touched[job.id] = job
                continue
            if await loop.run_in_executor(None, _present, model_file, roots, self._verified):
                if model_file.key not in skipped:
                    skipped.append(model_file.key)
                continue
            job = Job(file=model_file, target=target, preset_ids=[group], guarded=guarded)
            self._add(job)
            touched[job.id] = job
            assert self._queue is not None
            self._queue.put_nowait(job.id)
            self._touch(job)
        for group, _ in groups:
            self._emit_preset(group)
        self._save_soon()
        return {"jobs": [job.to_dict() for job in touched.values()], "skipped": skipped}

    async def sizes(
        self, files: Sequence[ModelFile], guarded: bool = False, timeout: float = SIZE_TIMEOUT
    ) -> dict[str, int | None]:
        """Each file's size in bytes at its source (by key; None when the source does not say in time).

        For telling what an install will take before it starts: the same resolution a download
        does, without retries, and remembered for a while (failures too) so a view that
        refreshes does not ask the sources again.
        """
        self._require_started()
        assert self._session is not None
        now = time.monotonic()
        result: dict[str, int | None] = {}
        todo: dict[str, ModelFile] = {}
        for model_file in files:
            cached = self._sizes.get((model_file.key, model_file.source.url))
            if model_file.size is not None:
                result[model_file.key] = model_file.size
            elif cached is not None and now - cached[1] < SIZE_TTL:
                result[model_file.key] = cached[0]
            else:
                todo[model_file.key] = model_file
        if not todo:
            return result
        quick = replace(self.settings, retries=0)
        resolver = Resolver(quick, self._session, self._credentials)
        if guarded and any(isinstance(f.source, UrlSource) for f in todo.values()):  # a workflow's links
            checked = Resolver(quick, self._guarded_session(), self._credentials, self._policy)
        else:
            checked = resolver
        tasks = {
            key: asyncio.ensure_future((checked if isinstance(f.source, UrlSource) else resolver).resolve(f))
            for key, f in todo.items()
        }
        await asyncio.wait(tasks.values(), timeout=timeout)
        for key, task in tasks.items():
            size = None
            if not task.done():
                task.cancel()
            elif task.exception() is not None:
                log.debug("no size for %s: %s", key, task.exception())
            else:
                size = task.result().size
            if task.done():
                self._sizes[(key, todo[key].source.url)] = (size, now)
            result[key] = size
        return result

    async def install_file(self, model_file: ModelFile, guarded: bool = False) -> dict[str, object]:
        """Queue one file that belongs to no preset (a custom URL download, already vetted;
        ``guarded``: every hop of it is checked too).

        Its name came from a client, so the target must stay inside the folder's first
        directory even through symlinks (Forbidden); Conflict when it is on disk or queued.
        """
        self._require_started()
        roots = self._roots()
        try:
            target = roots.target(model_file.folder, model_file.name)
        except KeyError:
            raise InvalidInput(f"no directory is configured for model folder {model_file.folder!r}") from None
        root = roots.dirs(model_file.folder)[0]
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(None, is_within, target, root):
            raise Forbidden(f"{model_file.key} would be written outside {root} through a symlink")
        if self._active_job(model_file.key) is not None:
            raise Conflict(f"{model_file.key} is already being downloaded")
        if await loop.run_in_executor(None, _present, model_file, roots, self._verified):
            raise Conflict(f"{model_file.key} is already on disk; delete it first to download it again")
        job = Job(file=model_file, target=target, preset_ids=[], guarded=guarded)
        self._add(job)
        assert self._queue is not None
        self._queue.put_nowait(job.id)
        self._touch(job)
        return job.to_dict()

    async def cancel(self, job_id: str) -> dict[str, object]:
        """Stop a job and delete its partial file. Conflict when it already finished."""
        job = self._get(job_id)
        if not job.active:
            raise Conflict(f"job {job_id} ({job.key}) is already {job.state}; nothing to cancel")
        await self._cancel(job)
        return job.to_dict()

    async def cancel_preset(self, preset_id: str) -> list[dict[str, object]]:
        """Cancel the preset's unfinished jobs; a job another preset also wants just leaves this one."""
        if preset_id not in self._presets:
            self._catalog().get(preset_id)  # NotFound for an id nobody knows
        cancelled = []
        for job in list(self._jobs.values()):
            if not job.active or preset_id not in job.preset_ids:
                continue
            if len(job.preset_ids) > 1:
                job.preset_ids.remove(preset_id)
                self._touch(job)
                continue
            await self._cancel(job)
            cancelled.append(job.to_dict())
        self._emit_preset(preset_id)
        return cancelled

    async def retry(self, job_id: str) -> dict[str, object]:
        """Queue a failed or cancelled job again (it resumes from what its partial file holds)."""
        self._require_started()
        job = self._get(job_id)
        if job.state not in (FAILED, CANCELLED):
            raise Conflict(f"job {job_id} ({job.key}) is {job.state}; only failed or cancelled jobs can be retried")
        if self._by_key.get(job.key) != job.id:
            raise Conflict(f"a newer job for {job.key} exists; retry that one")
        job.error = job.message = None
        job.speed = job.eta = None
        self._set_state(job, QUEUED)
        assert self._queue is not None
        self._queue.put_nowait(job.id)
        return job.to_dict()

    async def uninstall(self, preset_id: str) -> dict[str, object]:
        """Delete the preset's files unless another installed preset uses them. Conflict while downloading."""
        catalog = self._catalog()
        preset = catalog.get(preset_id)
        busy = [j for j in self._jobs.values() if j.active and preset_id in j.preset_ids]
        if busy:
            raise Conflict(
                f"preset {preset_id} has {len(busy)} downloads in progress; cancel them first",
                details={"jobs": [j.id for j in busy]},
            )
        roots = self._roots()
        loop = asyncio.get_running_loop()
        for model_file in preset.files:
            try:
                target = roots.target(model_file.folder, model_file.name)
            except KeyError:
                continue
            lock = locks.VolumeLock(self._locks_dir, target, model_file.key, self._owner, self.settings.lock_ttl)
            holder = await loop.run_in_executor(None, lock.holder)
            # our own lock outlives a finished job by a moment (released in a thread after the final
            # state); our active jobs were checked above, so only another process's lock counts
            if holder is not None and holder.owner != self._owner:
                raise Conflict(
                    f"{model_file.key} is being downloaded by {holder.describe()}; cancel it there first",
                    details={"key": model_file.key},
                )
        active_keys = {j.key: j for j in self._jobs.values() if j.active}
        result = await loop.run_in_executor(None, self._uninstall_files, catalog, preset, roots, active_keys)
        for model_file in preset.files:
            job = self._jobs.get(self._by_key.get(model_file.key, ""))
            if job is not None and not job.active and job.preset_ids == [preset_id]:
                self._forget(job)
        self._presets.pop(preset_id, None)
        self._forget_presets.add(preset_id)
        self._save_soon()
        self.events.emit(event_types.PRESET, _removed_aggregate(preset))
        return result

    def snapshot(self) -> dict[str, object]:
        """Every job and every preset's aggregate, as plain JSON-ready data."""
        jobs = sorted(self._jobs.values(), key=lambda j: j.created_at)
        return {
            "jobs": [job.to_dict() for job in jobs],
            "presets": {pid: self._aggregate(pid) for pid in self._presets},
        }

    async def clear_finished(self) -> list[str]:
        """Forget every finished job (done, failed or cancelled) and every group with nothing left
        to download; files on disk stay. The ids of the jobs forgotten."""
        finished = [job for job in self._jobs.values() if job.final]
        idle = [group for group, keys in self._presets.items() if not any(self._active_job(k) for k in keys)]
        return self._drop(finished, idle)

    async def drop_gone(self) -> list[str]:
        """Forget the done jobs whose file is no longer on disk (deleted since). Their ids."""
        done = [job for job in self._jobs.values() if job.state == DONE]
        there = await asyncio.get_running_loop().run_in_executor(None, lambda: [j.target.is_file() for j in done])
        gone = [job for job, present in zip(done, there, strict=True) if not present]
        keys = {job.key for job in gone}
        idle = [group for group, members in self._presets.items()
                if keys & set(members) and not any(self._active_job(k) for k in members)]
        return self._drop(gone, idle)

    def _drop(self, jobs: Sequence[Job], groups: Sequence[str]) -> list[str]:
        """Forget ``jobs`` and ``groups`` (in the journal too); a group's tabs hear it was removed."""
        for job in jobs:
            self._forget(job)
        for group in groups:
            members = self._presets.pop(group)
            self._forget_presets.add(group)
            self.events.emit(event_types.PRESET, _removed_group(group, len(members)))
        if jobs or groups:
            self._save_soon()
        return [job.id for job in jobs]

    async def wait(self, job_ids: Iterable[str] | None = None) -> None:
        """Until the given jobs (default: all jobs known now) are done, failed or cancelled."""
        ids = list(self._jobs) if job_ids is None else list(job_ids)
        for job_id in ids:
            self._get(job_id)
        while True:
            if all(self._jobs[i].state not in ACTIVE for i in ids if i in self._jobs):
                return
            changed = self._changed
            await changed.wait()

    # --- jobs ---------------------------------------------------------------------------

    def _require_started(self) -> None:
        if not self._started or self._closing:
            raise Conflict("the download manager is not running")

    def _get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise NotFound(f"unknown download job {job_id!r}", details={"job": job_id})
        return job

    def _active_job(self, key: str) -> Job | None:
        job = self._jobs.get(self._by_key.get(key, ""))
        return job if job is not None and job.active else None

    def _add(self, job: Job) -> None:
        old = self._jobs.get(self._by_key.get(job.key, ""))
        if old is not None and not old.active:
            del self._jobs[old.id]  # a new try at the same file replaces the finished one
        self._jobs[job.id] = job
        self._by_key[job.key] = job.id

    def _forget(self, job: Job) -> None:
        self._jobs.pop(job.id, None)
        if self._by_key.get(job.key) == job.id:
            del self._by_key[job.key]
        self._forget_jobs[job.key] = job.id
        self._dirty_keys.discard(job.key)

    def _touch(self, job: Job) -> None:
        job.updated_at = time.time()
        self._emit_job(job)
        self._dirty_keys.add(job.key)
        self._save_soon()

    def _set_state(self, job: Job, state: str, message: str | None = None) -> None:
        job.state = state
        job.message = message
        if state not in (DOWNLOADING, VERIFYING):
            job.speed = job.eta = None
        self._touch(job)
        for pid in job.preset_ids:
            self._emit_preset(pid)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _cancel(self, job: Job) -> None:
        self._cancelling.add(job.id)
        owned = job.id not in self._waiting  # a waiting job's partial belongs to the other process
        try:
            for tasks in (self._running, self._waiting):
                task = tasks.get(job.id)
                if task is not None:
                    task.cancel()
                    await asyncio.wait([task])
            self._set_state(job, CANCELLED, "cancelled")
            if owned:
                await asyncio.get_running_loop().run_in_executor(None, self._discard_if_free, job)
        finally:
            self._cancelling.discard(job.id)

    def _discard_if_free(self, job: Job) -> None:
        """Delete the job's partial file unless another process is downloading into it."""
        lock = locks.VolumeLock(self._locks_dir, job.target, job.key, self._owner, self.settings.lock_ttl)
        if lock.try_acquire() is None:
            try:
                resume.discard(partial_path(job.target))
            finally:
                lock.release()

    # --- workers ------------------------------------------------------------------------

    async def _worker(self) -> None:
        assert self._queue is not None
        while True:
            job_id = await self._queue.get()
            job = self._jobs.get(job_id)
            busy = job_id in self._running or job_id in self._waiting
            if self._closing or job is None or job.state != QUEUED or busy:
                continue
            task = asyncio.ensure_future(self._run(job))
            self._running[job_id] = task
            try:
                await asyncio.wait([task])  # returns even when the job task is cancelled
            finally:
                self._running.pop(job_id, None)
                if not task.done():
                    task.cancel()

    async def _run(self, job: Job) -> None:
        loop = asyncio.get_running_loop()
        lock = locks.VolumeLock(self._locks_dir, job.target, job.key, self._owner, self.settings.lock_ttl)
        holder = await loop.run_in_executor(None, lock.try_acquire)
        if holder is not None:
            self._touch_message(job, f"waiting: {holder.describe()} is downloading this file")
            self._waiting[job.id] = asyncio.ensure_future(self._wait_for_other(job, lock))
            return
        beat = asyncio.ensure_future(locks.heartbeat(lock, max(0.5, self.settings.lock_ttl / 4)))
        try:
            await self._download(job)
        except asyncio.CancelledError:
            raise  # cancel() or close() decide what the job becomes
        except LaunchpadError as exc:
            await self._fail(job, exc)
        except Exception as exc:
            log.exception("download of %s failed unexpectedly", job.key)
            await self._fail(job, DownloadError(f"{job.key}: unexpected error: {exc}"))
        finally:
            beat.cancel()
            self._transfers.pop(job.id, None)
            self._meters.pop(job.id, None)
            await asyncio.shield(loop.run_in_executor(None, lock.release))

    async def _wait_for_other(self, job: Job, lock: locks.VolumeLock) -> None:
        """Another process holds the file's lock: wait until it finished (done) or went away (requeue)."""
        loop = asyncio.get_running_loop()
        interval = min(2.0, max(0.2, self.settings.lock_ttl / 10))
        try:
            while True:
                await asyncio.sleep(interval)
                if await loop.run_in_executor(None, _target_ok, job):
                    job.bytes_done = job.bytes_total or job.bytes_done
                    self._set_state(job, DONE, "downloaded by another process")
                    return
                holder = await loop.run_in_executor(None, lock.holder)
                if holder is None:
                    self._touch_message(job, None)
                    assert self._queue is not None
                    self._queue.put_nowait(job.id)
                    return
        finally:
            self._waiting.pop(job.id, None)

    def _touch_message(self, job: Job, message: str | None) -> None:
        if job.message != message:
            job.message = message
            self._touch(job)

    async def _download(self, job: Job) -> None:
        loop = asyncio.get_running_loop()
        assert self._resolver is not None and self._session is not None and self._pool is not None
        job.attempts += 1
        job.error = None
        if await loop.run_in_executor(None, _target_ok, job):
            if job.file.sha256 is None:
                job.bytes_done = job.bytes_total or 0
                self._set_state(job, DONE, "already present")
                return
            self._set_state(job, VERIFYING, "checking the sha256 of the file already on disk")
            if await loop.run_in_executor(self._pool, hash_file, job.target) == job.file.sha256:
                await loop.run_in_executor(None, self._verified.record, job.target, job.file.sha256)
                job.bytes_done = job.bytes_total = job.target.stat().st_size
                self._set_state(job, DONE, "already present; its sha256 matches the catalog")
                return
            log.warning("%s: the file on disk does not match the catalog's sha256; downloading it", job.key)
        self._set_state(job, RESOLVING)
        resolved = await self._resolve(job)
        partial = partial_path(job.target)
        job.bytes_done = await loop.run_in_executor(None, _resumable_bytes, partial, resolved)
        resumed = job.bytes_done > 0  # bytes from an earlier attempt: a mismatch may be theirs
        await loop.run_in_executor(
            None, space.check, job.target, self._remaining(), self.settings.free_space_margin
        )
        refreshed = False
        mismatches = 0
        while True:
            guard = self._guard(job)
            transfer = Transfer(
                session=self._guarded_session() if guard else self._session,
                policy=guard,
                credentials=self._credentials,
                settings=self.settings,
                resolved=resolved,
                partial=partial,
                pool=self._pool,
                label=job.key,
                want_sha256=resolved.sha256 is not None,
            )
            self._transfers[job.id] = transfer
            self._meters[job.id] = SpeedMeter()
            message = f"resuming at {humanize.size(job.bytes_done)}" if job.bytes_done else None
            self._set_state(job, DOWNLOADING, message)
            try:
                await transfer.run()
            except SourceUnauthorized:
                await transfer.discard_hasher()
                if refreshed:
                    raise
                refreshed = True  # presigned URLs expire (Civitai: 24 h): ask the source for a fresh one
                self._set_state(job, RESOLVING, "the download link expired; asking the source again")
                resolved = await self._resolve(job)
                continue
            except BaseException:
                await transfer.discard_hasher()
                raise
            finally:
                job.bytes_done = transfer.received
            self._set_state(job, VERIFYING)
            digest = await transfer.sha256()
            size = transfer.size or 0
            job.bytes_total = size
            problem = _integrity_problem(job.file, resolved, size, digest)
            if problem is not None:
                await loop.run_in_executor(None, resume.discard, partial)
                mismatches += 1
                # a download from zero that fails its check would fail the same way again: only
                # bytes kept from an earlier attempt are worth one more try from zero
                if mismatches >= 2 or not resumed:
                    again = ", twice" if mismatches >= 2 else ""
                    raise IntegrityError(f"{job.key}: {problem}{again}; the partial file was deleted",
                                         details={"expected_sha256": resolved.sha256, "actual_sha256": digest})
                log.warning("%s: %s; downloading it again from zero", job.key, problem)
                job.bytes_done = 0
                resumed = False
                continue
            await loop.run_in_executor(None, publish, partial, job.target)
            if digest is not None and digest == resolved.sha256:
                await loop.run_in_executor(None, self._verified.record, job.target, digest)
            job.bytes_done = size
            self._set_state(job, DONE)
            return

    def _guard(self, job: Job) -> HopPolicy | None:
        """The policy for each hop of ``job``: a plain URL a client gave. Hugging Face and Civitai
        sources talk to the endpoints the operator configured, and go where those send them."""
        return self._policy if job.guarded and isinstance(job.file.source, UrlSource) else None

    def _guarded_session(self) -> aiohttp.ClientSession:
        """The session for guarded downloads, made when first needed (most pods never need one)."""
        if self._checked_session is None:
            self._checked_session = guard.guarded_session(
                self._policy,
                limit=self.settings.concurrent_downloads * max(1, self.settings.segments) + 8,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=self.settings.stall_timeout),
                auto_decompress=False,
                read_bufsize=READ_BUFFER,
            )
        return self._checked_session

    async def _resolve(self, job: Job) -> Resolved:
        assert self._resolver is not None
        policy = self._guard(job)
        resolver = self._resolver
        if policy is not None:
            resolver = Resolver(self.settings, self._guarded_session(), self._credentials, policy)
        resolved = await resolver.resolve(job.file)
        if job.file.size is not None and resolved.size is not None and resolved.size != job.file.size:
            raise IntegrityError(
                f"{job.key}: the source's file is {resolved.size} bytes, the preset expects {job.file.size}; "
                "the preset is out of date or the file changed at the source",
                details={"expected_size": job.file.size, "source_size": resolved.size},
            )
        if resolved.size is not None and resolved.size > self.settings.max_download_size:
            raise TooLarge(
                f"{job.key} is {humanize.size(resolved.size)}, more than MAX_DOWNLOAD_SIZE "
                f"({humanize.size(self.settings.max_download_size)}); raise MAX_DOWNLOAD_SIZE to download it",
                details={"size": resolved.size, "max": self.settings.max_download_size},
            )
        job.bytes_total = resolved.size
        job.origin = {k: v for k, v in (("commit", resolved.commit), ("filename", resolved.filename)) if v}
        self._touch(job)
        return resolved

    def _remaining(self) -> list[tuple[Path, int]]:
        """(target, bytes still to write) of every unfinished job: what free space must cover."""
        return [(j.target, (j.bytes_total or 0) - j.bytes_done) for j in self._jobs.values() if j.active]

    async def _fail(self, job: Job, exc: LaunchpadError) -> None:
        keep = isinstance(exc, DownloadError) and exc.retryable and not isinstance(exc, IntegrityError)
        partial = partial_path(job.target)
        details = dict(exc.details)
        if keep and job.bytes_done:
            details["partial_kept"] = job.bytes_done  # a network failure: retry resumes from here
        else:
            await asyncio.get_running_loop().run_in_executor(None, resume.discard, partial)
        job.error = {"code": exc.code, "message": exc.message, "details": details}
        log.warning("download of %s failed: %s", job.key, exc.message)
        self._set_state(job, FAILED)

    # --- progress and events ----------------------------------------------------------------

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            try:
                self._tick()
            except Exception:  # progress must never take the manager down
                log.exception("download progress tick failed")

    def _tick(self) -> None:
        now = time.monotonic()
        presets: set[str] = set()
        for job_id, transfer in list(self._transfers.items()):
            job = self._jobs.get(job_id)
            if job is None or job.state not in (DOWNLOADING, VERIFYING):
                continue
            meter = self._meters.setdefault(job_id, SpeedMeter())
            job.bytes_done = transfer.received
            if transfer.size is not None:
                job.bytes_total = transfer.size
            job.speed = meter.sample(job.bytes_done, now)
            remaining = job.bytes_total - job.bytes_done if job.bytes_total is not None else None
            job.eta = eta(remaining, job.speed)
            job.updated_at = time.time()
            self._dirty_events.add(job_id)
        for job_id in list(self._dirty_events):
            job = self._jobs.get(job_id)
            if job is not None:
                self.events.emit(event_types.DOWNLOAD, job.to_dict())
                presets.update(job.preset_ids)
        self._dirty_events.clear()
        for pid in presets:
            self._emit_preset(pid)

    def _emit_job(self, job: Job) -> None:
        self._dirty_events.discard(job.id)
        self.events.emit(event_types.DOWNLOAD, job.to_dict())

    def _emit_preset(self, preset_id: str) -> None:
        if preset_id in self._presets:
            self.events.emit(event_types.PRESET, self._aggregate(preset_id))

    def _aggregate(self, preset_id: str) -> dict[str, object]:
        files = self._presets.get(preset_id, {})
        bytes_total = bytes_done = files_done = files_failed = 0
        sizes_known = True
        states: set[str] = set()
        speed = 0.0
        running_etas: list[float | None] = []
        for key, size in files.items():
            job = self._jobs.get(self._by_key.get(key, ""))
            if job is None:  # present when the preset was installed
                files_done += 1
                bytes_total += size or 0
                bytes_done += size or 0
                continue
            states.add(job.state)
            total = job.bytes_total if job.bytes_total is not None else size
            if total is None:
                sizes_known = False
            bytes_total += total or 0
            bytes_done += job.bytes_done if job.state != DONE else (total or job.bytes_done)
            files_done += job.state == DONE
            files_failed += job.state == FAILED
            if job.active:
                speed += job.speed or 0.0
                running_etas.append(job.eta)
        if states & {RESOLVING, DOWNLOADING, VERIFYING}:
            state = "downloading"
        elif QUEUED in states:
            state = "queued"
        elif FAILED in states:
            state = "failed"
        elif CANCELLED in states:
            state = "cancelled"
        else:
            state = "done"
        active = state in ("downloading", "queued")
        return {
            "preset_id": preset_id,
            "state": state,
            "bytes_done": bytes_done,
            "bytes_total": bytes_total if sizes_known else None,
            "speed": speed if active else None,
            "eta": overall_eta(bytes_total - bytes_done, speed, running_etas) if active and sizes_known else None,
            "files_total": len(files),
            "files_done": files_done,
            "files_failed": files_failed,
        }

    # --- journal --------------------------------------------------------------------------

    def _save_soon(self) -> None:
        self._save_wanted.set()

    async def _saver(self) -> None:
        while True:
            await self._save_wanted.wait()
            await asyncio.sleep(SAVE_DELAY)
            self._save_wanted.clear()
            try:
                await self._save()
            except Exception:
                log.exception("cannot write the download journal")

    async def _save(self) -> None:
        jobs = {}
        for key in self._dirty_keys:
            job = self._jobs.get(self._by_key.get(key, ""))
            if job is not None:
                jobs[key] = job_record(job)
        presets = {pid: dict(self._presets[pid]) for pid in self._dirty_presets if pid in self._presets}
        forget_jobs, forget_presets = dict(self._forget_jobs), set(self._forget_presets)
        if not (jobs or presets or forget_jobs or forget_presets):
            return
        self._dirty_keys.clear()
        self._dirty_presets.clear()
        self._forget_jobs.clear()
        self._forget_presets.clear()
        await asyncio.get_running_loop().run_in_executor(
            None, self._journal.save, jobs, presets, forget_jobs, forget_presets
        )

    # --- uninstall ----------------------------------------------------------------------------

    def _uninstall_files(
        self, catalog: Catalog, preset: Preset, roots: ModelRoots, active: dict[str, Job]
    ) -> dict[str, object]:
        deleted: list[str] = []
        kept: list[dict[str, object]] = []
        installed: dict[str, bool] = {}
        for model_file in preset.files:
            users = []
            for other in catalog.users_of(model_file.key):
                if other == preset.id:
                    continue
                if other not in installed:
                    checks = self._verified.load()
                    installed[other] = preset_state(catalog.get(other), roots, checks)[0] == INSTALLED
                if installed[other]:
                    users.append(other)
            job = active.get(model_file.key)
            if job is not None:
                users.extend(p for p in job.preset_ids if p not in users)
            if users:
                kept.append({"key": model_file.key, "used_by": users})
                continue
            for path in roots.candidates(model_file.folder, model_file.name):
                for candidate in (path, partial_path(path)):
                    if candidate.is_file():
                        candidate.unlink()
                        deleted.append(str(candidate))
                resume.discard(partial_path(path))
        return {"deleted": deleted, "kept": kept}


def _removed_aggregate(preset: Preset) -> dict[str, object]:
    return {
        "preset_id": preset.id,
        "state": "removed",
        "bytes_done": 0,
        "bytes_total": preset.total_size,
        "speed": None,
        "eta": None,
        "files_total": len(preset.files),
        "files_done": 0,
        "files_failed": 0,
    }


def _removed_group(group: str, files: int) -> dict[str, object]:
    return {
        "preset_id": group,
        "state": "removed",
        "bytes_done": 0,
        "bytes_total": None,
        "speed": None,
        "eta": None,
        "files_total": files,
        "files_done": 0,
        "files_failed": 0,
    }


# --- blocking helpers (run in threads) ------------------------------------------------------


def _present(model_file: ModelFile, roots: ModelRoots, verified: VerifiedFiles) -> bool:
    """The file is on disk already and passed its checks: the right size when known, and a record
    that these bytes hashed to the sha256 when one is known (a job checks a file without one)."""
    found = roots.find(model_file.folder, model_file.name)
    if found is None:
        return False
    st = found.stat()
    if model_file.size is not None and st.st_size != model_file.size:
        return False
    return passed(verified.load(), str(found), st.st_size, st.st_mtime, model_file.sha256)


def _target_ok(job: Job) -> bool:
    """The job's target exists with the size it must have (when that is known)."""
    try:
        size = job.target.stat().st_size
    except OSError:
        return False
    expected = job.file.size if job.file.size is not None else job.bytes_total
    return expected is None or size == expected


def _resumable_bytes(partial: Path, resolved: Resolved) -> int:
    state = resume.load(partial)
    if state is None or state.identity != resolved.identity or state.size != resolved.size or not resolved.ranges:
        return 0
    return state.bytes_done


def _integrity_problem(model_file: ModelFile, resolved: Resolved, size: int, digest: str | None) -> str | None:
    expected_size = model_file.size if model_file.size is not None else resolved.size
    if expected_size is not None and size != expected_size:
        return f"received {size} bytes, expected {expected_size}"
    if resolved.sha256 and digest != resolved.sha256:
        return f"sha256 mismatch (expected {resolved.sha256[:12]}…, got {(digest or '?')[:12]}…)"
    return None
