"""What a migration would do with every part of the old trees: the plan a dry run prints.

Each old entry gets one action:

- ``move``: renamed into the workspace, where nothing has its name (a directory moves whole);
- ``same``: the workspace already has the same content under that name (compared by size,
  and by sha256 where sizes match): the old copy is left where it is;
- ``clash``: the workspace has something else under that name: both are kept, the old one
  where it is;
- ``skip``: not carried, with the reason (a link, an unknown folder, the legacy Manager clone).

Where both sides have a directory, the plan goes into it and decides per entry. Targets that
an earlier entry of the same plan will fill count as taken (``clip`` and ``text_encoders``
both go to ``models/text_encoders``). Building a plan reads the trees and hashes the files
whose sizes match (in threads); it changes nothing.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .. import model_folders
from ..workspace import Workspace
from .layouts import Source

MOVE, SAME, CLASH, SKIP = "move", "same", "clash", "skip"
MODELS, CUSTOM_NODES, USER, INPUT, OUTPUT = "models", "custom_nodes", "user", "input", "output"
KINDS = (MODELS, CUSTOM_NODES, USER, INPUT, OUTPUT)

# ComfyUI's own placeholders (models/checkpoints/put_checkpoints_here, output/_output_images_will_be_put_here)
_PLACEHOLDER = re.compile(r"^(put_.*_here|_output_images_will_be_put_here)$")
# files ComfyUI ships in custom_nodes/: the image's ComfyUI has its own
_COMFYUI_EXAMPLES = frozenset({"example_node.py.example", "websocket_image_save.py"})
# what the image provides itself: ComfyUI refuses a custom_nodes folder named like the Manager
_PROVIDED_NODES = {"comfyui-manager": "ComfyUI-Manager", "comfyui-launchpad": "ComfyUI-Launchpad"}
_DATABASE = re.compile(r"^comfyui\.db(-wal|-shm|-journal)?$")
HASH_THREADS = 4
_CHUNK = 1 << 20


@dataclass
class Item:
    """One old entry and what the plan does with it."""

    kind: str
    source: Path
    target: Path
    action: str
    files: int = 0
    bytes: int = 0
    is_dir: bool = False
    folder: str | None = None  # the ComfyUI folder, for models
    reason: str = ""
    inode: tuple[int, int] | None = None  # (st_dev, st_ino) when planned

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "folder": self.folder,
            "source": str(self.source),
            "target": str(self.target),
            "action": self.action,
            "dir": self.is_dir,
            "files": self.files,
            "bytes": self.bytes,
            "reason": self.reason,
        }


@dataclass
class FolderRow:
    """One old model directory: how much is in it and where it goes."""

    source: Path
    folder: str | None  # None: not a folder ComfyUI or Launchpad knows
    target: Path | None
    files: int = 0
    bytes: int = 0
    clashes: int = 0
    same: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "source": str(self.source),
            "name": self.source.name,
            "folder": self.folder,
            "target": None if self.target is None else str(self.target),
            "files": self.files,
            "bytes": self.bytes,
            "clashes": self.clashes,
            "same": self.same,
        }


@dataclass
class NodeRow:
    """One old custom node."""

    name: str
    source: Path
    action: str
    reason: str = ""
    requirements: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "source": str(self.source),
            "action": self.action,
            "reason": self.reason,
            "requirements": self.requirements,
        }


@dataclass
class SourcePlan:
    source: Source
    items: list[Item] = field(default_factory=list)
    folders: list[FolderRow] = field(default_factory=list)
    nodes: list[NodeRow] = field(default_factory=list)
    newest: tuple[float, str] = (0.0, "")  # the latest change in the trees a move would touch: (mtime, path)
    workflows: int = 0  # saved workflows in the old user directory
    manager_clone: Path | None = None  # a legacy ComfyUI-Manager clone in its custom_nodes

    def adopt_dirs(self) -> dict[str, tuple[str, ...]]:
        """ComfyUI folder -> the old directories with model files in them, for --adopt."""
        dirs: dict[str, tuple[str, ...]] = {}
        for row in self.folders:
            if row.folder is not None and row.files and "\n" not in str(row.source):
                dirs[row.folder] = (*dirs.get(row.folder, ()), str(row.source))
        return dirs

    def totals(self, kind: str) -> dict[str, int]:
        """Files and bytes of ``kind`` per action."""
        found: dict[str, int] = {}
        for item in self.items:
            if item.kind == kind:
                found[f"{item.action}_files"] = found.get(f"{item.action}_files", 0) + item.files
                found[f"{item.action}_bytes"] = found.get(f"{item.action}_bytes", 0) + item.bytes
        return found

    def to_dict(self) -> dict[str, object]:
        source = self.source
        parts: dict[str, dict[str, object] | None] = {}
        for kind in (USER, INPUT, OUTPUT):
            where = getattr(source, kind)
            parts[kind] = None if where is None else {"source": str(where), **self.totals(kind)}
        user = parts[USER]
        if user is not None:
            user["workflows"] = self.workflows
        return {
            **source.to_dict(),
            "folders": [row.to_dict() for row in self.folders],
            "custom_nodes": [node.to_dict() for node in self.nodes],
            **parts,
            "adopt": {name: list(dirs) for name, dirs in self.adopt_dirs().items()},
            "items": [item.to_dict() for item in self.items],
        }


@dataclass
class Plan:
    workspace: Path
    sources: list[SourcePlan]

    @property
    def items(self) -> list[Item]:
        return [item for source in self.sources for item in source.items]

    def moves(self) -> list[Item]:
        return [item for item in self.items if item.action == MOVE]

    def clashes(self) -> list[Item]:
        return [item for item in self.items if item.action == CLASH]

    def to_dict(self) -> dict[str, object]:
        moves = self.moves()
        return {
            "workspace": str(self.workspace),
            "sources": [source.to_dict() for source in self.sources],
            "summary": {
                "move_files": sum(item.files for item in moves),
                "move_bytes": sum(item.bytes for item in moves),
                "renames": len(moves),
                "clashes": len(self.clashes()),
                "same": sum(item.action == SAME for item in self.items),
            },
        }


# --- reading the trees --------------------------------------------------------------------


@dataclass
class _Tree:
    files: int = 0
    bytes: int = 0
    newest: float = 0.0


def _measure(path: Path, st: os.stat_result) -> _Tree:
    """Regular files and bytes under ``path`` (links not followed), and its newest mtime."""
    tree = _Tree(newest=st.st_mtime)
    if stat.S_ISREG(st.st_mode):
        return _Tree(1, st.st_size, st.st_mtime)
    if not stat.S_ISDIR(st.st_mode):
        return tree
    stack = [path]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            tree.newest = max(tree.newest, info.st_mtime)
            if stat.S_ISDIR(info.st_mode):
                stack.append(Path(entry.path))
            elif stat.S_ISREG(info.st_mode):
                tree.files += 1
                tree.bytes += info.st_size
    return tree


def _entries(directory: Path) -> list[tuple[Path, os.stat_result]]:
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    found = []
    for name in names:
        path = directory / name
        try:
            found.append((path, path.lstat()))
        except OSError:
            continue
    return found


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _requirements(node: Path) -> list[str]:
    try:
        text = (node / "requirements.txt").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("-")]


# --- the planner ----------------------------------------------------------------------------


class _Planner:
    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.claimed: dict[Path, Path] = {}  # target -> the old path a planned move puts there
        self.to_hash: list[tuple[Item, Path]] = []  # same-size pairs: (item, what is at its target)
        self.implied: set[Path] = set()  # directories that will exist once the planned moves are done

    def current(self, target: Path) -> Path:
        """Where to look for what will be at ``target`` once the earlier planned moves are done."""
        for parent in (target, *target.parents):
            old = self.claimed.get(parent)
            if old is not None:
                return old / target.relative_to(parent)
        return target

    def item(self, plan: SourcePlan, kind: str, source: Path, st: os.stat_result, target: Path,
             folder: str | None = None) -> Item | None:
        """Plan one old entry against ``target``: move, same, clash, or go into both directories."""
        if _PLACEHOLDER.match(source.name):
            return None
        base = Item(kind, source, target, MOVE, is_dir=stat.S_ISDIR(st.st_mode), folder=folder,
                    inode=(st.st_dev, st.st_ino))
        if stat.S_ISLNK(st.st_mode):
            base.action, base.reason = SKIP, f"a link to {os.readlink(source)}, not a file: left where it is"
            return self._add(plan, base)
        there = self.current(target)
        try:
            other: os.stat_result | None = there.lstat()
        except FileNotFoundError:
            other = None
        taken = other is not None or target in self.implied  # by what is there, or an earlier planned move
        if taken and base.is_dir and (other is None or stat.S_ISDIR(other.st_mode)):
            plan.newest = max(plan.newest, (st.st_mtime, str(source)))
            self.merge(plan, kind, source, target, folder)
            return None
        tree = _measure(source, st)  # what moves, or stays beside what is there
        base.files, base.bytes = tree.files, tree.bytes
        if not taken:
            plan.newest = max(plan.newest, (tree.newest, str(source)))
            self.claim(target, source)
            return self._add(plan, base)
        base.action = CLASH
        if other is None:
            base.reason = "an earlier move makes a directory of that name there"
        elif stat.S_ISREG(st.st_mode) and stat.S_ISREG(other.st_mode):
            if (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino):
                base.action, base.reason = SAME, "the same file (a hard link) is already there"
            elif other.st_size != st.st_size:
                base.reason = f"a different file is already there ({other.st_size} bytes, this one {st.st_size})"
            else:
                self.to_hash.append((base, there))
        else:
            what = "directory" if stat.S_ISDIR(other.st_mode) else "file"
            base.reason = f"a {what} of that name is already there"
        return self._add(plan, base)

    def claim(self, target: Path, source: Path) -> None:
        self.claimed[target] = source
        for parent in target.parents:  # the directories that move will need (made first if missing)
            if parent in self.implied or parent == self.workspace.root:
                break
            self.implied.add(parent)

    @staticmethod
    def _add(plan: SourcePlan, item: Item) -> Item:
        plan.items.append(item)
        return item

    def merge(self, plan: SourcePlan, kind: str, source: Path, target: Path, folder: str | None = None,
              skip: Iterable[Path] = ()) -> None:
        """Plan every entry of directory ``source`` against directory ``target``."""
        left_out = set(skip)
        for path, st in _entries(source):
            if path not in left_out:
                self.item(plan, kind, path, st, target / path.name, folder)

    def resolve_hashes(self) -> None:
        """Same name and size on both sides: the sha256s decide between same and clash (in threads)."""
        if not self.to_hash:
            return
        paths = sorted({p for item, there in self.to_hash for p in (item.source, there)})
        with ThreadPoolExecutor(max_workers=HASH_THREADS, thread_name_prefix="launchpad-hash") as pool:
            digests = dict(zip(paths, pool.map(_digest_or_none, paths), strict=True))
        for item, there in self.to_hash:
            mine, theirs = digests[item.source], digests[there]
            if mine is not None and mine == theirs:
                item.action, item.reason = SAME, "the same content is already there (sha256)"
            elif mine is None or theirs is None:
                item.reason = "a file of the same size is already there, and one of them cannot be read"
            else:
                item.reason = "a different file of the same size is already there (sha256 differs)"


def _digest_or_none(path: Path) -> str | None:
    try:
        return sha256(path)
    except OSError:
        return None


def _models(planner: _Planner, plan: SourcePlan) -> None:
    source = plan.source
    if source.models is None:
        return
    ws = planner.workspace
    for path, st in _entries(source.models):
        if path.name.startswith(".") or _PLACEHOLDER.match(path.name):
            continue
        if not stat.S_ISDIR(st.st_mode):
            kind = "link" if stat.S_ISLNK(st.st_mode) else "file"
            plan.items.append(Item(MODELS, path, path, SKIP, reason=f"a {kind} outside any model folder: left where "
                                   "it is"))
            continue
        folder = source.folder_for(path.name)
        if folder is None:
            tree = _measure(path, st)
            plan.folders.append(FolderRow(path, None, None, tree.files, tree.bytes))
            plan.items.append(Item(MODELS, path, path, SKIP, tree.files, tree.bytes, True, reason=(
                f"no ComfyUI folder is called {path.name!r}: left where it is (add it to "
                f"{ws.config / 'extra_model_paths.user.yaml'} if a custom node reads it)")))
            continue
        target = ws.models / model_folders.get(folder).target_dir
        first = len(plan.items)
        planner.item(plan, MODELS, path, st, target, folder)
        carried = [i for i in plan.items[first:] if i.action != SKIP]
        plan.folders.append(FolderRow(path, folder, target, sum(i.files for i in carried),
                                      sum(i.bytes for i in carried)))


def _custom_nodes(planner: _Planner, plan: SourcePlan) -> None:
    source = plan.source
    if source.custom_nodes is None:
        return
    target_root = planner.workspace.root / "custom_nodes"
    manager = planner.workspace.user / "__manager"
    for path, st in _entries(source.custom_nodes):
        name = path.name
        if name == "__pycache__" or name.startswith("."):
            continue
        if not stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode):
            if name in _COMFYUI_EXAMPLES:
                continue  # ComfyUI's own example files: the image's ComfyUI has them
            planner.item(plan, CUSTOM_NODES, path, st, target_root / name)
            continue
        provided = _PROVIDED_NODES.get(name.lower())
        if provided is not None:
            reason = f"not carried: the image provides {provided}"
            if provided == "ComfyUI-Manager":
                reason += f"; its settings go to {manager}"
                plan.manager_clone = path
            tree = _measure(path, st)
            plan.items.append(Item(CUSTOM_NODES, path, target_root / name, SKIP, tree.files, tree.bytes, True,
                                   reason=reason))
            plan.nodes.append(NodeRow(name, path, SKIP, reason))
            continue
        target = target_root / name
        there = planner.current(target)
        if there.exists() or there.is_symlink():
            # a node is a whole repository: never merged into another one of the same name
            tree = _measure(path, st)
            clash = Item(CUSTOM_NODES, path, target, CLASH, tree.files, tree.bytes, True,
                         reason="a custom node of that name is already in the workspace: both kept, the old one "
                         "where it is", inode=(st.st_dev, st.st_ino))
            plan.items.append(clash)
            plan.nodes.append(NodeRow(name, path, CLASH, clash.reason, _requirements(path)))
            continue
        item = planner.item(plan, CUSTOM_NODES, path, st, target)
        if item is not None:
            note = "its requirements are installed at the next start" if (path / "requirements.txt").is_file() else ""
            plan.nodes.append(NodeRow(name, path, item.action, note or item.reason, _requirements(path)))


def _manager_settings(planner: _Planner, plan: SourcePlan) -> None:
    """An old Manager clone kept its settings inside itself (config.ini, snapshots/); after the user
    directory's, which the Manager 3.x moved them to and used instead."""
    if plan.manager_clone is None:
        return
    for name in ("config.ini", "snapshots"):
        path = plan.manager_clone / name
        try:
            st = path.lstat()
        except FileNotFoundError:
            continue
        planner.item(plan, USER, path, st, planner.workspace.user / "__manager" / name)


