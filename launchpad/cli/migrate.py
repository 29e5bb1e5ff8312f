"""`launchpad migrate [FROM]`: bring an old volume layout over, dry run first.

Alone it prints the plan and changes nothing; ``--adopt`` uses the old model folders where
they are, ``--move`` moves everything into the workspace by renames, ``--undo`` reverses the
last of them. The work is in launchpad/migrate/; this module only reads the options and
writes for people (or ``--json`` for scripts).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from .. import humanize
from ..config import Settings
from ..migrate import actions, adopted
from ..migrate.plan import CLASH, CUSTOM_NODES, INPUT, MODELS, OUTPUT, SAME, SKIP, USER, Item, Plan, SourcePlan
from ..migrate.status import command
from ..workspace import Workspace
from .exits import OK


def add_parser(sub: argparse._SubParsersAction, after: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "migrate", parents=[after],
        help="bring an old volume layout over: shows the plan; --adopt or --move carry it out, --undo reverses",
        description="Find the old ComfyUI trees on the volume (or use FROM) and show what goes where. Nothing "
        "changes without --adopt or --move.",
    )
    parser.add_argument("source", nargs="?", type=Path, metavar="FROM",
                        help="the old ComfyUI directory (default: every known layout found on the volume)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--adopt", action="store_true",
                      help="use the old model folders where they are (added to extra_model_paths.yaml)")
    mode.add_argument("--move", action="store_true",
                      help="move everything in by renames on the same disk (never a copy; journaled)")
    mode.add_argument("--undo", action="store_true", help="reverse the last adopt or move")
    parser.add_argument("--force", action="store_true",
                        help="move even though the old tree changed in the last few minutes")


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    workspace = Workspace(settings.workspace)
    if args.undo:
        undone = actions.undo(workspace, lock_ttl=settings.lock_ttl, progress=_progress("putting back"))
        _emit(args, undone.to_dict(), lambda: _print_undo(undone))
        return OK
    if args.move:
        print("warning: pods of the old template must be stopped first: a file they have open is moved "
              "from under them", file=sys.stderr)
        moved = actions.move(workspace, args.source, lock_ttl=settings.lock_ttl, force=args.force,
                             progress=_progress("moving"))
        _emit(args, moved.to_dict(), lambda: _print_move(workspace, moved))
        return OK
    plan = actions.make_plan(workspace, args.source)
    if args.adopt:
        done = actions.adopt(workspace, plan)
        _emit(args, done.to_dict(), lambda: _print_adopt(workspace, plan, done))
        return OK
    _emit(args, plan.to_dict(), lambda: _print_plan(workspace, plan))
    return OK


def _emit(args: argparse.Namespace, data: dict[str, object], text: Callable[[], None]) -> None:
    if args.json:
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        text()


def _progress(verb: str) -> Callable[[int, int], None] | None:
    """A counter redrawn on a terminal's stderr; nothing in a log."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        if done == total or done % 100 == 0:
            end = "\n" if done == total else ""
            print(f"\r{verb} {done}/{total}", end=end, file=sys.stderr, flush=True)

    return show


def _rel(workspace: Workspace, path: Path | str) -> str:
    path = Path(path)
    return str(path.relative_to(workspace.root)) if path.is_relative_to(workspace.root) else str(path)


def _amount(files: int, size: int) -> str:
    return f"{humanize.count(files, 'file')}, {humanize.size(size)}"


def _total(items: list[Item]) -> str:
    return _amount(sum(i.files for i in items), sum(i.bytes for i in items))


# --- the plan ---------------------------------------------------------------------------------


def _print_plan(workspace: Workspace, plan: Plan) -> None:
    adopted_roots = {a.source for a in adopted.load(workspace.config)}
    print(f"Old layouts on {workspace.root}:")
    for source in plan.sources:
        note = " (adopted: ComfyUI reads its model folders where they are)" if str(source.source.root) in \
            adopted_roots else ""
        print(f"  {source.source.title}: {source.source.root}{note}")
    for source in plan.sources:
        _print_source(workspace, source)
    moves = plan.moves()
    files, size = sum(i.files for i in moves), sum(i.bytes for i in moves)
    adopt = sum(len(dirs) for s in plan.sources for dirs in s.adopt_dirs().values())
    print()
    print("Nothing was changed. To carry this out:")
    where = [str(s.source.root) for s in plan.sources] if len(plan.sources) == 1 else []
    print(f"  {command('--adopt', *where)}")
    print(f"      use the {humanize.count(adopt, 'model folder')} where they are (ComfyUI reads them from there); "
          "custom nodes, settings and outputs stay behind")
    print(f"  {command('--move', *where)}")
    print(f"      move {_amount(files, size)} into the workspace in {humanize.count(len(moves), 'rename')} on the "
          "same disk; nothing is copied")
    print("  Stop the pods of the old template before --move. `launchpad migrate --undo` reverses either.")


