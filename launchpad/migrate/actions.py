"""`launchpad migrate`'s actions: plan, adopt, move, undo. Blocking (file I/O): call from a thread.

Every action that changes something takes the workspace's migration lock and writes its
journal before it changes anything; `--undo` reverses the newest journal not undone yet.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import model_paths
from ..errors import Conflict, NotFound
from ..workspace import Workspace
from . import adopted, journal, moves
from .adopted import Adoption
from .guard import recent_change, volume_in_use
from .layouts import Source, detect, named
from .plan import MOVE, Item, Plan, build


def find_sources(workspace: Workspace, source: Path | None = None) -> list[Source]:
    """The old tree named, or every one found on the volume; NotFound saying where it looked."""
    if source is not None:
        return [named(source, workspace.root)]
    found = detect(workspace.root)
    if not found:
        root = workspace.root
        raise NotFound(
            f"no old layout found on {root}: looked for {root}/ComfyUI (the rsync images), "
            f"{root}/runpod-slim/ComfyUI (RunPod's ComfyUI template), {root}/storage/stable_diffusion/models "
            "(ai-dock) and other ComfyUI folders. Name the old directory: launchpad migrate /path/to/ComfyUI"
        )
    return found


def make_plan(workspace: Workspace, source: Path | None = None) -> Plan:
    """The dry run: what adopt and move would do. Changes nothing."""
    return build(workspace, find_sources(workspace, source))


# --- adopt ----------------------------------------------------------------------------------


@dataclass
class Adopted:
    journal: str | None
    added: list[Adoption] = field(default_factory=list)
    already: list[Adoption] = field(default_factory=list)  # adopted before: left as they are
    config: Path | None = None  # the extra_model_paths.yaml rewritten

    def to_dict(self) -> dict[str, object]:
        return {
            "journal": self.journal,
            "adopted": [a.to_dict() for a in self.added],
            "already": [a.to_dict() for a in self.already],
            "config": None if self.config is None else str(self.config),
        }


def adopt(workspace: Workspace, plan: Plan) -> Adopted:
    """Add the plan's old model directories to ComfyUI's paths, leaving every file where it is."""
    config = workspace.config
    with journal.exclusive(config):
        current = {a.source: a for a in adopted.load(config)}
        result = Adopted(None)
        for source_plan in plan.sources:
            root = str(source_plan.source.root)
            if root in current:
                result.already.append(current[root])
                continue
            dirs = source_plan.adopt_dirs()
            if dirs:
                result.added.append(Adoption(adopted.new_id(source_plan.source.root), root,
                                             source_plan.source.layout, dirs, time.time()))
        if not result.added:
            return result
        record = journal.create(config, {"id": result.added[0].id, "kind": "adopt",
                                         "adoptions": [a.to_dict() for a in result.added]})
        for adoption in result.added:
            adopted.add(config, adoption)
        result.config = model_paths.rewrite(workspace).config
        record.append({"type": "end"})
        record.sync()
        result.journal = record.id
        return result


# --- move -----------------------------------------------------------------------------------


@dataclass
class Moved:
    journal: str
    resumed: bool
    moved: list[dict[str, Any]] = field(default_factory=list)  # items, as the plan shows them
    kept: list[dict[str, Any]] = field(default_factory=list)  # planned moves not done, with the reason
    left: list[dict[str, Any]] = field(default_factory=list)  # what the plan leaves where it is
    unadopted: list[str] = field(default_factory=list)  # adoptions the move replaced

    def to_dict(self) -> dict[str, object]:
        return {"journal": self.journal, "resumed": self.resumed, "moved": self.moved, "kept": self.kept,
                "left": self.left, "unadopted": self.unadopted}


def _device(path: Path) -> int:
    """The device of ``path`` or of its nearest existing parent."""
    for candidate in (path, *path.parents):
        try:
            return candidate.stat().st_dev
        except FileNotFoundError:
            continue
    raise AssertionError("the root always exists")


def _check_same_device(moves_: Sequence[Item]) -> None:
    devices: dict[Path, int] = {}
    for item in moves_:
        parent = item.target.parent
        if parent not in devices:
            devices[parent] = _device(parent)
        if item.inode is not None and item.inode[0] != devices[parent]:
            raise Conflict(
                f"{item.source} is on another file system than {parent}: a move would copy every byte, so "
                "nothing was moved. Use `launchpad migrate --adopt` to use the files where they are",
                details={"source": str(item.source), "target": str(item.target)},
            )


def _steps(moves_: Sequence[Item]) -> list[dict[str, Any]]:
    """The journal's steps: missing parent directories first, then one rename per planned move."""
    steps: list[dict[str, Any]] = []
    coming: set[Path] = set()  # directories earlier steps create or move into place

    def there(path: Path) -> bool:
        return path in coming or any(parent in coming for parent in path.parents) or path.is_dir()

    for item in moves_:
        missing = []
        parent = item.target.parent
        while not there(parent):
            missing.append(parent)
            parent = parent.parent
        for directory in reversed(missing):
            steps.append({"op": "mkdir", "path": str(directory), "existed": False})
            coming.add(directory)
        assert item.inode is not None
        steps.append({
            "op": "rename", "src": str(item.source), "dst": str(item.target), "dev": item.inode[0],
            "ino": item.inode[1], "kind": item.kind, "folder": item.folder, "dir": item.is_dir,
            "files": item.files, "bytes": item.bytes,
        })
        if item.is_dir:
            coming.add(item.target)
    return steps