def _user(planner: _Planner, plan: SourcePlan) -> None:
    old = plan.source.user
    if old is None:
        return
    plan.workflows = sum(1 for path in old.glob("*/workflows/**/*.json") if path.is_file())
    ws_user = planner.workspace.user
    # ComfyUI-Manager 3.x kept its settings in <user>/default/ComfyUI-Manager; the package reads <user>/__manager
    legacy = old / "default" / "ComfyUI-Manager"
    skip: list[Path] = []
    if legacy.is_dir() and not legacy.is_symlink():
        skip.append(legacy)
    for path, st in _entries(old):
        if _DATABASE.match(path.name):
            plan.items.append(Item(USER, path, ws_user / path.name, SKIP, 1, st.st_size, reason=(
                "ComfyUI's database: ComfyUI builds it again from the files (Launchpad keeps it on local disk)")))
            continue
        if path == old / "default" and skip:  # entry by entry, leaving the Manager's folder out
            planner.merge(plan, USER, path, ws_user / "default", skip=skip)
            continue
        planner.item(plan, USER, path, st, ws_user / path.name)
    if skip:
        planner.item(plan, USER, legacy, legacy.lstat(), ws_user / "__manager")


def _plain(planner: _Planner, plan: SourcePlan, kind: str) -> None:
    old = getattr(plan.source, kind)
    if old is not None:
        planner.merge(plan, kind, old, getattr(planner.workspace, kind))


def build(workspace: Workspace, sources: Iterable[Source]) -> Plan:
    """The plan for carrying ``sources`` into ``workspace``. Blocking (reads the trees, hashes in threads)."""
    planner = _Planner(workspace)
    plans = []
    for source in sources:
        plan = SourcePlan(source)
        _models(planner, plan)
        _custom_nodes(planner, plan)
        _user(planner, plan)
        _manager_settings(planner, plan)
        _plain(planner, plan, INPUT)
        _plain(planner, plan, OUTPUT)
        plans.append(plan)
    planner.resolve_hashes()
    for plan in plans:
        for row in plan.folders:
            inside = [i for i in plan.items if i.kind == MODELS and i.source.is_relative_to(row.source)]
            row.clashes = sum(i.action == CLASH for i in inside)
            row.same = sum(i.action == SAME for i in inside)
    return Plan(workspace.root, plans)
