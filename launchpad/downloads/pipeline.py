"""One job, from the volume lock to the published file.

volume lock -> resolving (sources.py) -> free space + MAX_DOWNLOAD_SIZE -> downloading
(transfer.py) -> verifying (size, sha256) -> publish (fsync, rename) -> done, or failed. A job
whose file another process is downloading waits for it instead. The pipeline owns the HTTP
sessions every job shares; the manager's workers call :meth:`Pipeline.run`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp

from .. import humanize
from ..catalog.schema import ModelFile, UrlSource
from ..catalog.verified import VerifiedFiles
from ..config import Settings
from ..errors import DownloadError, IntegrityError, LaunchpadError, SourceUnauthorized, TooLarge
from ..files import partial_path
from ..url_policy import HopPolicy
from . import guard, locks, resume, space
from .book import JobBook
from .credentials import Credentials
from .jobs import Job, JobState
from .sources import Resolved, Resolver
from .transfer import Transfer
from .verify import hash_file, publish

log = logging.getLogger(__name__)

# aiohttp pauses a connection when 2x this is buffered; larger means fewer pause/resume
# round trips through epoll, at READ_BUFFER x 2 x connections of memory at most.
READ_BUFFER = 2**20


class Pipeline:
    """Runs jobs of ``book``; :meth:`open` before the first, :meth:`close` after the last."""

    def __init__(self, settings: Settings, book: JobBook, locks_dir: Path, owner: str, verified: VerifiedFiles) -> None:
        self.settings = settings
        self.verified = verified
        self.book = book
        self.locks_dir = locks_dir
        self.owner = owner
        self.credentials = Credentials(settings)
        self.policy = HopPolicy.from_settings(settings)
        self.waiting: dict[str, asyncio.Task[None]] = {}  # job id -> waiting for another process
        self._session: aiohttp.ClientSession | None = None
        self._checked_session: aiohttp.ClientSession | None = None  # for guarded jobs (guard.py)
        self._resolver: Resolver | None = None
        self._pool: ThreadPoolExecutor | None = None

    def lock(self, target: Path, key: str) -> locks.VolumeLock:
        return locks.VolumeLock(self.locks_dir, target, key, self.owner, self.settings.lock_ttl)

    # --- sessions -------------------------------------------------------------------------------

    def open(self) -> None:
        self._pool = ThreadPoolExecutor(
            max_workers=max(4, self.settings.concurrent_downloads * 3), thread_name_prefix="launchpad-download"
        )
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._connections(), limit_per_host=0),
            timeout=self._timeout(),
            auto_decompress=False,
            read_bufsize=READ_BUFFER,
        )
        self._resolver = Resolver(self.settings, self._session, self.credentials)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._checked_session is not None:
            await self._checked_session.close()
            self._checked_session = None
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await asyncio.get_running_loop().run_in_executor(None, pool.shutdown)

    def _connections(self) -> int:
        return self.settings.concurrent_downloads * max(1, self.settings.segments) + 8

    def _timeout(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=self.settings.stall_timeout)

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "Pipeline.open() first"
        return self._session

    def guarded_session(self) -> aiohttp.ClientSession:
        """The session for guarded downloads, made when first needed (most pods never need one)."""
        if self._checked_session is None:
            self._checked_session = guard.guarded_session(
                self.policy,
                limit=self._connections(),
                timeout=self._timeout(),
                auto_decompress=False,
                read_bufsize=READ_BUFFER,
            )
        return self._checked_session

    def guard_for(self, guarded: bool, model_file: ModelFile) -> HopPolicy | None:
        """The policy for each hop of a plain URL a client gave. Hugging Face and Civitai sources
        talk to the endpoints the operator configured, and go where those send them."""
        return self.policy if guarded and isinstance(model_file.source, UrlSource) else None

    # --- one job --------------------------------------------------------------------------------

    async def run(self, job: Job, requeue: Callable[[Job], None]) -> None:
        """Download ``job`` under its volume lock; or, while another process holds that lock,
        wait for it in the background (``requeue`` when it went away without finishing)."""
        loop = asyncio.get_running_loop()
        lock = self.lock(job.target, job.key)
        holder = await loop.run_in_executor(None, lock.try_acquire)
        if holder is not None:
            self.book.say(job, f"waiting: {holder.describe()} is downloading this file")
            self.waiting[job.id] = asyncio.ensure_future(self._wait_for_other(job, lock, requeue))
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
            self.book.unwatch(job)
            await asyncio.shield(loop.run_in_executor(None, lock.release))

    async def _wait_for_other(self, job: Job, lock: locks.VolumeLock, requeue: Callable[[Job], None]) -> None:
        """Another process holds the file's lock: wait until it finished (done) or went away (requeue)."""
        loop = asyncio.get_running_loop()
        interval = min(2.0, max(0.2, self.settings.lock_ttl / 10))
        try:
            while True:
                await asyncio.sleep(interval)
                if await loop.run_in_executor(None, _target_ok, job):
                    job.bytes_done = job.bytes_total or job.bytes_done
                    self.book.set_state(job, JobState.DONE, "downloaded by another process")
                    return
                holder = await loop.run_in_executor(None, lock.holder)
                if holder is None:
                    self.book.say(job, None)
                    requeue(job)
                    return
        finally:
            self.waiting.pop(job.id, None)

    async def _download(self, job: Job) -> None:
        loop = asyncio.get_running_loop()
        assert self._pool is not None, "Pipeline.open() first"
        book = self.book
        job.attempts += 1
        job.error = None
        if await loop.run_in_executor(None, _target_ok, job):
            if job.file.sha256 is None:
                job.bytes_done = job.bytes_total or 0
                book.set_state(job, JobState.DONE, "already present")
                return
            book.set_state(job, JobState.VERIFYING, "checking the sha256 of the file already on disk")
            if await loop.run_in_executor(self._pool, hash_file, job.target) == job.file.sha256:
                await loop.run_in_executor(None, self.verified.record, job.target, job.file.sha256)
                job.bytes_done = job.bytes_total = job.target.stat().st_size
                book.set_state(job, JobState.DONE, "already present; its sha256 matches the catalog")
                return
            log.warning("%s: the file on disk does not match the catalog's sha256; downloading it", job.key)
        book.set_state(job, JobState.RESOLVING)
        resolved = await self._resolve(job)
        partial = partial_path(job.target)
        job.bytes_done = await loop.run_in_executor(None, _resumable_bytes, partial, resolved)
        resumed = job.bytes_done > 0  # bytes from an earlier attempt: a mismatch may be theirs
        await loop.run_in_executor(None, space.check, job.target, book.remaining(), self.settings.free_space_margin)
        refreshed = False
        mismatches = 0
        while True:
            policy = self.guard_for(job.guarded, job.file)
            transfer = Transfer(
                session=self.guarded_session() if policy else self.session,
                policy=policy,
                credentials=self.credentials,
                settings=self.settings,
                resolved=resolved,
                partial=partial,
                pool=self._pool,
                label=job.key,
                want_sha256=resolved.sha256 is not None,
            )
            book.watch(job, transfer)
            message = f"resuming at {humanize.size(job.bytes_done)}" if job.bytes_done else None
            book.set_state(job, JobState.DOWNLOADING, message)
            try:
                await transfer.run()
            except SourceUnauthorized:
                await transfer.discard_hasher()
                if refreshed:
                    raise
                refreshed = True  # presigned URLs expire (Civitai: 24 h): ask the source for a fresh one
                book.set_state(job, JobState.RESOLVING, "the download link expired; asking the source again")
                resolved = await self._resolve(job)
                continue
            except BaseException:
                await transfer.discard_hasher()
                raise
            finally:
                job.bytes_done = transfer.received
            book.set_state(job, JobState.VERIFYING)
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
                await loop.run_in_executor(None, self.verified.record, job.target, digest)
            job.bytes_done = size
            book.set_state(job, JobState.DONE)
            return

    async def _resolve(self, job: Job) -> Resolved:
        assert self._resolver is not None, "Pipeline.open() first"
        policy = self.guard_for(job.guarded, job.file)
        resolver = self._resolver
        if policy is not None:
            resolver = Resolver(self.settings, self.guarded_session(), self.credentials, policy)
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
        self.book.touch(job)
        return resolved

    async def _fail(self, job: Job, exc: LaunchpadError) -> None:
        """``job`` failed for good. A network failure after its retries keeps the partial file
        (``details.partial_kept``: a retry resumes there); any other failure deletes it."""
        keep = keeps_partial(exc)
        partial = partial_path(job.target)
        details = dict(exc.details)
        if keep and job.bytes_done:
            details["partial_kept"] = job.bytes_done
        else:
            await asyncio.get_running_loop().run_in_executor(None, resume.discard, partial)
        job.error = {"code": exc.code, "message": exc.message, "details": details}
        log.warning("download of %s failed: %s", job.key, exc.message)
        self.book.set_state(job, JobState.FAILED)

    def discard_if_free(self, job: Job) -> None:
        """Delete the job's partial file unless another process is downloading into it. Blocking."""
        lock = self.lock(job.target, job.key)
        if lock.try_acquire() is None:
            try:
                resume.discard(partial_path(job.target))
            finally:
                lock.release()


def keeps_partial(exc: LaunchpadError) -> bool:
    """Whether a job that failed with ``exc`` keeps its partial file: only when trying again may
    help (the network), never after bytes that did not match (integrity) or a final refusal."""
    return isinstance(exc, DownloadError) and exc.retryable and not isinstance(exc, IntegrityError)


# --- blocking helpers (run in threads) ------------------------------------------------------


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
