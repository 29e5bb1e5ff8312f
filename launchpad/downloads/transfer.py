"""Our own downloader: bytes of one resolved file into its partial file, resumable.

- Bytes go only to ``<target>.part`` (same directory, same file system), at their offsets.
- With a known size and a server that honours Range, the missing ranges are fetched; large
  files are cut into pieces of ``segment_size`` that ``segments`` connections take in turn.
  Otherwise one stream from byte 0.
- A resume is checked: the sidecar must describe the same bytes (sha256, or ETag and size),
  each 206 must carry the range and total we expect, and ``If-Range`` makes a server whose
  file changed answer 200, which restarts the file from zero.
- Connection errors, stalls (no byte for ``stall_timeout``: aiohttp's sock_read timer,
  reset on every packet, so a slow but moving download never times out), 408, 429 and 5xx
  are retried with backoff; after ``retries`` tries without progress the job fails.
  Other 4xx fail at once.
- Writes, fdatasync and hashing run in threads; each connection keeps at most two 1 MiB
  buffers (one being filled, one being written), so memory stays bounded whatever the size.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp

from .. import humanize
from ..config import Settings
from ..errors import DownloadError, InsufficientSpace, IntegrityError, TooLarge
from ..url_policy import HopPolicy
from . import fetch, resume
from .credentials import Credentials
from .resume import ResumeState
from .sources import Resolved, http_error, parse_content_range
from .verify import Sha256Follower

log = logging.getLogger(__name__)

# Bytes a connection gathers before handing them to a writer thread. Small enough that waiting
# for the previous write never stalls reading (bigger writes measured slower, loopback, 2 cores),
# large enough to amortise the thread hand-off. Each connection holds at most two of these.
WRITE_SIZE = 2**20
SAVE_INTERVAL = 2.0  # seconds between sidecar saves
FLUSH_INTERVAL = 1.0  # seconds a received byte may wait in memory before it is written
_O_BINARY = getattr(os, "O_BINARY", 0)
_fdatasync = getattr(os, "fdatasync", os.fsync)


class RestartFromZero(Exception):
    """What the server sends no longer matches what we have; the partial must start over."""


def _pieces(gaps: Sequence[tuple[int, int]], piece: int | None) -> deque[tuple[int, int]]:
    pieces: deque[tuple[int, int]] = deque()
    for start, end in gaps:
        step = piece or (end - start)
        for offset in range(start, end, step):
            pieces.append((offset, min(end, offset + step)))
    return pieces


@dataclass
class _Cursor:
    """Where a request's next byte goes; advanced as bytes are handed to the writer."""

    position: int


