"""`launchpad lock` and `launchpad provision`: a models lock from a terminal, and a workspace made to match one.

``lock`` writes the lock (docs/lockfile.md) of presets, a workflow or what is installed, to
stdout or ``-o FILE``; warnings (a size or hash nobody knows, a model without a source) go to
stderr. ``provision LOCK`` downloads what the workspace lacks, once per volume however many
run at once, and exits 0 when the workspace matches; ``--json`` prints one JSON line per event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from .. import humanize
from ..config import Settings
from ..documents import DocumentError, load_json
from ..errors import InvalidInput
from ..events import DOWNLOAD
from ..files import atomic_write_text
from ..lock import read
from ..lock.apply import CONFLICT, MISSING, provision
from ..model_roots import ModelRoots
from ..workspace import Workspace
from .exits import FAILED, INTERRUPTED, OK
from .install import Display, _on_signals
from .load import load


def cmd_lock(args: argparse.Namespace, settings: Settings) -> int:
    from ..lock import build
    from ..model_library import ModelLibrary
    from ..workflow_models import analyze

    if not (args.preset or args.workflow or args.installed):
        raise InvalidInput("name what to lock: --preset ID..., --workflow FILE or --installed")
    workspace = Workspace(settings.workspace)
    roots = ModelRoots.for_workspace(workspace)
    catalog = load(settings)
    wanted = build.from_presets(catalog, args.preset or [])
    notes: list[str] = []
    workflows = []
    for path in args.workflow or []:
        found, more = build.from_analysis(analyze(_workflow(path), catalog, roots, settings.allowed_url_hosts))
        wanted += found
        notes += more
        workflows.append(path.stem)
    if args.installed:
        listing = ModelLibrary(lambda: roots).scan()
        found, more = build.from_installed(listing, catalog, build.journal_jobs(workspace.state))
        wanted += found
        notes += more
    built = asyncio.run(build.build(wanted, settings, roots, presets=args.preset or [], workflows=workflows,
                                    installed=args.installed, warnings=notes))
    for note in built.warnings:
        print(f"warning: {note}", file=sys.stderr)
    if args.json:
        json.dump(built.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    if args.output is not None:
        atomic_write_text(args.output, built.lock.to_json())
        files = built.lock.files
        total = sum(f.size or 0 for f in files)
        print(f"wrote {args.output}: {humanize.count(len(files), 'file')}, {humanize.size(total)}", file=sys.stderr)
    elif not args.json:
        sys.stdout.write(built.lock.to_json())
    return OK


def _workflow(path: Path) -> object:
    try:
        return load_json(path.read_bytes())
    except OSError as exc:
        raise InvalidInput(f"cannot read the workflow {path}: {exc.strerror}") from None
    except DocumentError as exc:
        raise InvalidInput(f"the workflow {path} is {exc}; save it from ComfyUI as JSON") from None


def cmd_provision(args: argparse.Namespace, settings: Settings) -> int:
    lock = read(args.lock)
    return asyncio.run(_provision(args, settings, lock))


async def _provision(args: argparse.Namespace, settings: Settings, lock: object) -> int:
    display = Display(sys.stdout, tty=sys.stdout.isatty())

    def emit(event: dict[str, object]) -> None:
        if args.json:
            sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
            sys.stdout.flush()
        elif event["event"] == "download":
            display(DOWNLOAD, event["job"])  # type: ignore[arg-type]
        elif event["event"] == MISSING:
            size = "size unknown" if event["size"] is None else humanize.size(event["size"])  # type: ignore[arg-type]
            print(f"missing {event['key']}  ({size})")
        elif event["event"] == CONFLICT:
            print(f"CONFLICT {event['key']}: {event['detail']}")

    def jobs(ids: set[str]) -> None:
        display.job_ids = ids

    stop = asyncio.Event()
    restore = _on_signals(stop.set)
    try:
        summary = await provision(lock, settings, name=args.lock.name, verify=args.verify, emit=emit,  # type: ignore[arg-type]
                                  on_jobs=jobs, stop=stop)
    finally:
        restore()
        display.close()
    if not args.json:
        print(summary.line())
        for problem in summary.conflicts:
            print(f"  conflict: {problem}", file=sys.stderr)
        for failure in summary.failed:
            error = failure.get("error")
            message = error.get("message") if isinstance(error, dict) else None
            print(f"  failed: {failure['key']}: {message or failure['state']}", file=sys.stderr)
        if summary.interrupted:
            print("stopped: partial files are kept; run the same command again to resume", file=sys.stderr)
    if summary.interrupted:
        return INTERRUPTED
    return OK if summary.complete else FAILED


def add_parsers(sub: argparse._SubParsersAction, global_options: argparse.ArgumentParser) -> None:
    lock = sub.add_parser(
        "lock", parents=[global_options],
        help="write a models lock (files, sources pinned to commits, sizes, sha256) of presets, a workflow or "
        "what is installed",
    )
    lock.add_argument("--preset", nargs="+", metavar="ID", help="the files of these presets")
    lock.add_argument("--workflow", nargs="+", type=Path, metavar="FILE",
                      help="the models these workflows need (UI or API format JSON)")
    lock.add_argument("--installed", action="store_true", help="every installed model file whose source is known")
    lock.add_argument("-o", "--output", type=Path, metavar="FILE", help="write the lock here (default: stdout)")
    provision_parser = sub.add_parser(
        "provision", parents=[global_options],
        help="make the workspace match a models lock: check what is there, download what is missing (idempotent)",
    )
    provision_parser.add_argument("lock", type=Path, metavar="LOCK", help="a lock file written by `launchpad lock`")
    provision_parser.add_argument("--verify", action="store_true",
                                  help="also check the sha256 of files already present (reads them whole)")