def _print_source(workspace: Workspace, plan: SourcePlan) -> None:
    source = plan.source
    if source.models is not None:
        rows = plan.folders
        print(f"\nModels in {source.models}:")
        if not rows:
            print("  (no model folders)")
        empty = [row for row in rows if row.folder is not None and not row.files]
        rows = [row for row in rows if row not in empty]
        width = max((len(row.source.name) for row in rows), default=0)
        for row in rows:
            amount = f"{humanize.count(row.files, 'file'):>10} {humanize.size(row.bytes):>9}"
            if row.folder is None:
                print(f"  {row.source.name:<{width}}  {amount}  left where it is: no ComfyUI folder of that name")
                continue
            alias = f" ({row.folder})" if row.folder != row.source.name else ""
            notes = [humanize.count(row.clashes, "clash", "clashes")] if row.clashes else []
            notes += [f"{row.same} already there"] if row.same else []
            extra = f"; {', '.join(notes)}" if notes else ""
            print(f"  {row.source.name:<{width}}  {amount}  -> {_rel(workspace, row.target or '')}{alias}{extra}")
        if empty:
            print(f"  (and {humanize.count(len(empty), 'empty model folder')})")
    clashes = [i for i in plan.items if i.action == CLASH]
    if clashes:
        print("Clashes (same name, different content): both are kept, the old one where it is:")
        for item in clashes:
            print(f"  {_rel(workspace, item.source)}: {item.reason}")
    same = [i for i in plan.items if i.action == SAME]
    if same:
        print(f"Already in the workspace with the same content ({_total(same)}): the old copies stay where they "
              "are; delete them to free the space")
    skipped = [i for i in plan.items if i.action == SKIP and not (i.kind == MODELS and i.is_dir)]
    links = [i for i in skipped if i.reason.startswith("a link to")]
    for item in skipped:
        if item not in links and item.kind != CUSTOM_NODES:
            print(f"  not carried: {_rel(workspace, item.source)}: {item.reason}")
    if links:
        print(f"  not carried: {humanize.count(len(links), 'link')} (not files), left where they are, e.g. "
              f"{_rel(workspace, links[0].source)}: {links[0].reason}")
    if plan.nodes:
        print(f"Custom nodes in {source.custom_nodes}:")
        width = max(len(node.name) for node in plan.nodes)
        for node in plan.nodes:
            reqs = f" ({humanize.count(len(node.requirements), 'requirement')})" if node.requirements else ""
            if node.action == "move":
                print(f"  {node.name:<{width}}  -> custom_nodes{reqs}: {node.reason or 'moved in'}")
            else:
                print(f"  {node.name:<{width}}  {node.reason}{reqs}")
    for kind, title in ((USER, "User settings and saved workflows"), (INPUT, "Inputs"), (OUTPUT, "Outputs")):
        old = getattr(source, kind)
        if old is None:
            continue
        items = [i for i in plan.items if i.kind == kind and i.source.is_relative_to(old) and i.action != SKIP]
        moving = [i for i in items if i.action == "move"]
        line = f"{title}: {old} -> {_rel(workspace, getattr(workspace, kind))}: {_total(moving)} to move"
        if kind == USER:
            line += f" ({humanize.count(plan.workflows, 'saved workflow')} among them)"
        kept = len(items) - len(moving)
        print(line + (f", {kept} left where they are (see above)" if kept else ""))


# --- results ----------------------------------------------------------------------------------


def _print_adopt(workspace: Workspace, plan: Plan, done: actions.Adopted) -> None:
    for adoption in done.already:
        print(f"{adoption.source} is adopted already (since {adoption.id}); nothing changed")
    if not done.added:
        if not done.already:
            print("nothing to adopt: no model files in the old model folders")
        return
    for adoption in done.added:
        dirs = [d for ds in adoption.folders.values() for d in ds]
        print(f"adopted {humanize.count(len(dirs), 'model folder')} of {adoption.source}; the files stay where "
              "they are")
        for name, folder_dirs in adoption.folders.items():
            for directory in folder_dirs:
                print(f"  {name:<18} {directory}")
    print(f"wrote {done.config}; the workspace stays every folder's first directory")
    print("ComfyUI with Launchpad sees them within seconds, any other at its next start.")
    print(f"move them in later: {command('--move')}; undo: {command('--undo')} "
          f"(or remove the entry from {_rel(workspace, workspace.config / 'adopted_model_dirs.json')})")


def _print_move(workspace: Workspace, moved: actions.Moved) -> None:
    if moved.resumed:
        print(f"continued the interrupted migration {moved.journal}")
    files = sum(i["files"] for i in moved.moved)
    size = sum(i["bytes"] for i in moved.moved)
    print(f"moved {_amount(files, size)} into {workspace.root} in {humanize.count(len(moved.moved), 'rename')}; "
          "nothing was copied")
    for item in moved.kept:
        print(f"  not moved: {item['reason']}")
    left = [i for i in moved.left if i["action"] in (CLASH, SAME)]
    if left:
        print(f"{humanize.count(len(left), 'entry', 'entries')} stay in the old tree (clashes and copies already "
              "in the workspace; `launchpad migrate` lists them)")
    if any(i["kind"] == CUSTOM_NODES for i in moved.moved):
        print("custom nodes moved: restart the pod, and their requirements are installed as it starts")
    for adoption_id in moved.unadopted:
        print(f"the adoption {adoption_id} is replaced by this move and was removed from extra_model_paths.yaml")
    print(f"journal: {_rel(workspace, workspace.config / 'migrations' / (moved.journal + '.jsonl'))}; "
          f"undo: {command('--undo')}")


def _print_undo(undone: actions.Undone) -> None:
    if undone.kind == "adopt":
        print(f"undid the adoption {undone.journal}: its folders are out of extra_model_paths.yaml again")
        return
    print(f"undid the move {undone.journal}: {humanize.count(len(undone.put_back), 'entry', 'entries')} put back "
          "where they were")
    for item in undone.kept:
        print(f"  not put back: {item['reason']}")
    if undone.kept:
        print(f"fix what is named above, then run {command('--undo')} again")
    for adoption_id in undone.readopted:
        print(f"the adoption {adoption_id} that the move replaced is back in extra_model_paths.yaml")

