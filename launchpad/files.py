"""File-system primitives shared by the catalog, downloads and the HTTP layer.

Safe relative names (no traversal), where a partial download lives, atomic text writes, and
the advisory lock under which processes sharing a workspace merge a state file.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

if sys.platform != "win32":  # Windows: one process per workspace is the norm there, no lock
    import fcntl

PARTIAL_SUFFIX = ".part"
# formats loaded with Python's pickle: a hostile file runs code when ComfyUI loads it
PICKLE_EXTENSIONS = frozenset({".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle"})
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


def unsafe_reason(name: str) -> str | None:
    """Why ``name`` is not a safe relative path inside a folder, or None when it is.

    Rejects empty names, absolute paths, drive letters, backslashes, ``.``/``..`` segments,
    empty segments and control characters (NUL included).
    """
    if not isinstance(name, str) or not name:
        return "is empty"
    if any(ord(ch) < 32 or ch == "\x7f" for ch in name):
        return "contains a control character"
    if "\\" in name:
        return "contains a backslash; use / between directories"
    if name.startswith("/") or _WINDOWS_DRIVE.match(name):
        return "is an absolute path; give a path relative to the folder"
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "contains an empty, '.' or '..' segment"
    if len(name) > 1024:
        return "is longer than 1024 characters"
    return None


def is_pickle(name: str) -> bool:
    """True for a pickle-based model format (.ckpt, .pt, .pth, .bin, .pkl): the UI warns about these."""
    return PurePosixPath(name.lower()).suffix in PICKLE_EXTENSIONS


def is_safe_relative(name: str) -> bool:
    return unsafe_reason(name) is None


def join_inside(root: Path, name: str) -> Path:
    """``root/name`` for a name already checked with :func:`unsafe_reason`."""
    return root.joinpath(*PurePosixPath(name).parts)


def is_within(path: Path, root: Path) -> bool:
    """True when ``path`` (symlinks resolved) lies inside ``root`` (symlinks resolved)."""
    try:
        path.resolve().relative_to(root.resolve())
    except (ValueError, OSError):
        return False
    return True


def partial_path(target: Path) -> Path:
    """Where the bytes of ``target`` accumulate until verified: beside it, same file system.

    The ``.part`` suffix keeps it out of ComfyUI's model lists, which filter by extension.
    """
    return target.with_name(target.name + PARTIAL_SUFFIX)


def atomic_write_text(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` through a temp file, fsync and rename; False if already so."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


@contextlib.contextmanager
def advisory_lock(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path`` (created with its directory) while the block runs.

    Where there is no flock (Windows), or the file system refuses it (some network ones), the
    block runs without it: a read-merge-write then merges less carefully, it never stops.
    """
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    if sys.platform == "win32":
        yield
        return
    with open(lock_path, "a+") as fh:
        with contextlib.suppress(OSError):
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        yield
