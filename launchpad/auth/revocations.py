"""Sessions ended by a logout, kept on the volume so they stay ended after a restart.

A session cookie is valid until it expires; logging out must end it *now*, for good. The
ended sessions' nonces (not the cookies: a nonce alone cannot be replayed) are kept with their
expiry in ``<state>/revoked-sessions.json``, written atomically, read at start and again when
another process (a second pod on the same volume) changed it, looked at no more often than
every :data:`RECHECK` seconds so a busy server does not stat the volume on every request.
Expired entries are dropped; the list is bounded. Without a state directory (an unusable
volume) they are kept in memory only, as the session key then is too.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

from ..files import atomic_write_text

log = logging.getLogger("launchpad.auth")

REVOKED_FILE = "revoked-sessions.json"
RECHECK = 10.0  # seconds between looks at the file for other processes' logouts
MAX_ENTRIES = 10_000


class Revocations:
    def __init__(self, state_dir: Path | None, clock: Callable[[], float] = time.time) -> None:
        self.path = state_dir / REVOKED_FILE if state_dir is not None else None
        self.clock = clock
        self._ended: dict[str, float] = {}  # nonce -> expiry
        self._seen_mtime: float | None = None
        self._checked_at = 0.0
        self._reload()

    def __contains__(self, nonce: str) -> bool:
        if self.path is not None and time.monotonic() - self._checked_at > RECHECK:
            self._reload()
        return nonce in self._ended

    def _reload(self) -> None:
        self._checked_at = time.monotonic()
        if self.path is None:
            return
        try:
            mtime = self.path.stat().st_mtime
            if mtime == self._seen_mtime:
                return
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:  # unreadable: keep what we know, say so
            log.warning("cannot read the ended sessions in %s: %s", self.path, exc)
            return
        self._seen_mtime = mtime
        if isinstance(data, dict):
            now = self.clock()
            for nonce, expiry in data.items():
                if isinstance(nonce, str) and isinstance(expiry, (int, float)) and expiry > now:
                    self._ended[nonce] = float(expiry)

    def add(self, nonce: str, expires: float) -> None:
        """End the session ``nonce`` (valid until ``expires``); blocking file I/O: call from a thread."""
        self._reload()
        now = self.clock()
        self._ended = {n: e for n, e in self._ended.items() if e > now}
        self._ended[nonce] = expires
        while len(self._ended) > MAX_ENTRIES:  # the soonest to expire go first
            del self._ended[min(self._ended, key=self._ended.__getitem__)]
        if self.path is None:
            return
        try:
            atomic_write_text(self.path, json.dumps(self._ended))
            self._seen_mtime = self.path.stat().st_mtime
        except OSError as exc:
            log.warning("the logout holds until restart only: cannot write %s: %s", self.path, exc)
