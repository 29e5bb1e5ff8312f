"""`launchpad install` and `launchpad uninstall`: the download manager from a terminal or a boot script.

``install`` shows one progress line per file (redrawn in place on a terminal, plain lines in
a log), Ctrl-C or SIGTERM stop it cleanly keeping partial files, so running the same command
again resumes. ``install --from-env`` installs PRESET_DOWNLOAD, which the container start
script runs in the background at boot.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import Callable
from typing import TextIO

from .. import humanize, leases
from ..catalog import Catalog
from ..catalog.rows import comfyui_note
from ..config import Settings
from ..downloads.jobs import JobState
from ..errors import InvalidInput
from ..events import DOWNLOAD, EventBus
from ..model_roots import ModelRoots
from ..workspace import Workspace
from .exits import FAILED, INTERRUPTED, NOT_FOUND, OK
from .load import load

PLAIN_INTERVAL = 10.0  # seconds between progress lines per file when not on a terminal
BAR = 24


def _line(job: dict) -> str:
    total, done = job.get("bytes_total"), job.get("bytes_done") or 0
    percent = f"{100 * done / total:3.0f}%" if total else "  ?%"
    sizes = f"{humanize.size(done)} / {humanize.size(total)}"
    speed = humanize.speed(job.get("speed")) if job.get("speed") is not None else "-"
    eta = f"ETA {humanize.duration(job.get('eta'))}" if job.get("eta") is not None else ""
    return f"{percent} {job['key']}  {sizes}  {speed}  {eta}".rstrip()


class Display:
    """Renders ``launchpad.download`` events: a live block on a terminal, plain lines otherwise."""

    def __init__(self, out: TextIO, tty: bool, job_ids: set[str] | None = None) -> None:
        self.out = out
        self.tty = tty
        self.job_ids = job_ids  # None until install() answered: show everything meanwhile
        self._live: dict[str, dict] = {}
        self._drawn = 0
        self._last_plain: dict[str, float] = {}
        self._started: dict[str, float] = {}

    def __call__(self, kind: str, job: dict) -> None:
        if kind != DOWNLOAD or (self.job_ids is not None and job["id"] not in self.job_ids):
            return
        state = job["state"]
        if state == JobState.DOWNLOADING:
            self._started.setdefault(job["id"], time.monotonic())
        if job.get("error") is None and job["active"]:
            if state == JobState.DOWNLOADING:
                self._progress(job)
            return
        self._live.pop(job["id"], None)
        self._final(job)

    def _progress(self, job: dict) -> None:
        if self.tty:
            self._live[job["id"]] = job
            self._redraw()
            return
        now = time.monotonic()
        if now - self._last_plain.get(job["id"], 0.0) >= PLAIN_INTERVAL:
            self._last_plain[job["id"]] = now
            self.out.write(_line(job) + (f"  ({job['message']})" if job.get("message") else "") + "\n")
            self.out.flush()

    def _final(self, job: dict) -> None:
        self._clear()
        key = job["key"]
        if job["state"] == JobState.DONE:
            started = self._started.get(job["id"])
            took = time.monotonic() - started if started else None
            how = job.get("message") or (f"in {humanize.duration(took)}" if took is not None else "")
            self.out.write(f"done    {key}  {humanize.size(job.get('bytes_total'))}  {how}".rstrip() + "\n")
        elif job["state"] == JobState.FAILED:
            error = job.get("error") or {}
            self.out.write(f"FAILED  {key}: {error.get('message', 'unknown error')}\n")
        else:
            self.out.write(f"{job['state']}  {key}\n")
        self._redraw()

    def _clear(self) -> None:
        if self.tty and self._drawn:
            self.out.write(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0

    def _redraw(self) -> None:
        if not self.tty:
            self.out.flush()
            return
        self._clear()
        for job in self._live.values():
            total, done = job.get("bytes_total"), job.get("bytes_done") or 0
            filled = int(BAR * done / total) if total else 0
            self.out.write(f"[{'#' * filled}{'.' * (BAR - filled)}] {_line(job)}\x1b[K\n")
        self._drawn = len(self._live)
        self.out.flush()

    def close(self) -> None:
        self._clear()
        self.out.flush()


async def _install(ids: list[str], settings: Settings, args: argparse.Namespace, catalog: Catalog) -> int:
    from ..downloads.manager import DownloadManager

    workspace = Workspace(settings.workspace)
    await asyncio.get_running_loop().run_in_executor(None, workspace.ensure)
    roots = ModelRoots.for_workspace(workspace)
    bus = EventBus()
    display = Display(sys.stdout, tty=sys.stdout.isatty() and not args.json)
    if not args.json:
        bus.subscribe(display)
    manager = DownloadManager(settings, workspace, bus, lambda: catalog, lambda: roots)
    stop = asyncio.Event()
    restore = _on_signals(stop.set)
    interrupted = False
    await manager.start(resume_jobs=False)
    for preset_id in dict.fromkeys(ids):  # said before the download; standalone, ComfyUI's version is unknown
        note = comfyui_note(catalog.get(preset_id), None) if preset_id in catalog else None
        if note:
            print(f"note: {preset_id}: {note}", file=sys.stderr)
    try:
        result = await manager.install(ids)
        job_ids = [job["id"] for job in result["jobs"]]
        display.job_ids = set(job_ids)
        if not args.json:
            for key in result["skipped"]:
                print(f"present {key}")
            if not job_ids:
                print(f"nothing to download: {', '.join(ids)} already installed")
        interrupted = not await manager.wait_or_stop(job_ids, stop)
    finally:
        if interrupted and not args.json:
            display.close()
            print("stopping: partial files are kept; run the same command again to resume", file=sys.stderr)
        await manager.close()
        restore()
        display.close()
    jobs = [j for j in (await manager.snapshot())["jobs"] if j["id"] in set(job_ids)]
    failed = [j for j in jobs if j["state"] == JobState.FAILED]
    if args.json:
        json.dump({"jobs": jobs, "skipped": result["skipped"], "interrupted": interrupted}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif failed:
        print(f"{len(failed)} of {humanize.count(len(jobs), 'file')} failed; "
              "fix the cause above and run the command again", file=sys.stderr)
    if interrupted:
        return INTERRUPTED
    return FAILED if failed else OK


def _on_signals(callback: Callable[[], None]) -> Callable[[], None]:
    """Route SIGINT and SIGTERM to ``callback`` (a clean stop); returns a function that undoes it."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # Windows, non-main threads
            loop.add_signal_handler(sig, callback)
            installed.append(sig)

    def restore() -> None:
        for sig in installed:
            loop.remove_signal_handler(sig)

    return restore


