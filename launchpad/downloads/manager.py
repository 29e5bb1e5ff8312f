"""The download manager: the queue of file jobs behind every install, whoever asks for it.

The HTTP API, the sidebar and the CLI all drive this one object, the engine's implementation
of :class:`~.api.Downloads`. It runs on an asyncio loop (ComfyUI's, the standalone server's, or
the CLI's) and never blocks it: file-system work runs in threads. It takes the calls and runs
the queue; the jobs and their events are in ``book``, one job's download in ``pipeline``, the
journal in ``journal``, sizes in ``sizes`` and what an uninstall may delete in ``uninstall``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .. import events as event_types
from ..catalog import Catalog, ModelFile
from ..catalog.verified import VerifiedFiles
from ..config import Settings
from ..errors import Conflict, Forbidden, InvalidInput
from ..events import EventBus
from ..files import is_within
from ..model_roots import ModelRoots
from ..workspace import Workspace
from . import locks, progress, uninstall
from .api import InstallResult, JobData, Snapshot, UninstallResult
from .book import TICK, JobBook
from .jobs import Job, JobState
from .journal import Journal, JournalWrites
from .pipeline import Pipeline
from .sizes import SIZE_TIMEOUT, Sizes
from .verify import present

if TYPE_CHECKING:
    from .api import Downloads

log = logging.getLogger(__name__)

# files installed outside a preset are grouped under a label like ``workflow:<name>``
GROUP_LABEL = re.compile(r"^[a-z]+:[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


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
        self._writes = JournalWrites(self._journal)
        self._book = JobBook(events, self._writes)
        self._pipeline = Pipeline(settings, self._book, workspace.state / "locks", self._owner, self._verified)
        self._sizes = Sizes(self._pipeline)
        self._running: dict[str, asyncio.Task[None]] = {}
        self._queue: asyncio.Queue[str] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self._closing = False

    # --- lifecycle --------------------------------------------------------------------

    async def start(self, *, resume_jobs: bool = True) -> None:
        """Load the journal, resume unfinished jobs (unless ``resume_jobs`` is False), start workers."""
        if self._started:
            return
        self._book.reset()
        self._writes.reset()
        self._queue = asyncio.Queue()
        self._pipeline.open()
        if resume_jobs:
            jobs, presets = await asyncio.get_running_loop().run_in_executor(None, self._journal.load)
            self._book.presets.update(presets)
            for job in jobs:
                self._book.add(job)
                if job.state == JobState.QUEUED:
                    self._queue.put_nowait(job.id)
            if jobs:
                resumed = sum(j.state == JobState.QUEUED for j in jobs)
                log.info("download journal: %d jobs, %d to resume", len(jobs), resumed)
        self._started = True
        self._tasks = [asyncio.ensure_future(self._worker()) for _ in range(self.settings.concurrent_downloads)]
        self._tasks.append(asyncio.ensure_future(self._ticker()))
        self._tasks.append(asyncio.ensure_future(self._writes.run(self._book.newest, self._book.presets.get)))

    async def close(self) -> None:
        """Stop every transfer, keeping partial files and the journal so the next start resumes."""
        if not self._started or self._closing:
            return
        self._closing = True  # workers take no new job from here on
        pending = [*self._running.values(), *self._pipeline.waiting.values()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        for task in self._tasks:
            task.cancel()
        await asyncio.wait(self._tasks)
        self._tasks = []
        for job in self._book.jobs.values():
            if job.active and job.state != JobState.QUEUED:
                job.state, job.speed, job.eta = JobState.QUEUED, None, None
                job.message = "interrupted; resumes when Launchpad starts again"
                self._writes.job(job.key)
        await self._writes.save(self._book.newest, self._book.presets.get)
        await self._pipeline.close()
        self._started = False
        self._closing = False

    # --- installs -------------------------------------------------------------------

    async def install(self, preset_ids: Sequence[str]) -> InstallResult:
        """Queue the missing files of ``preset_ids``. NotFound (nothing queued) for an unknown id."""
        self._require_started()
        catalog = self._catalog()
        presets = [catalog.get(pid) for pid in dict.fromkeys(preset_ids)]
        return await self._enqueue([(preset.id, preset.files) for preset in presets], merge=False)

    async def install_files(self, files: Sequence[ModelFile], label: str, guarded: bool = False) -> InstallResult:
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
    ) -> InstallResult:
        """Queue each group's files that are neither on disk nor already being downloaded."""
        book = self._book
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
                members = {k: s for k, s in book.presets.get(group, {}).items() if book.active_job(k)} | members
            book.set_files(group, members)
        loop = asyncio.get_running_loop()
        touched: dict[str, Job] = {}
        skipped: list[str] = []
        for group, model_file, target in plan:
            job = book.active_job(model_file.key)
            if job is not None:
                if group not in job.preset_ids:
                    job.preset_ids.append(group)
                    book.touch(job)
                touched[job.id] = job
                continue
            if await loop.run_in_executor(None, present, model_file, roots, self._verified):
                if model_file.key not in skipped:
                    skipped.append(model_file.key)
                continue
            job = Job(file=model_file, target=target, preset_ids=[group], guarded=guarded)
            self._queue_new(job)
            touched[job.id] = job
        for group, _ in groups:
            book.emit_preset(group)
        return {"jobs": [job.to_dict() for job in touched.values()], "skipped": skipped}

    async def install_file(self, model_file: ModelFile, guarded: bool = False) -> JobData:
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
        if self._book.active_job(model_file.key) is not None:
            raise Conflict(f"{model_file.key} is already being downloaded")
        if await loop.run_in_executor(None, present, model_file, roots, self._verified):
            raise Conflict(f"{model_file.key} is already on disk; delete it first to download it again")
        job = Job(file=model_file, target=target, preset_ids=[], guarded=guarded)
        self._queue_new(job)
        return job.to_dict()

    async def sizes(
        self, files: Sequence[ModelFile], guarded: bool = False, timeout: float = SIZE_TIMEOUT
    ) -> dict[str, int | None]:
        """Each file's size in bytes at its source (by key; None when the source does not say in time)."""
        self._require_started()
        return await self._sizes.of(files, guarded, timeout)

    # --- cancel, retry, uninstall --------------------------------------------------------

    async def cancel(self, job_id: str) -> JobData:
        """Stop a job and delete its partial file. Conflict when it already finished."""
        job = self._book.get(job_id)
        if not job.active:
            raise Conflict(f"job {job_id} ({job.key}) is already {job.state}; nothing to cancel")
        await self._cancel(job)
        return job.to_dict()

    async def cancel_preset(self, preset_id: str) -> list[JobData]:
        """Cancel the preset's unfinished jobs; a job another preset also wants just leaves this one."""
        if preset_id not in self._book.presets:
            self._catalog().get(preset_id)  # NotFound for an id nobody knows
        cancelled = []
        for job in self._book.active():
            if preset_id not in job.preset_ids:
                continue
            if len(job.preset_ids) > 1:
                job.preset_ids.remove(preset_id)
                self._book.touch(job)
                continue
            await self._cancel(job)
            cancelled.append(job.to_dict())
        self._book.emit_preset(preset_id)
        return cancelled

    async def retry(self, job_id: str) -> JobData:
        """Queue a failed or cancelled job again (it resumes from what its partial file holds)."""
        self._require_started()
        job = self._book.get(job_id)
        if job.state not in (JobState.FAILED, JobState.CANCELLED):
            raise Conflict(f"job {job_id} ({job.key}) is {job.state}; only failed or cancelled jobs can be retried")
        if not self._book.is_newest(job):
            raise Conflict(f"a newer job for {job.key} exists; retry that one")
        job.error = job.message = None
        job.speed = job.eta = None
        self._book.set_state(job, JobState.QUEUED)
        self._requeue(job)
        return job.to_dict()

    async def uninstall(self, preset_id: str) -> UninstallResult:
        """Delete the preset's files unless another installed preset uses them. Conflict while downloading."""
        book = self._book
        catalog = self._catalog()
        preset = catalog.get(preset_id)
        busy = [j for j in book.active() if preset_id in j.preset_ids]
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
            holder = await loop.run_in_executor(None, self._pipeline.lock(target, model_file.key).holder)
            # our own lock outlives a finished job by a moment (released in a thread after the final
            # state); our active jobs were checked above, so only another process's lock counts
            if holder is not None and holder.owner != self._owner:
                raise Conflict(
                    f"{model_file.key} is being downloaded by {holder.describe()}; cancel it there first",
                    details={"key": model_file.key},
                )
        active = {j.key: j for j in book.active()}
        result = await loop.run_in_executor(
            None, uninstall.remove_files, catalog, preset, roots, active, self._verified
        )
        for job in uninstall.forgettable([book.newest(f.key) for f in preset.files], preset_id):
            book.forget(job)
        book.drop_preset(preset_id)
        self.events.emit(event_types.PRESET, progress.removed(preset))
        return result

    # --- read views ------------------------------------------------------------------------

    async def snapshot(self) -> Snapshot:
        """Every job and every preset's aggregate, as plain JSON-ready data."""
        return self._book.snapshot()

    async def wait(self, job_ids: Iterable[str] | None = None) -> None:
        """Until the given jobs (default: all jobs known now) are done, failed or cancelled."""
        await self._book.wait(job_ids)

    async def wait_or_stop(self, job_ids: Iterable[str], stop: asyncio.Event) -> bool:
        """:meth:`wait`, or until ``stop`` is set (a CLI's Ctrl-C): True when the jobs finished first."""
        waiting = asyncio.ensure_future(self.wait(job_ids))
        stopping = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        for task in (waiting, stopping):
            task.cancel()
        return waiting in done

    async def clear_finished(self) -> list[str]:
        """Forget every finished job (done, failed or cancelled) and every group with nothing left
        to download; files on disk stay. The ids of the jobs forgotten."""
        book = self._book
        finished = [job for job in book.jobs.values() if job.final]
        idle = [group for group, keys in book.presets.items() if not any(book.active_job(k) for k in keys)]
        return self._drop(finished, idle)

    async def drop_gone(self) -> list[str]:
        """Forget the done jobs whose file is no longer on disk (deleted since). Their ids."""
        book = self._book
        done = [job for job in book.jobs.values() if job.state == JobState.DONE]
        there = await asyncio.get_running_loop().run_in_executor(None, lambda: [j.target.is_file() for j in done])
        gone = [job for job, present in zip(done, there, strict=True) if not present]
        keys = {job.key for job in gone}
        idle = [group for group, members in book.presets.items()
                if keys & set(members) and not any(book.active_job(k) for k in members)]
        return self._drop(gone, idle)

    def _drop(self, jobs: Sequence[Job], groups: Sequence[str]) -> list[str]:
        """Forget ``jobs`` and ``groups`` (in the journal too); a group's tabs hear it was removed."""
        for job in jobs:
            self._book.forget(job)
        for group in groups:
            members = self._book.presets[group]
            self._book.drop_preset(group)
            self.events.emit(event_types.PRESET, progress.removed_group(group, len(members)))
        return [job.id for job in jobs]

    # --- the queue ----------------------------------------------------------------------

    def _require_started(self) -> None:
        if not self._started or self._closing:
            raise Conflict("the download manager is not running")

    def _queue_new(self, job: Job) -> None:
        self._book.add(job)
        self._requeue(job)
        self._book.touch(job)

    def _requeue(self, job: Job) -> None:
        assert self._queue is not None, "DownloadManager.start() first"
        self._queue.put_nowait(job.id)

    async def _cancel(self, job: Job) -> None:
        owned = job.id not in self._pipeline.waiting  # a waiting job's partial belongs to the other process
        for tasks in (self._running, self._pipeline.waiting):
            task = tasks.get(job.id)
            if task is not None:
                task.cancel()
                await asyncio.wait([task])
        self._book.set_state(job, JobState.CANCELLED, "cancelled")
        if owned:
            await asyncio.get_running_loop().run_in_executor(None, self._pipeline.discard_if_free, job)

    async def _worker(self) -> None:
        assert self._queue is not None
        while True:
            job_id = await self._queue.get()
            job = self._book.jobs.get(job_id)
            busy = job_id in self._running or job_id in self._pipeline.waiting
            if self._closing or job is None or job.state != JobState.QUEUED or busy:
                continue
            task = asyncio.ensure_future(self._pipeline.run(job, self._requeue))
            self._running[job_id] = task
            try:
                await asyncio.wait([task])  # returns even when the job task is cancelled
            finally:
                self._running.pop(job_id, None)
                if not task.done():
                    task.cancel()
            # retried while its run was still letting go of the lock: that queue entry found it
            # busy and was dropped, so it goes back in the queue now
            if job.state == JobState.QUEUED and not self._closing:
                self._requeue(job)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            try:
                self._book.tick()
            except Exception:  # progress must never take the manager down
                log.exception("download progress tick failed")


if TYPE_CHECKING:

    def _implements(manager: DownloadManager) -> Downloads:
        return manager  # mypy checks that the manager answers the whole interface
