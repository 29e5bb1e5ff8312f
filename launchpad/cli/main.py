"""`launchpad`: the command line the container start script and people use.

Every command takes ``--workspace DIR`` (default: WORKSPACE_ROOT, else /workspace) and
``--json`` for scripts, before or after the command's name. Exit codes are in
cli/exits.py; errors are one readable line on stderr that says what to do, never a
traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from .. import __version__, humanize, manager_config, model_paths
from ..catalog import Catalog, Preset
from ..catalog.rows import comfyui_note, sort_rows
from ..catalog.sizes import Figure
from ..catalog.state import FileState, preset_state
from ..catalog.verified import VerifiedFiles
from ..config import Settings
from ..errors import InvalidSetting, LaunchpadError
from ..migrate.status import doctor_check as old_layout_check
from ..model_roots import ModelRoots
from ..workspace import Workspace, default_root, doctor
from .catalog import add_parsers as add_catalog_parsers
from .catalog import cmd_catalog
from .exits import CATALOG, INTERRUPTED, OK, USAGE, WORKSPACE, status_for
from .install import add_parsers as add_install_parsers
from .install import cmd_install, cmd_uninstall
from .load import load
from .lock import add_parsers as add_lock_parsers
from .lock import cmd_lock, cmd_provision
from .migrate import add_parser as add_migrate_parser
from .migrate import cmd_migrate
from .workflow import add_parser as add_workflow_parser
from .workflow import cmd_workflow

Handler = Callable[[argparse.Namespace, Settings], int]


def _emit_json(data: object) -> None:
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _warn_catalog(catalog: Catalog) -> int:
    for warning in catalog.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return CATALOG if catalog.warnings else OK


def _size_text(catalog: Catalog, preset: Preset) -> str:
    """'18.2 GB', '~18.2 GB' when estimated, '?' when nothing is known."""
    size, estimated = catalog.size(preset)
    if size is None:
        return "?"
    return ("~" if estimated else "") + humanize.size(size)


BASES = {
    "source": "as the source says",
    "listed": "the preset's estimate",
    "templates": "from the templates index",
    "share": "a share of a templates index total",
}


def _figure_text(figure: Figure | None, folder: str) -> str:
    """'4 B', '~1.4 GB from the templates index', 'size unknown'."""
    if figure is None:
        return "size unknown"
    if not figure.estimated:
        return humanize.size(figure.bytes)
    basis = BASES.get(figure.basis, f"typical for {folder}")
    return f"~{humanize.size(figure.bytes)} {basis}"


def _vram_text(catalog: Catalog, preset: Preset) -> str:
    vram, estimated = catalog.vram(preset)
    return "?" if vram is None else f"{'~' if estimated else ''}{vram:g} GB"


def _origin_line(catalog: Catalog) -> str:
    """Where the catalog's presets come from, in one line."""
    sources = catalog.sources
    curated = sources.get("curated")
    parts = [f"{curated['presets'] if isinstance(curated, dict) else 0} curated"]
    found = sources.get("templates")
    if isinstance(found, dict):
        package = f"{found['package']} {found['version']}" if found.get("package") else found["dir"]
        folded = f", {found['folded']} folded into presets with the same files" if found["folded"] else ""
        parts.append(f"{found['presets']} from the templates of {package}{folded}")
    else:
        parts.append("no ComfyUI templates package found")
    user = sources.get("user")
    if isinstance(user, dict) and user["files"]:
        parts.append(f"{user['presets']} of yours ({', '.join(user['files'])})")
    return "catalog: " + "; ".join(parts)


# --- commands -------------------------------------------------------------------------