def cmd_install(args: argparse.Namespace, settings: Settings) -> int:
    ids = list(dict.fromkeys(args.ids))
    catalog = load(settings)
    status = OK
    if args.from_env:
        if not settings.preset_download:
            print("PRESET_DOWNLOAD is not set; nothing to install")
            return OK
        unknown = [pid for pid in settings.preset_download if pid not in catalog.presets]
        for pid in unknown:
            print(f"warning: PRESET_DOWNLOAD names unknown preset {pid!r}; skipping it "
                  "(`launchpad presets` lists the ids)", file=sys.stderr)
        ids += [pid for pid in settings.preset_download if pid not in unknown and pid not in ids]
        status = NOT_FOUND if unknown else OK
        if not ids:
            return status
    if not ids:
        raise InvalidInput("name at least one preset id (or use --from-env); `launchpad presets` lists them")
    result = asyncio.run(_install(ids, settings, args, catalog))
    return result if result != OK else status


def cmd_uninstall(args: argparse.Namespace, settings: Settings) -> int:
    from ..downloads.manager import DownloadManager

    catalog = load(settings)
    workspace = Workspace(settings.workspace)
    roots = ModelRoots.for_workspace(workspace)
    keys = [f.key for f in catalog.get(args.id).files]
    leases.refuse_if_served(workspace, keys, own=None, action="uninstall")  # a live pod serves them
    manager = DownloadManager(settings, workspace, EventBus(), lambda: catalog, lambda: roots)
    result = asyncio.run(manager.uninstall(args.id))
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return OK
    for path in result["deleted"]:
        print(f"deleted {path}")
    for kept in result["kept"]:
        print(f"kept    {kept['key']} (used by {', '.join(kept['used_by'])})")
    if not result["deleted"] and not result["kept"]:
        print(f"nothing to delete: no file of {args.id} is on disk")
    return OK


def add_parsers(sub: argparse._SubParsersAction, global_options: argparse.ArgumentParser) -> None:
    install = sub.add_parser(
        "install", parents=[global_options],
        help="download presets' model files (resumable; Ctrl-C keeps partial files)",
    )
    install.add_argument("ids", nargs="*", metavar="ID", help="preset ids (see `launchpad presets`)")
    install.add_argument("--from-env", action="store_true", help="also install the ids in PRESET_DOWNLOAD (boot)")
    uninstall = sub.add_parser(
        "uninstall", parents=[global_options], help="delete a preset's files (those no other installed preset uses)"
    )
    uninstall.add_argument("id", metavar="ID", help="preset id")
