"""Which files on disk passed their sha256 check, kept in ``<workspace>/.launchpad/verified.json``.

The file on disk is the truth of presence; this record only says that the bytes at a path,
with that size and modification time, once hashed to a sha256. A file that was replaced or
touched since no longer matches its record, so it is checked again. The download manager
records what it verified; a preset whose catalog states a sha256 counts as installed only
when each such file matches a record with that sha256.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..files import advisory_lock, atomic_write_text

log = logging.getLogger(__name__)

VERSION = 1
MTIME_SLACK = 1e-3  # seconds: the same stat read as float twice may differ in the last bits

@dataclass(frozen=True)
class Check:
    size: int
    mtime: float
    sha256: str

    def matches(self, size: int, mtime: float, sha256: str) -> bool:
        return self.sha256 == sha256 and self.size == size and abs(self.mtime - mtime) <= MTIME_SLACK


class VerifiedFiles:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "verified.json"
        self._lock_path = state_dir / "verified.lock"
        self._cache: tuple[tuple[int, int], dict[str, Check]] | None = None

    def load(self) -> dict[str, Check]:
        """Every record by absolute path; re-read only when the file changed. Blocking."""
        try:
            st = self.path.stat()
        except OSError:
            return {}
        stamp = (st.st_mtime_ns, st.st_size)
        if self._cache is not None and self._cache[0] == stamp:
            return self._cache[1]
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("%s is unreadable (%s); files with a sha256 will be checked again", self.path, exc)
            return {}
        files = data.get("files") if isinstance(data, dict) and data.get("version") == VERSION else None
        checks = {}
        for path, item in (files if isinstance(files, dict) else {}).items():
            try:
                checks[str(path)] = Check(int(item["size"]), float(item["mtime"]), str(item["sha256"]))
            except (KeyError, TypeError, ValueError):
                continue
        self._cache = (stamp, checks)
        return checks

    def record(self, path: Path, sha256: str) -> None:
        """``path`` (as it is on disk now) hashed to ``sha256``. Blocking: run in a thread."""
        st = os.stat(path)
        with advisory_lock(self._lock_path):
            checks = dict(self.load())
            checks[str(path)] = Check(st.st_size, st.st_mtime, sha256)
            checks = {p: c for p, c in checks.items() if p == str(path) or os.path.exists(p)}
            files = {p: {"size": c.size, "mtime": c.mtime, "sha256": c.sha256} for p, c in sorted(checks.items())}
            atomic_write_text(self.path, json.dumps({"version": VERSION, "files": files}, indent=1) + "\n")


def passed(checks: Mapping[str, Check], path: str, size: int, mtime: float, sha256: str | None) -> bool:
    """Whether the file at ``path`` passed its check: nothing to check, or a matching record."""
    if sha256 is None:
        return True
    check = checks.get(path)
    return check is not None and check.matches(size, mtime, sha256)
