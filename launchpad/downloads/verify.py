"""Checking the bytes and putting them under their final name.

The sha256 is computed while the download runs, following the contiguous prefix of the
partial file (a resumed or segmented download is hashed as its front fills in), so when
the last byte lands only the tail is left to hash. Publishing is fsync, then an atomic
rename beside the target, then an fsync of the directory: the final name only ever shows a
complete, verified file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import threading
from concurrent.futures import Executor
from pathlib import Path
from typing import TYPE_CHECKING

from ..catalog.verified import VerifiedFiles, passed
from . import resume

if TYPE_CHECKING:
    from ..catalog.schema import ModelFile
    from ..model_roots import ModelRoots

HASH_CHUNK = 8 * 2**20


class Sha256Follower:
    """Hashes ``path`` from byte 0 up to whatever :meth:`advance` says is written.

    Bytes written exactly at the hashed position are hashed right away by the writer thread
    (:meth:`feed`: a single stream never reads its file back); anything else is read back
    from the partial file once the bytes before it are there.
    """

    def __init__(self, path: Path, pool: Executor) -> None:
        self._path = path
        self._pool = pool
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._file: io.BufferedReader | None = None
        self._generation = 0
        self.reset()

    def reset(self) -> None:
        """Start over (the partial was truncated)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        with self._lock:
            self._generation += 1
            self._hash = hashlib.sha256()
            self._buffer = bytearray(HASH_CHUNK)
            self.position = 0
        self._target = 0

    def feed(self, offset: int, chunks: list[bytes]) -> None:
        """Called by a writer thread after writing ``chunks`` at ``offset``."""
        with self._lock:
            if offset != self.position:
                return
            for chunk in chunks:
                self._hash.update(chunk)
                self.position += len(chunk)

    def advance(self, upto: int) -> None:
        if upto > self._target:
            self._target = upto
        if self.position < self._target and (self._task is None or self._task.done()):
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        generation = self._generation
        while self.position < self._target and generation == self._generation:
            read = await loop.run_in_executor(self._pool, self._step, generation, self._target)
            if read == 0 and self.position < self._target and generation == self._generation:
                raise OSError(f"{self._path} is shorter than the bytes recorded as written")

    def _step(self, generation: int, target: int) -> int:
        with self._lock:
            if generation != self._generation or self.position >= target:
                return -1
            if self._file is None:
                self._file = open(self._path, "rb")  # noqa: SIM115 - closed in close()
            length = min(HASH_CHUNK, target - self.position)
            self._file.seek(self.position)
            view = memoryview(self._buffer)[:length]
            read = self._file.readinto(view) or 0
            self._hash.update(view[:read])
            self.position += read
            return read

    async def finish(self, size: int) -> str:
        """Hash up to ``size`` and return the hex digest."""
        self.advance(size)
        if self._task is not None:
            await self._task
        if self.position != size:
            raise OSError(f"hashed {self.position} bytes of {self._path}, expected {size}")
        return self._hash.hexdigest()

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(BaseException):  # tearing down: the error no longer matters
                await self._task
        if self._file is not None:
            file, self._file = self._file, None
            await asyncio.get_running_loop().run_in_executor(self._pool, file.close)


def fsync_directory(directory: Path) -> None:
    """Make a rename durable. Not possible on Windows, where the rename is durable enough."""
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(partial: Path, target: Path) -> None:
    """fsync ``partial``, rename it to ``target`` atomically, drop its sidecar. Blocking: run in a thread."""
    with open(partial, "rb+") as fh:
        os.fsync(fh.fileno())
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(partial, target)
    fsync_directory(target.parent)
    resume.discard(partial)  # the sidecar (the partial itself is gone)


def hash_file(path: Path) -> str:
    """sha256 of a whole file, with a bounded buffer. Blocking: run in a thread."""
    digest = hashlib.sha256()
    buffer = bytearray(HASH_CHUNK)
    view = memoryview(buffer)
    with open(path, "rb") as fh:
        while True:
            read = fh.readinto(view)
            if not read:
                break
            digest.update(view[:read])
    return digest.hexdigest()


def present(model_file: ModelFile, roots: ModelRoots, verified: VerifiedFiles) -> bool:
    """The file is on disk already and passed its checks: the right size when known, and a record
    that these bytes hashed to the sha256 when one is known (a job checks a file without one). Blocking."""
    found = roots.find(model_file.folder, model_file.name)
    if found is None:
        return False
    st = found.stat()
    if model_file.size is not None and st.st_size != model_file.size:
        return False
    return passed(verified.load(), str(found), st.st_size, st.st_mtime, model_file.sha256)