def _item(step: dict[str, Any]) -> dict[str, Any]:
    """A rename step as the plan's item (so a dry run and what was done compare one to one)."""
    return Item(step["kind"], Path(step["src"]), Path(step["dst"]), MOVE, step["files"], step["bytes"],
                step["dir"], step["folder"]).to_dict()


def _in_use(workspace: Workspace, lock_ttl: float) -> None:
    busy = volume_in_use(workspace, lock_ttl)
    if busy:
        raise Conflict(
            f"Launchpad is using this volume right now ({'; '.join(busy)}): nothing was moved. Wait until it is "
            "done (or cancel it in the Downloads view), then run the command again",
            details={"in_use": busy},
        )


def unfinished(workspace: Workspace) -> journal.Journal | None:
    """A move or an undo that was interrupted, if any."""
    pending = [j for j in journal.history(workspace.config)
               if j.state == journal.UNDOING or (j.kind == "move" and j.state == journal.RUNNING)]
    return pending[-1] if pending else None


def move(workspace: Workspace, source: Path | None, *, lock_ttl: float, force: bool = False,
         progress: moves.Progress | None = None) -> Moved:
    """Move the plan into the workspace by renames, or finish the move that was interrupted."""
    config = workspace.config
    with journal.exclusive(config):
        _in_use(workspace, lock_ttl)
        record = unfinished(workspace)
        if record is not None and record.state == journal.UNDOING:
            raise Conflict(f"the undo of migration {record.id} was interrupted: run `launchpad migrate --undo` to "
                           "finish it first")
        resumed = record is not None
        left: list[dict[str, Any]] = []
        if record is None:
            plan = make_plan(workspace, source)
            planned = plan.moves()
            if not planned:
                raise NotFound("nothing to move: everything in the old trees is already in the workspace or left "
                               "where it is (see `launchpad migrate`)")
            _check_same_device(planned)
            changed = recent_change(plan)
            if changed is not None and not force:
                seconds, path = changed
                raise Conflict(
                    f"the old tree changed {seconds:.0f} s ago ({path}): a pod of the old template may still be "
                    "using it. Stop the pods of the old template, then run this again (or add --force if none is "
                    "running)", details={"path": path, "seconds_ago": round(seconds)},
                )
            roots = {str(s.source.root) for s in plan.sources}
            replaces = [a for a in adopted.load(config) if a.source in roots]
            record = journal.create(config, {
                "id": adopted.new_id(plan.sources[0].source.root), "kind": "move", "workspace": str(workspace.root),
                "sources": [s.source.to_dict() for s in plan.sources], "ops": _steps(planned),
                "replaces": [a.to_dict() for a in replaces],
            })
            left = [item.to_dict() for item in plan.items if item.action != MOVE]
        outcome = moves.run(record, progress)
        replaced = [Adoption.from_dict(a) for a in record.header.get("replaces", [])]
        for adoption in replaced:
            adopted.remove(config, adoption.id)
        if replaced:
            model_paths.rewrite(workspace)
        record.append({"type": "end"})
        record.sync()
        ops = record.ops
        return Moved(
            record.id, resumed,
            moved=[_item(ops[n]) for n in sorted(outcome.moved + outcome.earlier) if ops[n]["op"] == "rename"],
            kept=[{**_item(ops[n]), "reason": reason} for n, reason in sorted(outcome.kept.items())],
            left=left, unadopted=[a.id for a in replaced],
        )


# --- undo -----------------------------------------------------------------------------------


@dataclass
class Undone:
    journal: str
    kind: str
    put_back: list[dict[str, Any]] = field(default_factory=list)
    kept: list[dict[str, Any]] = field(default_factory=list)
    unadopted: list[str] = field(default_factory=list)
    readopted: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"journal": self.journal, "kind": self.kind, "put_back": self.put_back, "kept": self.kept,
                "unadopted": self.unadopted, "readopted": self.readopted}


def undo(workspace: Workspace, *, lock_ttl: float, progress: moves.Progress | None = None) -> Undone:
    """Reverse the newest migration not undone: an adoption is taken out, a move put back."""
    config = workspace.config
    with journal.exclusive(config):
        record = journal.latest(config)
        if record is None:
            recorded = "every migration recorded here is undone already" if journal.history(config) else (
                "no migration of this workspace is recorded")
            raise NotFound(f"nothing to undo: {recorded} (journals live in {journal.directory(config)})")
        result = Undone(record.id, record.kind)
        if record.kind == "adopt":
            if not record.undo_started:
                record.append({"type": "undo"})
            for entry in record.header.get("adoptions", []):
                if adopted.remove(config, str(entry["id"])) is not None:
                    result.unadopted.append(str(entry["id"]))
            model_paths.rewrite(workspace)
        else:
            _in_use(workspace, lock_ttl)
            outcome = moves.undo(record, progress)
            ops = record.ops
            result.put_back = [_item(ops[n]) for n in sorted(outcome.moved) if ops[n]["op"] == "rename"]
            result.kept = [{**_item(ops[n]), "reason": r} for n, r in sorted(outcome.kept.items())]
            replaced = [Adoption.from_dict(a) for a in record.header.get("replaces", [])]
            for adoption in replaced:
                adopted.add(config, adoption)
                result.readopted.append(adoption.id)
            if replaced:
                model_paths.rewrite(workspace)
            if outcome.kept:
                record.sync()
                return result  # not undone for good: a rerun tries the kept steps again
        record.append({"type": "undo-end"})
        record.sync()
        return result

