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
import os
from concurrent.futures import Executor
from pathlib import Path
from typing import BinaryIO

from . import resume

HASH_CHUNK = 8 * 2**20


class Sha256Follower:
    """Hashes ``path`` from byte 0 up to whatever :meth:`advance` says is written."""

    def __init__(self, path: Path, pool: Executor) -> None:
        self._path = path
        self._pool = pool
        self._task: asyncio.Task[None] | None = None
        self._file: BinaryIO | None = None
        self.reset()

    def reset(self) -> None:
        """Start over (the partial was truncated). A step still running in a thread keeps its own objects."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._hash = hashlib.sha256()
        self._buffer = bytearray(HASH_CHUNK)
        self.position = 0
        self._target = 0

    def advance(self, upto: int) -> None:
        if upto > self._target:
            self._target = upto
        if self.position < self._target and (self._task is None or self._task.done()):
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        digest, buffer = self._hash, self._buffer
        while self.position < self._target and digest is self._hash:
            length = min(HASH_CHUNK, self._target - self.position)
            read = await loop.run_in_executor(self._pool, self._step, digest, buffer, self.position, length)
            if digest is not self._hash:
                return
            if read < length:
                raise OSError(f"{self._path} is shorter than the bytes recorded as written")
            self.position += read

    def _step(self, digest: hashlib._Hash, buffer: bytearray, position: int, length: int) -> int:
        if self._file is None:
            self._file = open(self._path, "rb")  # noqa: SIM115 - closed in close()
        self._file.seek(position)
        view = memoryview(buffer)[:length]
        read = self._file.readinto(view) or 0
        digest.update(view[:read])
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
