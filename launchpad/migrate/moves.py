"""Carrying out a journal's steps, and taking them back: renames only, never a copy.

A rename on one file system is atomic, so a file or directory is at every moment either at
its old path or at its new one, never half there. Renames never replace anything: Linux's
``renameat2(RENAME_NOREPLACE)`` refuses when the target exists (elsewhere, or on a file system
without it, a check right before the rename stands in). Across file systems ``rename`` fails
with EXDEV and the step stops there, untouched. Each step checks the inode the journal
recorded before it moves anything, so running a journal again, or undoing one that was
interrupted, only moves what is where the journal expects it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Conflict
from .journal import Journal

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
try:
    _renameat2 = getattr(ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True), "renameat2", None)
except (OSError, TypeError):  # no C library to load (not Linux): the check before the rename stands in
    _renameat2 = None


def rename_noreplace(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst``; FileExistsError if ``dst`` exists, OSError(EXDEV) across file systems."""
    if _renameat2 is not None:
        if _renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(code, os.strerror(code), str(src), None, str(dst))
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dst))
    os.rename(src, dst)


def identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of ``path`` itself (links not followed), or None when nothing is there."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def cross_device(src: Path, dst: Path, exc: OSError) -> Conflict:
    return Conflict(
        f"cannot move {src} to {dst}: they are on different file systems, and a move there would copy "
        "every byte. Nothing was copied. Use `launchpad migrate --adopt` to use the files where they are",
        details={"source": str(src), "target": str(dst), "errno": exc.errno},
    )


@dataclass
class Outcome:
    moved: list[int] = field(default_factory=list)  # steps taken now
    earlier: list[int] = field(default_factory=list)  # steps found taken already (a rerun)
    kept: dict[int, str] = field(default_factory=dict)  # steps not taken, and why


Progress = Callable[[int, int], None]  # (steps handled, steps in all)
Step = Callable[[dict[str, Any]], tuple[str, str]]  # a step -> (MOVED | EARLIER | KEPT, reason)
MOVED, EARLIER, KEPT = "moved", "earlier", "kept"


def _forward(op: dict[str, Any]) -> tuple[str, str]:
    if op["op"] == "mkdir":
        Path(op["path"]).mkdir(exist_ok=True)
        return MOVED, ""
    src, dst, ident = Path(op["src"]), Path(op["dst"]), (op["dev"], op["ino"])
    here, there = identity(src), identity(dst)
    if here != ident:
        if there == ident:
            return EARLIER, ""
        if here is None:
            return KEPT, f"{src} is gone (not moved by this migration): nothing to move"
        return KEPT, f"{src} was replaced after the plan was made: left where it is"
    if there is not None:
        return KEPT, f"{dst} appeared after the plan was made: {src} left where it is"
    try:
        rename_noreplace(src, dst)
    except FileExistsError:
        return KEPT, f"{dst} appeared after the plan was made: {src} left where it is"
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            raise cross_device(src, dst, exc) from None
        raise
    return MOVED, ""


def _backward(op: dict[str, Any]) -> tuple[str, str]:
    if op["op"] == "mkdir":
        if not op.get("existed"):
            # not empty (something else was put there since) or gone: left as it is
            with contextlib.suppress(OSError):
                Path(op["path"]).rmdir()
        return EARLIER, ""
    src, dst, ident = Path(op["src"]), Path(op["dst"]), (op["dev"], op["ino"])
    here, there = identity(src), identity(dst)
    if here == ident:
        return EARLIER, ""  # never moved, or put back already
    if there != ident:
        return KEPT, f"{dst} is not what this migration moved there: nothing put back to {src}"
    if here is not None:
        return KEPT, f"{src} is taken by something new: {dst} left where it is"
    src.parent.mkdir(parents=True, exist_ok=True)
    try:
        rename_noreplace(dst, src)
    except FileExistsError:
        return KEPT, f"{src} is taken by something new: {dst} left where it is"
    return MOVED, ""


def _walk(journal: Journal, order: Sequence[int], step: Step, records: tuple[str, str, set[int]],
          progress: Progress | None) -> Outcome:
    """Take ``step`` on each of the journal's steps in ``order``, appending what happened to each."""
    done_type, kept_type, recorded = records
    ops, outcome = journal.ops, Outcome()
    for count, n in enumerate(order, start=1):
        result, reason = step(ops[n])
        if result == KEPT:
            journal.append({"type": kept_type, "n": n, "reason": reason})
            outcome.kept[n] = reason
        else:
            if n not in recorded:
                journal.append({"type": done_type, "n": n})
            (outcome.moved if result == MOVED else outcome.earlier).append(n)
        if progress is not None:
            progress(count, len(ops))
    journal.sync()
    return outcome


def run(journal: Journal, progress: Progress | None = None) -> Outcome:
    """Take every step of ``journal`` that is not taken yet, in order; resumable after any stop."""
    return _walk(journal, range(len(journal.ops)), _forward, ("done", "skipped", journal.done), progress)


def undo(journal: Journal, progress: Progress | None = None) -> Outcome:
    """Put back every step of ``journal``, last first; resumable like :func:`run`."""
    if not journal.undo_started:
        journal.append({"type": "undo"})
    order = range(len(journal.ops) - 1, -1, -1)
    return _walk(journal, order, _backward, ("undone", "kept", journal.undone), progress)
