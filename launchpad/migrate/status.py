"""Where a workspace stands with its old trees: for the dashboard and `launchpad doctor`.

Cheap: it looks for the layouts (a few directory checks) and reads the adopted record and
the journals' headers; it walks no tree and hashes nothing.
"""

from __future__ import annotations

import shlex

from ..workspace import Check, Workspace
from . import adopted, journal
from .layouts import Source, detect

NEW, ADOPTED, MOVED = "not migrated", "adopted", "moved"


def command(*args: str) -> str:
    return shlex.join(["launchpad", "migrate", *args])


def found(workspace: Workspace) -> list[tuple[Source, str]]:
    """Every old tree on the volume and its state: not migrated, adopted or moved."""
    adopted_roots = {a.source for a in adopted.load(workspace.config)}
    moved_roots = {
        str(source.get("root"))
        for record in journal.history(workspace.config)
        if record.kind == "move" and record.state == journal.DONE
        for source in record.header.get("sources", [])
    }
    states = []
    for source in detect(workspace.root):
        root = str(source.root)
        states.append((source, ADOPTED if root in adopted_roots else MOVED if root in moved_roots else NEW))
    return states


def overview(workspace: Workspace) -> dict[str, object]:
    """The old trees found and adopted, what to run for each, and ``notes``: what the Models view says
    of them, each a sentence and its command. Blocking (a few stats and small reads)."""
    last = journal.latest(workspace.config)
    adoptions = adopted.load(workspace.config)
    states = found(workspace)
    notes = [
        {"text": f"Adopted from {a.source}: {', '.join(a.folders)}, read where they are. To move them into the "
         "workspace, stop the old template's pods, then run in a terminal:", "command": command("--move", a.source)}
        for a in adoptions
    ]
    notes += [
        {"text": f"Found {source.title} at {source.root}. To see what would go where (it changes nothing), run:",
         "command": command(str(source.root))}
        for source, state in states if state == NEW
    ]
    return {
        "adopted": [{**a.to_dict(), "move": command("--move", a.source)} for a in adoptions],
        "found": [
            {**source.to_dict(), "state": state, "plan": command(str(source.root)),
             "move": command("--move", str(source.root))}
            for source, state in states
        ],
        "notes": notes,
        "last": None if last is None else {"id": last.id, "kind": last.kind, "state": last.state,
                                           "undo": command("--undo")},
    }


def doctor_check(workspace: Workspace) -> Check:
    """`launchpad doctor`'s line about old layouts: a warning naming the command while one waits."""
    states = found(workspace)
    waiting = [source for source, state in states if state == NEW]
    if waiting:
        names = ", ".join(f"{source.title} at {source.root}" for source in waiting)
        return Check(
            "old_layout", False, f"found {names}: not migrated into the workspace yet",
            f"Run `{command(str(waiting[0].root))}` to see the plan (it changes nothing), then add --adopt to use "
            "the models where they are, or --move to move everything in (renames, nothing copied); "
            "`launchpad migrate --undo` reverses either.",
            severity="warning",
        )
    adopted_here = [source for source, state in states if state == ADOPTED]
    if adopted_here:
        return Check("old_layout", True, f"model folders adopted from {', '.join(str(s.root) for s in adopted_here)} "
                     f"(`{command('--move', str(adopted_here[0].root))}` moves them into the workspace)")
    return Check("old_layout", True, "no old layout waiting to be migrated")
