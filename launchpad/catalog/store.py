"""The catalog a long-running process serves, reloaded when the user's own presets change.

Curated and template-derived presets ship with the install and are parsed once (the
templates take a few hundred milliseconds); the user's YAML in <workspace>/config/presets is
re-read whenever a file there is added, removed or modified, so editing it needs no restart.
What the sources said about file sizes (the workspace's size cache) replaces estimates as it
arrives (:meth:`CatalogStore.sizes_changed`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .loader import CURATED_DIR, Base, Catalog, cached_sizes, load_base, load_dir
from .schema import ParsedFile

log = logging.getLogger("launchpad.catalog")

Signature = tuple[tuple[str, int, int], ...]


def _signature(directory: Path | None) -> Signature:
    if directory is None:
        return ()
    try:
        with os.scandir(directory) as it:
            items = [item for item in it if item.name.endswith((".yaml", ".yml"))]
        found = []
        for item in items:
            try:
                st = item.stat()
            except OSError:
                continue
            found.append((item.name, st.st_mtime_ns, st.st_size))
        return tuple(sorted(found))
    except OSError:
        return ()


class CatalogStore:
    """Holds the merged catalog; :meth:`refresh` is blocking (run it in a thread)."""

    def __init__(
        self,
        user_dir: Path | None,
        *,
        templates_dir: Path | None = None,
        curated_dir: Path = CURATED_DIR,
        include_templates: bool = True,
        state_dir: Path | None = None,
        on_change: Callable[[Catalog], None] | None = None,
        check_interval: float = 0.0,
    ) -> None:
        self._user_dir = user_dir
        self._templates_dir = templates_dir
        self._curated_dir = curated_dir
        self._include_templates = include_templates
        self._state_dir = state_dir
        self._on_change = on_change
        self._check_interval = check_interval
        self._lock = threading.Lock()
        self._base: Base | None = None
        self._user: ParsedFile | None = None
        self._user_signature: Signature | None = None
        self._checked_at = 0.0
        self._catalog = Catalog()
        self.version = 0

    def current(self) -> Catalog:
        """The last loaded catalog, without touching the disk."""
        return self._catalog

    @property
    def loaded(self) -> bool:
        return self._base is not None

    def load(self) -> Catalog:
        """(Re)read every source."""
        with self._lock:
            self._base = load_base(self._curated_dir, self._templates_dir, self._include_templates)
            self._user_signature = None
            return self._refresh_locked(force=True)

    def refresh(self) -> Catalog:
        """Reload the user's presets if a file there changed (one directory listing to find out)."""
        if self._base is None:
            return self.load()
        now = time.monotonic()
        if now - self._checked_at < self._check_interval:
            return self._catalog
        with self._lock:
            return self._refresh_locked(force=False)

    def sizes_changed(self) -> Catalog:
        """Re-read the size cache (the sources answered) and work the figures out again."""
        with self._lock:
            return self._refresh_locked(force=True, reread_user=False)

    def _refresh_locked(self, *, force: bool, reread_user: bool = True) -> Catalog:
        self._checked_at = time.monotonic()
        signature = _signature(self._user_dir)
        if not force and signature == self._user_signature:
            return self._catalog
        assert self._base is not None
        started = time.perf_counter()
        if reread_user or self._user is None:
            self._user = load_dir(self._user_dir, "user") if self._user_dir is not None else ParsedFile()
        user = self._user
        catalog = self._base.build(user, cached_sizes(self._state_dir, self._base, user), self._user_dir)
        if reread_user:
            for warning in user.warnings if not force else catalog.warnings:
                log.warning("catalog: %s", warning)
        self._catalog, self._user_signature = catalog, signature
        self.version += 1
        log.info(
            "catalog: %d presets, %d warnings (%.0f ms)",
            len(catalog.presets), len(catalog.warnings), (time.perf_counter() - started) * 1000,
        )
        if self._on_change is not None:
            try:
                self._on_change(catalog)
            except Exception:
                log.exception("catalog change listener failed")
        return catalog
