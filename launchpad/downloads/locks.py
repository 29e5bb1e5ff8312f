"""Locks on the shared volume: one process downloads a file, the others wait for it.

Several pods may mount one network volume. Before touching a file's partial, a process
creates ``<workspace>/.launchpad/locks/<hash of the target>.lock`` exclusively (O_EXCL, which
network file systems honour for creation), writes who it is into it, and touches it every
few seconds (the heartbeat is the file's mtime). A lock whose mtime is older than
``lock_ttl`` belongs to a process that died: it is broken by renaming it away first, so of
two processes that find it stale only one wins. On the same host a lock whose pid is gone
is dead at once (a ``kill -9`` then a rerun does not wait for the TTL).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

HOST = socket.gethostname()


def owner_id() -> str:
    """A process-unique owner name: host, pid and a random part (pids repeat across pods)."""
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Holder:
    owner: str
    host: str
    pid: int
    key: str
    age: float  # seconds since its last heartbeat

    def describe(self) -> str:
        where = "this machine" if self.host == HOST else f"host {self.host}"
        return f"process {self.pid} on {where}"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but is not ours (or the platform can't tell): assume alive
    return True


class VolumeLock:
    """The lock of one target file. ``try_acquire`` never blocks; ``heartbeat`` keeps it alive."""

    def __init__(self, locks_dir: Path, target: Path, key: str, owner: str, ttl: float) -> None:
        digest = hashlib.sha256(str(target).encode("utf-8", "surrogateescape")).hexdigest()[:32]
        self.path = locks_dir / f"{digest}.lock"
        self.key = key
        self.target = target
        self.owner = owner
        self.ttl = ttl
        self.held = False

    def _payload(self) -> bytes:
        data = {"owner": self.owner, "host": HOST, "pid": os.getpid(), "key": self.key,
                "target": str(self.target), "since": time.time()}
        return json.dumps(data).encode()

    def _read(self, path: Path) -> Holder | None:
        try:
            stat = path.stat()
            data = json.loads(path.read_bytes() or b"{}")
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            data, stat = {}, None  # being written right now, or garbage: judge by age alone
        if not isinstance(data, dict):
            data = {}
        return Holder(
            owner=str(data.get("owner", "?")),
            host=str(data.get("host", "?")),
            pid=int(data.get("pid", 0) or 0),
            key=str(data.get("key", self.key)),
            age=time.time() - stat.st_mtime if stat is not None else 0.0,
        )

    def _dead(self, holder: Holder) -> bool:
        if holder.owner == self.owner:
            return False
        return holder.age > self.ttl or (holder.host == HOST and holder.pid > 0 and not _pid_alive(holder.pid))

    def holder(self) -> Holder | None:
        """Who holds the lock now, or None when nobody (alive) does."""
        holder = self._read(self.path)
        return None if holder is None or self._dead(holder) else holder

    def try_acquire(self) -> Holder | None:
        """Take the lock; returns None on success, else who holds it. Blocking: call from a thread."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = self.holder()
                if holder is not None:
                    if holder.owner == self.owner:
                        self.held = True
                        return None
                    return holder
                self._break()
                continue
            try:
                os.write(fd, self._payload())
            finally:
                os.close(fd)
            self.held = True
            return None
        return self.holder()

    def _break(self) -> None:
        """Remove a dead owner's lock. Renaming first means only one breaker succeeds."""
        aside = self.path.with_name(f"{self.path.name}.{uuid.uuid4().hex[:8]}.stale")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        try:
            holder = self._read(aside)
            if holder is not None and not self._dead(holder):
                # We took a live lock created after our look: give it back if the name is still free.
                with contextlib.suppress(OSError):
                    os.link(aside, self.path)
            elif holder is not None:
                log.info("took over the download lock of %s from %s, which stopped", self.key, holder.describe())
        finally:
            aside.unlink(missing_ok=True)

    def touch(self) -> None:
        """The heartbeat. Blocking: call from a thread."""
        if self.held:
            try:
                os.utime(self.path)
            except FileNotFoundError:
                log.warning("the download lock of %s vanished; recreating it", self.key)
                self.held = False
                self.try_acquire()

    def release(self) -> None:
        """Remove the lock if it is still ours. Blocking but quick."""
        if not self.held:
            return
        self.held = False
        try:
            data = json.loads(self.path.read_bytes() or b"{}")
            if data.get("owner") == self.owner:
                self.path.unlink()
        except (OSError, ValueError):
            pass


async def heartbeat(lock: VolumeLock, interval: float) -> None:
    """Touch ``lock`` every ``interval`` seconds until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(interval)
        try:
            await loop.run_in_executor(None, lock.touch)
        except OSError as exc:
            log.warning("download lock heartbeat failed for %s: %s", lock.key, exc)


def live_holders(locks_dir: Path, ttl: float) -> list[Holder]:
    """Every lock in ``locks_dir`` whose owner is alive: "is something downloading on this volume". Blocking."""
    found = []
    for path in sorted(locks_dir.glob("*.lock")):
        lock = VolumeLock(locks_dir, path, path.stem, owner="", ttl=ttl)
        lock.path = path  # the lock file itself (its name is a hash of the target, not the target)
        holder = lock.holder()
        if holder is not None:
            found.append(holder)
    return found