def cmd_presets(args: argparse.Namespace, settings: Settings) -> int:
    catalog = load(settings)
    workspace = Workspace(settings.workspace)
    roots = ModelRoots.for_workspace(workspace)
    checks = VerifiedFiles(workspace.state).load()
    if args.preset_command == "show":
        preset = catalog.get(args.id)
        state, files = preset_state(preset, roots, checks)
        note = comfyui_note(preset, None)
        if args.json:
            file_rows = [_file_row(catalog, item) for item in files]
            _emit_json({**catalog.summary(preset), "state": state, "files": file_rows, "comfyui_note": note})
            return OK
        print(f"{preset.id}: {preset.name}  [{preset.category}, {state}]")
        if preset.description:
            print(f"  {preset.description}")
        unsized = sum(f.size is None for f in preset.files)
        size = _size_text(catalog, preset)
        if unsized and size != "?":
            size += f" (estimated: {humanize.count(unsized, 'file')} of {len(preset.files)} without an exact size)"
        elif unsized:
            size = f"unknown ({humanize.count(unsized, 'file')} of {len(preset.files)} without a listed size)"
        print(f"  total size: {size}, VRAM: {_vram_text(catalog, preset)}")
        if note:
            print(f"  ComfyUI: {note}")
        if preset.template:
            print(f"  from the official template {preset.template}")
        served = [w for w in preset.workflows if w != preset.template]
        if served:
            print(f"  serves the templates: {', '.join(served)}")
        if preset.custom_nodes:
            print(f"  custom nodes: {', '.join(preset.custom_nodes)}")
        for item in files:
            size = _figure_text(catalog.figures.get(item.file.key), item.file.folder)
            print(f"  - {item.state:<10} {item.file.key}  ({size})  {item.file.source.url}")
        return OK

    presets = catalog.search(category=args.category, text=args.search)
    rows = []
    for preset in presets:
        state, _ = preset_state(preset, roots, checks)
        if args.installed and state != "installed":
            continue
        rows.append((preset, state))
    if args.sort:
        order = {row["id"]: i for i, row in enumerate(sort_rows([catalog.summary(p) for p, _ in rows], args.sort))}
        rows.sort(key=lambda row: order[row[0].id])
    if args.json:
        _emit_json(
            {
                "presets": [{**catalog.summary(p), "state": state} for p, state in rows],
                "categories": catalog.categories(),
                "warnings": [w.to_dict() for w in catalog.warnings],
                "sources": catalog.sources,
            }
        )
    elif not rows:
        # stdout holds only the table, so an empty result leaves it empty (no header over nothing)
        print(_no_presets(args), file=sys.stderr)
    else:
        width = max(len(p.id) for p, _ in rows)
        print(f"{'ID':<{width}}  {'CATEGORY':<8}  {'SIZE':>10}  {'VRAM':>7}  {'COMFYUI':>8}  {'STATE':<9}  NAME")
        for preset, state in rows:
            needs = f"{preset.min_comfyui}+" if preset.min_comfyui else "-"
            print(
                f"{preset.id:<{width}}  {preset.category:<8}  {_size_text(catalog, preset):>10}  "
                f"{_vram_text(catalog, preset):>7}  {needs:>8}  {state:<9}  {preset.name}"
            )
        print(humanize.count(len(rows), "preset"), file=sys.stderr)
        print(_origin_line(catalog), file=sys.stderr)
        if any(catalog.size(p)[1] or catalog.vram(p)[1] for p, _ in rows):
            print("~: estimated (see `launchpad presets show ID`)", file=sys.stderr)
    return _warn_catalog(catalog)


def _file_row(catalog: Catalog, item: FileState) -> dict[str, object]:
    figure = catalog.figures.get(item.file.key)
    return {
        **item.to_dict(),
        "expected_size": figure.bytes if figure else None,
        "size_estimated": figure.estimated if figure else True,
        "size_basis": figure.basis if figure else None,
    }


def _no_presets(args: argparse.Namespace) -> str:
    """Why `presets` listed nothing, naming the filters that left nothing."""
    filters = [f"--{name} {getattr(args, name)!r}" for name in ("category", "search") if getattr(args, name)]
    if filters:
        what = "installed presets" if args.installed else "presets"
        return f"no {what} match {' '.join(filters)} (`launchpad presets` lists them all)"
    if args.installed:
        return "no presets are installed yet (`launchpad install ID` downloads one)"
    return "no presets in the catalog"  # any warnings about files that did not load follow


def cmd_paths(args: argparse.Namespace, settings: Settings) -> int:
    workspace = Workspace(settings.workspace)
    result = model_paths.write(workspace, custom_nodes=args.custom_nodes)
    manager = manager_config.set_network_mode(workspace.user, login=settings.enable_auth) if args.manager else None
    if args.json:
        _emit_json(
            {
                "config": str(result.config),
                "changed": result.changed,
                "created_dirs": [str(p) for p in result.created_dirs],
                "user_configs": [str(p) for p in result.user_configs],
                "rejected_user_configs": {str(p): msgs for p, msgs in result.rejected_user_configs.items()},
                "manager": manager,
            }
        )
    else:
        print(f"{'wrote' if result.changed else 'unchanged'} {result.config}")
        if result.created_dirs:
            created = humanize.count(len(result.created_dirs), "directory", "directories")
            print(f"created {created} under {settings.workspace}")
        for path in result.user_configs:
            print(f"also passing your {path} to ComfyUI")
        if manager:
            print(manager)
    for path, messages in result.rejected_user_configs.items():
        print(
            f"warning: not passing {path} to ComfyUI, it would stop ComfyUI from starting: {'; '.join(messages)}",
            file=sys.stderr,
        )
    return OK


def cmd_comfy_args(args: argparse.Namespace, settings: Settings) -> int:
    workspace = Workspace(settings.workspace)
    port = args.port or settings.comfyui_port
    database = model_paths.database_path(workspace, settings.comfyui_database_dir, port)
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidSetting(
            f"cannot create {database.parent} for ComfyUI's database ({exc.strerror}): "
            "set COMFYUI_DATABASE_DIR to a writable directory on local disk"
        ) from None
    flags = model_paths.comfy_args(workspace, database)
    if args.json:
        _emit_json(flags)
    elif args.lines:
        print("\n".join(flags))
    else:
        print(model_paths.shell_line(flags))
    return OK


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    report = doctor(Workspace(settings.workspace))
    if report.root.is_dir():
        report.checks.append(old_layout_check(Workspace(settings.workspace)))
    if args.json:
        _emit_json(report.to_dict())
    else:
        print(f"workspace {report.root}")
        for check in report.checks:
            mark = "ok  " if check.ok else ("FAIL" if check.severity == "error" else "warn")
            print(f"  [{mark}] {check.name}: {check.detail}")
            if check.fix and not check.ok:
                print(f"         fix: {check.fix}")
        print("ready" if report.ok else "not ready: fix the failures above")
    return OK if report.ok else WORKSPACE


