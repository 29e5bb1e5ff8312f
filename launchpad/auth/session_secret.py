"""The key that signs login sessions: from LAUNCHPAD_SESSION_SECRET, else a file on the volume.

A random key is created once in the workspace state directory (mode 0600) so sessions survive
a restart of the pod, and every pod sharing the volume accepts the same sessions. Creating it
is race-free between pods starting together: the key is written to a private temp file and
hard-linked into place, which fails if another pod got there first; then everyone reads the
file that won. Where the volume is not usable the key lives in memory only and logins last
until the process restarts. The key itself never reaches a log.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("launchpad.auth")

SECRET_FILE = "session-secret"
MIN_SECRET_CHARS = 16


@dataclass(frozen=True)
class SessionSecret:
    key: bytes = b""
    source: str = "memory"  # "environment", the file's path, or "memory"

    def __repr__(self) -> str:  # never show the key, even in a debugger or a traceback
        return f"SessionSecret(source={self.source!r})"


def load_session_secret(configured: str | None, state_dir: Path | None) -> SessionSecret:
    """The signing key: ``configured`` if given, else the file in ``state_dir``, else in memory."""
    if configured:
        if len(configured) < MIN_SECRET_CHARS:
            log.warning("LAUNCHPAD_SESSION_SECRET is shorter than %d characters; use a long random value",
                        MIN_SECRET_CHARS)
        return SessionSecret(configured.encode("utf-8"), "environment")
    if state_dir is not None:
        try:
            return SessionSecret(_read_or_create(state_dir / SECRET_FILE), str(state_dir / SECRET_FILE))
        except OSError as exc:
            log.warning(
                "cannot keep the session key in %s (%s); logins will not survive a restart. "
                "Set LAUNCHPAD_SESSION_SECRET or make the workspace writable.",
                state_dir, exc.strerror or exc,
            )
    return SessionSecret(secrets.token_bytes(32), "memory")


def _read_or_create(path: Path) -> bytes:
    if not path.exists():
        # like the workspace itself: created only beside something that exists, so an
        # unmounted volume path never grows a tree on the container disk
        root = path.parent.parent
        if not root.is_dir() and not root.parent.is_dir():
            raise FileNotFoundError(2, "the workspace does not exist", str(root))
        path.parent.mkdir(parents=True, exist_ok=True)
        _create(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s was readable by other users (mode %o); restricting it to 0600", path, mode)
        os.chmod(path, 0o600)
    key = path.read_text(encoding="ascii").strip()
    if len(key) < MIN_SECRET_CHARS:
        raise OSError(22, "the key file is truncated; delete it to make a new one", str(path))
    return key.encode("ascii")


def _create(path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mkstemp makes it 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won the race; its key is the one
        except OSError:
            # a file system without hard links: take the file unless someone else did meanwhile
            if not path.exists():
                os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