class _Disk:
    """Positional writes of a partial file, from threads. Windows has no pwrite: a lock and a seek."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._lock = threading.Lock()

    def write(self, chunks: list[bytes], offset: int) -> None:
        if hasattr(os, "pwritev") and len(chunks) <= 512:
            total = sum(len(c) for c in chunks)
            written = os.pwritev(self.fd, chunks, offset)
            if written == total:
                return
            data = memoryview(b"".join(chunks))[written:]
            offset += written
        else:
            data = memoryview(b"".join(chunks))
        while data:
            if hasattr(os, "pwrite"):
                written = os.pwrite(self.fd, data, offset)
            else:  # pragma: no cover - Windows
                with self._lock:
                    os.lseek(self.fd, offset, os.SEEK_SET)
                    written = os.write(self.fd, data)
            data, offset = data[written:], offset + written


class Transfer:
    """One attempt at filling ``partial`` with the bytes described by ``resolved``."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        credentials: Credentials,
        settings: Settings,
        resolved: Resolved,
        partial: Path,
        pool: Executor,
        label: str,
        want_sha256: bool,
        policy: HopPolicy | None = None,
    ) -> None:
        self.session = session
        self.policy = policy  # set for client-supplied URLs: every hop checked (fetch.get)
        self.credentials = credentials
        self.settings = settings
        self.resolved = resolved
        self.partial = partial
        self.pool = pool
        self.label = label
        self.size = resolved.size
        self.received = 0  # bytes valid on disk plus bytes received since: what progress shows
        self.state = ResumeState(resolved.identity, resolved.size)
        self.hasher = Sha256Follower(partial, pool) if want_sha256 else None
        self.resumed_from = 0
        self._disk: _Disk | None = None
        self._writes: dict[concurrent.futures.Future[None], tuple[int, int]] = {}
        self._saving: concurrent.futures.Future[None] | None = None
        self._last_save = 0.0
        self._restarted = False

    # --- public -----------------------------------------------------------------------

    async def run(self) -> None:
        """Fill the partial file; raises a DownloadError when it can't. Keeps what it wrote."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.pool, self._open)
        self.received = self.resumed_from = self.state.bytes_done
        if self.hasher is not None:
            self.hasher.advance(self.state.prefix)
        try:
            while True:
                try:
                    if self.resolved.ranges and self.size is not None:
                        await self._ranged()
                    else:
                        await self._stream()
                    break
                except RestartFromZero as exc:
                    if self._restarted:
                        raise DownloadError(f"{self.label}: {exc}, again; retry later") from None
                    log.info("%s: %s; starting the file over", self.label, exc)
                    self._restarted = True
                    await self._truncate()
            self._check_complete()
        finally:
            await self._close()

    async def sha256(self) -> str | None:
        """The digest of the finished file (only the not yet hashed tail is read now)."""
        if self.hasher is None or self.size is None:
            return None
        try:
            return await self.hasher.finish(self.size)
        finally:
            await self.hasher.close()

    async def discard_hasher(self) -> None:
        if self.hasher is not None:
            await self.hasher.close()

    # --- file -------------------------------------------------------------------------

    def _open(self) -> None:
        """Adopt the partial file when its sidecar describes these bytes; else start it fresh."""
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        previous = resume.load(self.partial)
        fresh = (
            previous is None
            or previous.identity != self.resolved.identity
            or previous.size != self.size
            or not self.resolved.ranges  # no Range support: nothing to resume from
        )
        if previous is not None and fresh and previous.done:
            log.info("%s: partial file is from other bytes (or unresumable); starting over", self.label)
        if not fresh and previous is not None:
            self.state = previous
        fd = os.open(self.partial, os.O_RDWR | os.O_CREAT | _O_BINARY, 0o644)
        self._disk = _Disk(fd)
        if fresh:
            os.ftruncate(fd, 0)
        if self.size is not None and os.fstat(fd).st_size != self.size and self.resolved.ranges:
            os.ftruncate(fd, self.size)  # sparse: segments write anywhere; space is checked beforehand
        resume.save(self.partial, self.state.to_json())

    async def _truncate(self) -> None:
        await self._drain()
        assert self._disk is not None
        fd = self._disk.fd
        await asyncio.get_running_loop().run_in_executor(self.pool, os.ftruncate, fd, 0)
        self.resolved = replace(self.resolved, ranges=False)
        self.state.reset()
        self.received = 0
        if self.hasher is not None:
            self.hasher.reset()

    def _check_complete(self) -> None:
        if self.size is None:
            self.size = self.state.bytes_done
            self.state.size = self.size
        if not self.state.complete:
            missing = self.size - self.state.bytes_done
            raise IntegrityError(f"{self.label}: {humanize.size(missing)} missing at the end of the transfer")

    async def _close(self) -> None:
        await self._drain()
        if self._disk is None:
            return
        fd, self._disk = self._disk.fd, None
        text = self.state.to_json()
        # A small file; written on the loop because this may run while the task is being cancelled.
        try:
            resume.save(self.partial, text)
        except OSError as exc:
            log.warning("%s: cannot save resume state: %s", self.label, exc)
        os.close(fd)

    # --- writes -----------------------------------------------------------------------

    def _submit(self, chunks: list[bytes], offset: int, length: int) -> concurrent.futures.Future[None]:
        assert self._disk is not None
        future = self.pool.submit(self._write, chunks, offset)
        self._writes[future] = (offset, offset + length)
        return future

    def _write(self, chunks: list[bytes], offset: int) -> None:
        assert self._disk is not None
        self._disk.write(chunks, offset)
        if self.hasher is not None:
            self.hasher.feed(offset, chunks)

    def _record(self) -> None:
        """Record the writes that finished (only those: a range is valid once its write returned)."""
        for future in [f for f in self._writes if f.done()]:
            start, end = self._writes.pop(future)
            if not future.cancelled() and future.exception() is None:
                self.state.add(start, end)

    def _settle(self) -> None:
        """Record finished writes, let the hasher follow, save the sidecar now and then."""
        self._record()
        if self.hasher is not None:
            self.hasher.advance(self.state.prefix)
        now = time.monotonic()
        if now - self._last_save >= SAVE_INTERVAL and (self._saving is None or self._saving.done()):
            self._last_save = now
            assert self._disk is not None
            text, fd = self.state.to_json(), self._disk.fd
            self._saving = self.pool.submit(self._save, fd, text)

    def _save(self, fd: int, text: str) -> None:
        # Data first, then the record of it: a sidecar never claims bytes the disk doesn't have.
        try:
            _fdatasync(fd)
            resume.save(self.partial, text)
        except OSError as exc:
            log.warning("%s: cannot save resume state: %s", self.label, exc)

    async def _drain(self) -> None:
        """Wait for every write and save in flight (without them a closed fd could be reused)."""
        pending = [*self._writes, *([self._saving] if self._saving else [])]
        if pending:
            try:
                await asyncio.shield(asyncio.gather(*(asyncio.wrap_future(f) for f in pending), return_exceptions=True))
            except asyncio.CancelledError:
                concurrent.futures.wait(pending)
                raise
            finally:
                self._record()

    async def _copy(self, response: aiohttp.ClientResponse, cursor: _Cursor, limit: int) -> None:
        """Stream the body to disk from ``cursor.position``, never past ``limit``, advancing the cursor.

        Whatever arrived before an error is still written (and the error re-raised), so a
        retry continues from the last byte received, not the last buffer flushed.
        """
        chunks: list[bytes] = []
        buffered = 0
        writing: concurrent.futures.Future[None] | None = None
        max_size = self.settings.max_download_size
        loop = asyncio.get_running_loop()
        flushed_at = loop.time()
        content = response.content
        try:
            while True:
                # readchunk hands over aiohttp's buffered pieces one by one; iter_any would join them (a copy)
                chunk, _ = await content.readchunk()
                if not chunk:
                    if content.at_eof():
                        break
                    continue
                room = limit - (cursor.position + buffered)
                if len(chunk) >= room:
                    chunk = chunk[:room]
                chunks.append(chunk)
                buffered += len(chunk)
                self.received += len(chunk)
                if cursor.position + buffered > max_size:
                    raise TooLarge(
                        f"{self.label} is larger than MAX_DOWNLOAD_SIZE ({humanize.size(max_size)}); "
                        "raise MAX_DOWNLOAD_SIZE to download it",
                    )
                if (
                    buffered >= WRITE_SIZE
                    or cursor.position + buffered >= limit
                    or loop.time() - flushed_at >= FLUSH_INTERVAL  # slow links: bytes reach the disk anyway
                ):
                    flushed_at = loop.time()
                    if writing is not None:
                        await self._await_write(writing)
                    writing = self._submit(chunks, cursor.position, buffered)
                    cursor.position += buffered
                    chunks, buffered = [], 0
                    if cursor.position >= limit:
                        break
        finally:
            tail = self._submit(chunks, cursor.position, buffered) if chunks else None
            cursor.position += buffered
            for future in (writing, tail):
                if future is not None:
                    await self._await_write(future)

    async def _await_write(self, future: concurrent.futures.Future[None]) -> None:
        try:
            await asyncio.wrap_future(future)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise InsufficientSpace(
                    f"the disk holding {self.partial.parent} filled up while downloading {self.label}; free space "
                    "and retry",
                ) from None
            raise DownloadError(f"cannot write {self.partial}: {exc.strerror or exc}") from None
        finally:
            self._settle()

    # --- ranged ---------------------------------------------------------------------------

    async def _ranged(self) -> None:
        assert self.size is not None
        gaps = self.state.gaps()
        if not gaps:
            return
        segmented = self.size >= self.settings.min_segmented_size and self.settings.segments > 1
        pieces = _pieces(gaps, self.settings.segment_size if segmented else None)
        workers = min(self.settings.segments, len(pieces)) if segmented else 1
        tasks = [asyncio.ensure_future(self._worker(pieces)) for _ in range(workers)]
        await _all(tasks)

    async def _worker(self, pieces: deque[tuple[int, int]]) -> None:
        while pieces:
            start, end = pieces.popleft()
            await self._fetch_range(start, end)

    async def _fetch_range(self, start: int, end: int) -> None:
        cursor, failures = _Cursor(start), 0
        while cursor.position < end:
            position = cursor.position
            headers = {"Range": f"bytes={position}-{end - 1}"}
            if self.resolved.etag:
                headers["If-Range"] = self.resolved.etag
            try:
                request = fetch.get(self.session, self.resolved.url, self.credentials, headers, self.policy)
                async with request as response:
                    if response.status == 200:
                        raise RestartFromZero(
                            "the server ignored the Range request or its file changed (answered 200 to a range)"
                        )
                    if response.status != 206:
                        raise fetch.BadStatus(
                            response.status, str(response.url), retry_after=fetch.retry_after(response.headers)
                        )
                    first, last, total = parse_content_range(response.headers.get("Content-Range"))
                    if total is not None and total != self.size:
                        raise RestartFromZero(f"the file's size changed on the server ({total} != {self.size})")
                    if first != position or last is None or last < first:
                        raise RestartFromZero("the server answered a different range than requested")
                    etag = response.headers.get("ETag")
                    if self.resolved.etag and etag and etag.strip() != self.resolved.etag:
                        raise RestartFromZero("the file changed on the server (its ETag differs)")
                    await self._copy(response, cursor, min(end, last + 1))
                    if cursor.position < min(end, last + 1):
                        raise aiohttp.ClientPayloadError("response ended early")
            except (RestartFromZero, DownloadError):
                raise
            except Exception as exc:
                if cursor.position > position:
                    failures = 0  # it moved: only failures in a row count
                failures = await self._after_failure(exc, failures)

    # --- one stream ---------------------------------------------------------------------

    async def _stream(self) -> None:
        """A single GET of the whole file. A failure restarts it from byte 0: there is no Range."""
        failures = 0
        while True:
            if self.state.done:
                await self._truncate()
            try:
                async with fetch.get(self.session, self.resolved.url, self.credentials, policy=self.policy) as response:
                    if response.status != 200:
                        raise fetch.BadStatus(
                            response.status, str(response.url), retry_after=fetch.retry_after(response.headers)
                        )
                    length = response.headers.get("Content-Length")
                    announced = int(length) if length and length.isdigit() else None
                    if self.size is not None and announced is not None and announced != self.size:
                        raise IntegrityError(
                            f"{self.label}: the server sends {announced} bytes, expected {self.size}",
                            details={"expected_size": self.size, "actual_size": announced},
                        )
                    if self.size is None and announced is not None:
                        self.size = self.state.size = announced
                    limit = self.size if self.size is not None else self.settings.max_download_size + 1
                    cursor = _Cursor(0)
                    await self._copy(response, cursor, limit)
                    if self.size is None:
                        self.size = self.state.size = cursor.position
                    if cursor.position < self.size:
                        raise aiohttp.ClientPayloadError("response ended early")
                    return
            except (RestartFromZero, DownloadError):
                raise
            except Exception as exc:
                failures = await self._after_failure(exc, failures)

    async def _after_failure(self, exc: Exception, failures: int) -> int:
        """Sleep before the next try, or raise the error that ends the job."""
        if isinstance(exc, fetch.BadStatus) and not exc.transient:
            raise http_error(exc, self.label) from None
        if not fetch.is_transient(exc):
            raise exc
        failures += 1
        reason = fetch.describe(exc, self.settings.stall_timeout)
        if failures > self.settings.retries:
            if isinstance(exc, fetch.BadStatus):
                raise http_error(exc, self.label) from None
            raise DownloadError(
                f"{self.label}: {reason}; gave up after {failures} tries. Partial file kept: retry to resume.",
            ) from None
        delay = fetch.backoff_delay(failures, self.settings.retry_backoff, getattr(exc, "retry_after", None))
        log.info("%s: %s; retry %d/%d in %.1f s", self.label, reason, failures, self.settings.retries, delay)
        await asyncio.sleep(delay)
        return failures


async def _all(tasks: Sequence[asyncio.Future[None]]) -> None:
    """Run ``tasks`` together; the first error cancels the others and is raised."""
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            raise error
