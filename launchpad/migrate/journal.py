"""The journal of a migration: ``<workspace>/config/migrations/<id>.jsonl``.

Its first line is written (atomically, fsynced) before anything changes and holds every step
the migration takes, each rename with the device and inode of what it moves. What happens
then is appended, one JSON line per step. The inodes are what recovery trusts: after a
``kill -9`` the thing is either still at its old path or already at its new one, and the
inode says which, so a rerun continues and an undo puts back exactly what was moved even
when the last lines never reached the disk. A torn last line is ignored.

Lines: ``begin`` (the header), ``done``/``skipped`` per step, ``end``; then, for an undo,
``undo``, ``undone``/``kept`` per step, ``undo-end``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Conflict
from ..files import atomic_write_text

if sys.platform != "win32":  # Windows: ComfyUI there still imports the status side; migrations run on Linux pods
    import fcntl

DIR_NAME = "migrations"
VERSION = 1
RUNNING, DONE, UNDOING, UNDONE = "running", "done", "undoing", "undone"


def directory(config_dir: Path) -> Path:
    return config_dir / DIR_NAME


@dataclass
class Journal:
    path: Path
    header: dict[str, Any]
    done: set[int] = field(default_factory=set)
    skipped: dict[int, str] = field(default_factory=dict)
    undone: set[int] = field(default_factory=set)
    ended: bool = False
    undo_started: bool = False
    undo_ended: bool = False

    @property
    def id(self) -> str:
        return str(self.header["id"])

    @property
    def kind(self) -> str:
        return str(self.header["kind"])

    @property
    def ops(self) -> list[dict[str, Any]]:
        return list(self.header.get("ops", []))

    @property
    def state(self) -> str:
        if self.undo_ended:
            return UNDONE
        if self.undo_started:
            return UNDOING
        return DONE if self.ended else RUNNING

    @classmethod
    def read(cls, path: Path) -> Journal | None:
        """The journal at ``path``; None when its header is unreadable (nothing was done under it)."""
        try:
            lines = path.read_bytes().split(b"\n")
        except OSError:
            return None
        try:
            header = json.loads(lines[0])
        except ValueError:
            return None
        if not isinstance(header, dict) or header.get("type") != "begin":
            return None
        journal = cls(path, header)
        for raw in lines[1:]:
            try:
                record = json.loads(raw)
            except ValueError:
                continue  # empty, or torn by a kill in the middle of a write
            if isinstance(record, dict):
                journal._apply(record)
        return journal

    def _apply(self, record: dict[str, Any]) -> None:
        kind, n = record.get("type"), record.get("n")
        if kind == "done" and isinstance(n, int):
            self.done.add(n)
        elif kind == "skipped" and isinstance(n, int):
            self.skipped[n] = str(record.get("reason", ""))
        elif kind == "end":
            self.ended = True
        elif kind == "undo":
            self.undo_started = True
        elif kind == "undone" and isinstance(n, int):
            self.undone.add(n)
        elif kind == "undo-end":
            self.undo_ended = True

    def append(self, record: dict[str, Any]) -> None:
        """One line, in one write: a kill leaves whole lines (or a torn last one, ignored)."""
        data = (json.dumps(record) + "\n").encode()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
        try:
            if os.pread(fd, 1, max(os.fstat(fd).st_size - 1, 0)) not in (b"\n", b""):
                data = b"\n" + data  # the previous run was killed mid-line: start a fresh one
            os.write(fd, data)
        finally:
            os.close(fd)
        self._apply(record)

    def sync(self) -> None:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def create(config_dir: Path, header: dict[str, Any]) -> Journal:
    """Write a new journal's header durably; nothing may change before this returns."""
    header = {"type": "begin", "version": VERSION, "at": time.time(), **header}
    path = directory(config_dir) / f"{header['id']}.jsonl"
    if path.exists():
        raise Conflict(f"a migration journal {path} exists already; run the command again")
    atomic_write_text(path, json.dumps(header) + "\n")
    return Journal(path, header)


def history(config_dir: Path) -> list[Journal]:
    """Every readable journal, oldest first."""
    found = [Journal.read(path) for path in sorted(directory(config_dir).glob("*.jsonl"))]
    journals = [journal for journal in found if journal is not None]
    return sorted(journals, key=lambda j: (float(j.header.get("at", 0.0)), j.id))


def latest(config_dir: Path) -> Journal | None:
    """The newest migration not undone: what `--undo` reverses."""
    return next((j for j in reversed(history(config_dir)) if j.state != UNDONE), None)


@contextlib.contextmanager
def exclusive(config_dir: Path) -> Iterator[None]:
    """One `launchpad migrate` at a time on a workspace (an advisory lock beside the journals)."""
    folder = directory(config_dir)
    folder.mkdir(parents=True, exist_ok=True)
    if sys.platform == "win32":
        yield
        return
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Conflict(
                "another `launchpad migrate` is running on this workspace; wait for it to finish"
            ) from None
        yield
    finally:
        os.close(fd)
