"""The resolver's answers kept in the workspace: one JSON file per source in ``.launchpad/resolve/``.

Pods may share a workspace, so a save merges into what is there under an advisory lock, as the
size cache does. An unreadable file is a cache miss, never an error.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

from ..files import advisory_lock, atomic_write_text

log = logging.getLogger(__name__)

VERSION = 1


class StateFile:
    def __init__(self, state_dir: Path, name: str) -> None:
        self.path = state_dir / "resolve" / f"{name}.json"
        self._lock = state_dir / "resolve" / f"{name}.lock"
        self._read: tuple[tuple[int, int], dict[str, dict]] | None = None  # kept while the file is unchanged

    def load(self) -> dict[str, dict]:
        """Every entry by key (blocking); empty when the file is missing or unreadable. Every analysis
        reads it, so it is parsed again only when it changed (a save replaces the file)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            log.warning("%s is unreadable (%s); its sources will be asked again", self.path, exc)
            return {}
        stamp = (stat.st_mtime_ns, stat.st_size)
        read = self._read
        if read is not None and read[0] == stamp:
            return dict(read[1])
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("%s is unreadable (%s); its sources will be asked again", self.path, exc)
            return {}
        found = data.get("entries") if isinstance(data, dict) and data.get("version") == VERSION else None
        entries = {str(k): v for k, v in found.items() if isinstance(v, dict)} if isinstance(found, dict) else {}
        self._read = (stamp, entries)
        return dict(entries)

    def merge(self, entries: Mapping[str, dict]) -> None:
        """Add or replace ``entries`` (blocking)."""
        if not entries:
            return
        with advisory_lock(self._lock):
            merged = self.load()
            merged.update(entries)
            atomic_write_text(self.path, json.dumps({"version": VERSION, "entries": merged}, sort_keys=True) + "\n")