def cmd_check_settings(args: argparse.Namespace, settings: Settings) -> int:
    """Every setting was parsed before we got here (an invalid one exits USAGE with its message)."""
    login = "required" if settings.enable_auth else "off"
    if args.json:
        _emit_json({"ok": True, "login": login})
    else:
        print(f"settings ok (login {login})")
    return OK


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    if args.workspace is None and not settings.workspace_configured:
        settings = replace(settings, workspace=Path("workspace").absolute())
    from ...server_routes.standalone import serve  # the HTTP layer only when serving

    serve(settings, host=args.host, port=args.port)
    return OK


# --- parser ---------------------------------------------------------------------------

COMMANDS: dict[str, Handler] = {
    "presets": cmd_presets,
    "paths": cmd_paths,
    "comfy-args": cmd_comfy_args,
    "doctor": cmd_doctor,
    "check-settings": cmd_check_settings,
    "serve": cmd_serve,
    "install": cmd_install,
    "uninstall": cmd_uninstall,
    "catalog": cmd_catalog,
    "migrate": cmd_migrate,
    "lock": cmd_lock,
    "provision": cmd_provision,
    "workflow": cmd_workflow,
}


def _global_options(*, after_command: bool) -> argparse.ArgumentParser:
    """--workspace and --json, which every command takes before or after its name.

    A subparser copies every attribute of its namespace over the top-level one, defaults
    included, so a plain copy after the command would turn `launchpad --workspace X doctor`
    back into the default workspace. The copy after the command defaults to SUPPRESS: it sets
    the attribute only when given there, and the top-level value (or default) survives.
    """
    unset: dict[str, Any] = {"default": argparse.SUPPRESS} if after_command else {}
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--workspace", metavar="DIR", type=Path, help="workspace root (default: WORKSPACE_ROOT or /workspace)",
        **unset,
    )
    options.add_argument("--json", action="store_true", help="machine-readable output", **unset)
    return options


def build_parser() -> argparse.ArgumentParser:
    after = _global_options(after_command=True)
    parser = argparse.ArgumentParser(
        prog="launchpad", description=__doc__.split("\n")[0], parents=[_global_options(after_command=False)]
    )
    parser.add_argument("--version", action="version", version=f"launchpad {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    presets = sub.add_parser("presets", parents=[after], help="list presets, or `presets show ID`")
    presets.add_argument("preset_command", nargs="?", choices=["show"], help="show one preset in full")
    presets.add_argument("id", nargs="?", help="preset id for `show`")
    presets.add_argument("--category", help="only this category (image, video, audio, upscale, ...)")
    presets.add_argument("--search", help="words that must appear in id, name, description, tags or workflows")
    presets.add_argument("--installed", action="store_true", help="only presets whose files are all on disk")
    presets.add_argument("--sort", choices=["popularity", "name", "size"],
                         help="popularity: most used templates first; name; size: smallest first")

    paths = sub.add_parser(
        "paths", parents=[after], help="create the workspace layout and write extra_model_paths.yaml"
    )
    paths.add_argument("--custom-nodes", action="store_true", help="also add <workspace>/custom_nodes to ComfyUI")
    paths.add_argument(
        "--manager", action="store_true",
        help="ComfyUI-Manager runs as a package: its network_mode is personal_cloud only with ENABLE_AUTH",
    )

    comfy = sub.add_parser("comfy-args", parents=[after], help="print the ComfyUI flags that use the workspace")
    comfy.add_argument("--lines", action="store_true", help="one flag or value per line (for mapfile)")
    comfy.add_argument(
        "--port", type=int, help="the port ComfyUI will listen on (default $COMFYUI_PORT or 8188): names its database"
    )

    sub.add_parser("doctor", parents=[after], help="check the workspace volume: mounted, writable, free space")
    sub.add_parser(
        "check-settings", parents=[after], help="check every environment setting; exit 2 naming the first bad one"
    )

    serve = sub.add_parser(
        "serve", parents=[after], help="run the API and dashboard without ComfyUI (default workspace ./workspace)"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8189, help="port to listen on (default 8189)")
    add_install_parsers(sub, after)
    add_catalog_parsers(sub, after)
    add_migrate_parser(sub, after)
    add_lock_parsers(sub, after)
    add_workflow_parser(sub, after)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    if args.workspace is not None:
        return replace(settings, workspace=args.workspace.expanduser().absolute())
    return replace(settings, workspace=default_root(settings.workspace))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return USAGE
    if args.command == "presets" and args.preset_command == "show" and not args.id:
        parser.error("presets show needs a preset id")
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = _settings(args)
        return COMMANDS[args.command](args, settings)
    except LaunchpadError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return status_for(exc.code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:  # `launchpad presets | head`: the reader left, which is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return OK


if __name__ == "__main__":
    sys.exit(main())
