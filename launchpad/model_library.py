"""The model library: every model file under every model root, and deleting one of them.

A listing is built from the directories of :class:`ModelRoots` (the workspace layout
standalone, ComfyUI's ``folder_paths`` inside ComfyUI, extra paths included). Each file gets
an opaque id derived from its absolute path, so the id is stable across calls and restarts
and says nothing a client could tamper with; deleting takes such an id and nothing else, so a
client can only ever delete a file this listing showed, inside a registered root.

Scanning is cached per directory and revalidated by the directory's mtime: adding, removing
or renaming a file changes its directory's mtime (downloads land by an atomic rename), so a
repeated listing costs one ``stat`` per directory instead of one per file. Both scanning and
deleting are blocking and run in a worker thread (see the ``async`` methods).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import stat
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import Forbidden, InvalidInput, NotFound
from .files import PARTIAL_SUFFIX, is_pickle
from .model_roots import ModelRoots

log = logging.getLogger("launchpad.models")

ID_PATTERN = re.compile(r"^[0-9a-f]{24}$")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# ComfyUI ships placeholder files like models/checkpoints/put_checkpoints_here
_PLACEHOLDER = re.compile(r"^put_.*_here$")
RESUME_SUFFIX = PARTIAL_SUFFIX + ".json"  # downloads/resume.py's sidecar of a partial file


def model_id(path: str) -> str:
    """The opaque id of the file at absolute ``path``."""
    return hashlib.blake2b(path.encode("utf-8", "surrogateescape"), digest_size=12).hexdigest()


@dataclass(frozen=True)
class ModelEntry:
    id: str
    folder: str  # the ComfyUI folder whose directory holds the file
    name: str  # path relative to that directory, "/"-separated (what ComfyUI's loaders show)
    path: str  # absolute path
    root: str  # the registered directory it lies in
    size: int
    mtime: float
    symlink: bool = False

    @property
    def key(self) -> str:
        return f"{self.folder}/{self.name}"

    def to_dict(self, owners: Mapping[str, list[str]] | None = None) -> dict[str, object]:
        return {
            "id": self.id,
            "folder": self.folder,
            "name": self.name,
            "path": self.path,
            "size": self.size,
            "mtime": self.mtime,
            "presets": list((owners or {}).get(self.key, ())),
            "pickle": is_pickle(self.name),  # can run code when loaded: the UI warns
        }


@dataclass
class _DirScan:
    """One directory's direct content, valid while the directory's mtime is unchanged."""

    mtime_ns: int
    files: list[ModelEntry]
    partials: list[tuple[str, int]]  # (relative name without the suffix, bytes so far)
    subdirs: list[tuple[str, str]]  # (absolute path, relative prefix)


@dataclass
class Listing:
    """One consistent view of the model roots."""

    entries: list[ModelEntry] = field(default_factory=list)  # sorted by folder, then name
    by_id: dict[str, ModelEntry] = field(default_factory=dict)
    # "folder/name" -> entry, for every folder that claims the directory (first root wins)
    by_key: dict[str, ModelEntry] = field(default_factory=dict)
    partials: dict[str, int] = field(default_factory=dict)  # "folder/name" -> bytes of its .part
    folders: list[str] = field(default_factory=list)

    def find(self, folder: str, name: str) -> ModelEntry | None:
        return self.by_key.get(f"{folder}/{name}")


@dataclass(frozen=True)
class Page:
    models: list[ModelEntry]
    total: int
    total_bytes: int
    offset: int
    limit: int


class ModelLibrary:
    """Lists and deletes model files under the roots that ``roots()`` returns (re-read each scan)."""

    def __init__(self, roots: Callable[[], ModelRoots]) -> None:
        self._roots = roots
        self._lock = threading.Lock()
        self._dirs: dict[tuple[str, str], _DirScan] = {}
        self._signature: tuple | None = None
        self._listing = Listing()

    # --- scanning (blocking) -------------------------------------------------------------

    def scan(self) -> Listing:
        """The current listing; rebuilt only when some directory changed since the last scan."""
        with self._lock:
            roots = self._roots()
            claims = _claims(roots)
            pairs = [(folder, path) for folder, path in roots.all_roots()]
            root_set = {str(path) for _, path in pairs}
            signature: list[object] = [tuple(sorted((d, tuple(f)) for d, f in claims.items()))]
            scans: list[tuple[str, _DirScan]] = []
            seen_keys: set[tuple[str, str]] = set()
            for folder, path in pairs:
                root = str(path)
                for directory in self._walk(folder, root, root_set):
                    scan = self._dirs[(root, directory)]
                    seen_keys.add((root, directory))
                    scans.append((root, scan))
                    signature.append((root, directory, scan.mtime_ns))
            # forget directories that disappeared so the cache does not grow forever
            for key in [k for k in self._dirs if k not in seen_keys]:
                del self._dirs[key]
            frozen = tuple(signature)
            if frozen != self._signature:
                self._listing = _build(scans, claims, [folder for folder, _ in roots.folders.items()])
                self._signature = frozen
            return self._listing

    def _walk(self, folder: str, root: str, root_set: set[str]) -> Iterable[str]:
        """Every directory under ``root`` (symlinked ones included, each real directory once),
        refreshing the cache of those whose mtime changed; nested roots are left to themselves."""
        visited: set[tuple[int, int]] = set()
        stack = [(root, "")]
        while stack:
            directory, prefix = stack.pop()
            try:
                st = os.stat(directory)
            except OSError:
                continue
            if not stat.S_ISDIR(st.st_mode) or (st.st_dev, st.st_ino) in visited:
                continue
            visited.add((st.st_dev, st.st_ino))
            cached = self._dirs.get((root, directory))
            if cached is None or cached.mtime_ns != st.st_mtime_ns:
                cached = _scan_dir(folder, root, directory, prefix, st.st_mtime_ns)
                self._dirs[(root, directory)] = cached
            yield directory
            for sub, sub_prefix in reversed(cached.subdirs):
                if sub not in root_set:
                    stack.append((sub, sub_prefix))

    async def listing(self) -> Listing:
        return await asyncio.to_thread(self.scan)

    # --- querying ----------------------------------------------------------------------

    @staticmethod
    def query(
        listing: Listing,
        *,
        folder: str | None = None,
        search: str | None = None,
        offset: int = 0,
        limit: int = DEFAULT_LIMIT,
    ) -> Page:
        """Entries in ``folder`` whose name contains every word of ``search``, one page of them."""
        entries: list[ModelEntry] = listing.entries
        if folder:
            entries = [e for e in entries if e.folder == folder]
        words = (search or "").lower().split()
        if words:
            entries = [e for e in entries if all(w in e.name.lower() for w in words)]
        limit = max(1, min(limit, MAX_LIMIT))
        offset = max(0, offset)
        return Page(entries[offset : offset + limit], len(entries), sum(e.size for e in entries), offset, limit)

    # --- deleting ----------------------------------------------------------------------

    def delete(self, file_id: str, *, refuse: Callable[[ModelEntry], None] | None = None) -> ModelEntry:
        """Delete the file with id ``file_id`` from a fresh listing; returns what was deleted.

        InvalidInput for a malformed id, NotFound for an id not in the listing, Forbidden when
        the file (or a directory above it) is a symlink that leads out of its root. ``refuse``
        may raise to veto the deletion (e.g. a download is writing that file).
        """
        if not isinstance(file_id, str) or not ID_PATTERN.match(file_id):
            raise InvalidInput(
                "a model id is 24 hexadecimal characters, as GET /launchpad/models lists them",
                details={"id": file_id if isinstance(file_id, str) and len(file_id) < 200 else None},
            )
        entry = self.scan().by_id.get(file_id)
        if entry is None:
            raise NotFound(
                f"no model file with id {file_id}; it may already be deleted (list again with GET /launchpad/models)",
                details={"id": file_id},
            )
        path = Path(entry.path)
        if not _confined(path, Path(entry.root)):
            raise Forbidden(
                f"{entry.key} leads outside its model folder {entry.root} through a symlink; "
                "Launchpad only deletes files inside the model folders. Remove it by hand if you mean to.",
                details={"id": file_id},
            )
        if refuse is not None:
            refuse(entry)
        try:
            path.unlink()
        except FileNotFoundError:
            raise NotFound(f"{entry.key} was already deleted", details={"id": file_id}) from None
        except OSError as exc:
            raise Forbidden(
                f"cannot delete {entry.path}: {exc.strerror}; check the folder's permissions",
                details={"id": file_id},
            ) from exc
        log.info("deleted model %s (%d bytes) at %s", entry.key, entry.size, entry.path)
        return entry

    async def delete_async(
        self, file_id: str, *, refuse: Callable[[ModelEntry], None] | None = None
    ) -> ModelEntry:
        return await asyncio.to_thread(self.delete, file_id, refuse=refuse)


# --- helpers --------------------------------------------------------------------------------


def _claims(roots: ModelRoots) -> dict[str, list[str]]:
    """directory -> every folder listing it (a directory may serve several folders)."""
    claims: dict[str, list[str]] = {}
    for folder, dirs in roots.folders.items():
        for directory in dirs:
            claims.setdefault(str(directory), []).append(folder)
    return claims


def _scan_dir(folder: str, root: str, directory: str, prefix: str, mtime_ns: int) -> _DirScan:
    files: list[ModelEntry] = []
    partials: list[tuple[str, int]] = []
    subdirs: list[tuple[str, str]] = []
    try:
        with os.scandir(directory) as it:
            items = list(it)
    except OSError as exc:
        log.warning("cannot list model directory %s: %s", directory, exc.strerror)
        return _DirScan(mtime_ns, files, partials, subdirs)
    for item in items:
        name = item.name
        if name.startswith(".") or name == "__pycache__":
            continue
        rel = prefix + name
        try:
            if item.is_dir():  # follows symlinks, like ComfyUI's own listing
                subdirs.append((item.path, rel + "/"))
                continue
            st = item.stat()
        except OSError:
            continue  # a dangling symlink or a file deleted while we looked
        if not stat.S_ISREG(st.st_mode):
            continue
        if name.endswith(PARTIAL_SUFFIX):
            partials.append((rel[: -len(PARTIAL_SUFFIX)], st.st_size))
            continue
        if name.endswith(RESUME_SUFFIX):  # the resume record beside a partial file is no model either
            continue
        if _PLACEHOLDER.match(name):
            continue
        files.append(
            ModelEntry(
                id=model_id(item.path),
                folder=folder,
                name=rel,
                path=item.path,
                root=root,
                size=st.st_size,
                mtime=st.st_mtime,
                symlink=item.is_symlink(),
            )
        )
    subdirs.sort()
    return _DirScan(mtime_ns, files, partials, subdirs)


def _build(scans: list[tuple[str, _DirScan]], claims: dict[str, list[str]], folders: list[str]) -> Listing:
    listing = Listing(folders=folders)
    seen: set[str] = set()
    for root, scan in scans:
        owners = claims.get(root, [])
        for entry in scan.files:
            if entry.id in seen:  # the same path reached twice (overlapping roots)
                continue
            seen.add(entry.id)
            listing.entries.append(entry)
            listing.by_id[entry.id] = entry
            for folder in owners:
                listing.by_key.setdefault(f"{folder}/{entry.name}", entry)
        for name, size in scan.partials:
            for folder in owners:
                listing.partials.setdefault(f"{folder}/{name}", size)
    order = {folder: index for index, folder in enumerate(folders)}
    listing.entries.sort(key=lambda e: (order.get(e.folder, len(order)), e.folder, e.name))
    return listing


def _confined(path: Path, root: Path) -> bool:
    """True when ``path`` and every directory between it and ``root`` stay inside ``root``.

    The file itself may be a symlink only if it points inside the root; a symlinked
    directory on the way is judged by where it really leads.
    """
    try:
        real_root = root.resolve(strict=True)
        real = path.resolve(strict=True)
        parent = path.parent.resolve(strict=True)
    except (OSError, RuntimeError):
        return False
    return _inside(real, real_root) and _inside(parent, real_root)


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
