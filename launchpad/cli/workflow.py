"""`launchpad workflow FILE`: which models a workflow needs and where each can come from.

The same analysis as the Workflow view (workflow_models.py over the resolver chain): each model's
state, its best source with how sure the match is, and the other candidates. The lookups that
could tell more (Civitai by hash, the Hub listings) are waited for, up to ``--wait`` seconds.
``--install`` downloads every sure one through the download manager, as the view's button does;
``--accept KEY`` takes a name match for that model too. ``--refresh`` first fetches
ComfyUI-Manager's newest model list and lists the known Hub repositories again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from .. import humanize
from ..catalog import Catalog
from ..config import Settings
from ..documents import DocumentError, load_json
from ..downloads.jobs import JobState
from ..errors import InvalidInput
from ..events import EventBus
from ..model_roots import ModelRoots
from ..resolve.chain import Known, ModelResolver
from ..workflow_models import NeededModel, analyze, choose, group_label, summarize
from ..workspace import Workspace
from .exits import FAILED, INTERRUPTED, OK
from .install import Display, _on_signals
from .load import load


def _workflow(path: Path) -> object:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    try:
        return load_json(raw)
    except DocumentError as exc:
        raise InvalidInput(f"{path} is not a workflow file: {exc}") from None


def cmd_workflow(args: argparse.Namespace, settings: Settings) -> int:
    workflow = _workflow(args.file)
    return asyncio.run(_run(args, settings, workflow))


async def _run(args: argparse.Namespace, settings: Settings, workflow: object) -> int:
    workspace = Workspace(settings.workspace)
    catalog = load(settings)
    roots = ModelRoots.for_workspace(workspace)
    resolver = ModelResolver(settings, workspace.state, custom_nodes=lambda: [workspace.root / "custom_nodes"])
    try:
        if args.refresh:
            report = await resolver.refresh(catalog)
            if report.get("manager_error"):
                print(f"warning: ComfyUI-Manager's list was not refreshed from {report['manager_url']}: "
                      f"{report['manager_error']}", file=sys.stderr)
        models, known = await _analysed(resolver, workflow, catalog, roots, settings)
        hashes, repos = resolver.pending(known, _unsure(models))
        if hashes or repos:
            if not args.json:
                print("looking the unknown models up (Civitai by hash, Hugging Face listings) ...", file=sys.stderr)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(resolver.look_up(hashes, repos, []), args.wait)
            models, known = await _analysed(resolver, workflow, catalog, roots, settings)
    finally:
        resolver.close()
    _accept(models, args.accept or [])
    if not args.install:
        name = args.file.name
        _report(models, known, args.json, summarize(models, name, catalog.comfyui_for(name)))
        return OK
    return await _install(models, args, settings, catalog, roots)


async def _analysed(
    resolver: ModelResolver, workflow: object, catalog: Catalog, roots: ModelRoots, settings: Settings
) -> tuple[list[NeededModel], Known]:
    def run() -> tuple[list[NeededModel], Known]:
        known = resolver.known(catalog)
        return analyze(workflow, catalog, roots, settings.allowed_url_hosts, known), known

    return await asyncio.to_thread(run)


def _unsure(models: list[NeededModel]) -> list:
    return [m.wanted for m in models if m.wanted and m.state != "present" and not (m.choice and m.choice.confident)]


def _accept(models: list[NeededModel], keys: list[str]) -> None:
    by_key = {m.key: m for m in models}
    unknown = [key for key in keys if key not in by_key]
    if unknown:
        raise InvalidInput(f"--accept {unknown[0]}: the workflow does not need it (`launchpad workflow FILE` "
                           "lists its models by folder/name)")
    for key in keys:
        model = by_key[key]
        if model.state == "missing" and model.choice is not None:
            choose(model, model.choice, confirmed=True)


def _report(models: list[NeededModel], known: Known, as_json: bool, summary: dict[str, Any]) -> None:
    if as_json:
        json.dump({"models": [m.to_dict() for m in models], "summary": summary,
                   "sources": known.sources()}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    for model in models:
        print(f"{model.state:<8} {model.key}  ({_size(model)})")
        if model.state == "present":
            continue
        if model.choice is None:
            print(f"         {model.reason}")
            continue
        print(f"         from {model.choice.label}: {model.choice.source.url}")
        if model.reason:
            print(f"         {model.reason}")
        if model.confirm:
            print(f"         --accept {model.key} takes it")
        for other in model.candidates[1:4]:
            print(f"         or {other.label}: {other.source.url}")
    line = (f"{humanize.count(summary['needed'], 'model')}: {summary['present']} present, "
            f"{summary['missing']} missing, {summary['unknown']} unknown")
    if summary["installable"]:
        line += f"; --install downloads {summary['installable']} ({humanize.size(summary['bytes_missing'])})"
    if summary["comfyui_need"]:
        line += f"; {summary['comfyui_need']}"
    print(line, file=sys.stderr)


def _size(model: NeededModel) -> str:
    if model.size is None:
        return "size unknown"
    return ("~" if model.size_estimated else "") + humanize.size(model.size)


async def _install(
    models: list[NeededModel], args: argparse.Namespace, settings: Settings, catalog: Catalog, roots: ModelRoots
) -> int:
    from ..downloads.manager import DownloadManager

    workspace = Workspace(settings.workspace)
    await asyncio.to_thread(workspace.ensure)
    todo = [m for m in models if m.state == "missing" and m.installable and m.file is not None and not m.optional]
    for model in models:
        if model.state != "present" and not model.installable and not model.optional:
            print(f"skipped {model.key}: {model.reason}", file=sys.stderr)
    if not todo:
        print("nothing to download", file=sys.stderr)
        return OK
    bus = EventBus()
    display = Display(sys.stdout, tty=sys.stdout.isatty() and not args.json)
    if not args.json:
        bus.subscribe(display)
    manager = DownloadManager(settings, workspace, bus, lambda: catalog, lambda: roots)
    stop = asyncio.Event()
    restore = _on_signals(stop.set)
    await manager.start(resume_jobs=False)
    interrupted, job_ids = False, []
    try:
        files = [m.file for m in todo if m.file is not None]
        result = await manager.install_files(files, group_label(args.file.name), guarded=True)
        job_ids = [job["id"] for job in result["jobs"]]
        display.job_ids = set(job_ids)
        interrupted = not await manager.wait_or_stop(job_ids, stop)
    finally:
        await manager.close()
        restore()
        display.close()
    jobs = [j for j in (await manager.snapshot())["jobs"] if j["id"] in set(job_ids)]
    if args.json:
        json.dump({"jobs": jobs, "interrupted": interrupted}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    if interrupted:
        print("stopping: partial files are kept; run the same command again to resume", file=sys.stderr)
        return INTERRUPTED
    return FAILED if any(j["state"] == JobState.FAILED for j in jobs) else OK


def add_parser(sub: argparse._SubParsersAction, global_options: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "workflow", parents=[global_options],
        help="the models a workflow needs and where each comes from; --install downloads the missing ones",
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="a workflow (.json, UI or API format)")
    parser.add_argument("--install", action="store_true", help="download every missing model whose source is sure")
    parser.add_argument("--accept", action="append", metavar="KEY",
                        help="also take the name match offered for this model (folder/name); repeatable")
    parser.add_argument("--refresh", action="store_true",
                        help="first fetch ComfyUI-Manager's newest model list and list the known Hub repositories")
    parser.add_argument("--wait", type=float, default=60.0, metavar="SECONDS",
                        help="how long to wait for Civitai and the Hub (default 60)")
