"""`launchpad catalog sizes`: the maintainers' command that keeps the curated YAML's sizes true.

For every file of the curated presets (``presets/*.yaml``) it asks the Hub for the exact size
(one ``paths-info`` request per repository) and, for the files the Hub does not answer
(offline, or ``--offline``), works out an estimate from the installed templates index (the
rule in catalog/sizes.py, from scratch: earlier estimates are not reused). ``--write`` puts
them into the YAML, ``size:`` for exact ones (downloads are checked against it) and
``estimated_size:`` for estimates, editing only those lines so comments and layout stay.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import replace
from pathlib import Path

import yaml

from .. import humanize, model_folders
from ..catalog import loader
from ..catalog.schema import HFSource, ModelFile, ParsedFile
from ..config import Settings
from ..errors import CatalogError
from .exits import CHANGED, OK

ITEM = re.compile(r"^(?P<indent>\s*)- folder:\s*(?P<folder>.+?)\s*$")
FIELD = re.compile(r"^(?P<indent>\s*)(?P<key>[a-z_0-9]+):\s*(?P<value>.*?)\s*$")


def add_parsers(sub: argparse._SubParsersAction, global_options: argparse.ArgumentParser) -> None:
    catalog = sub.add_parser("catalog", parents=[global_options], help="maintain the curated catalog (presets/)")
    commands = catalog.add_subparsers(dest="catalog_command", metavar="COMMAND", required=True)
    found = commands.add_parser(
        "sizes", parents=[global_options],
        help="exact sizes from the Hub, else estimates from the templates index, for presets/*.yaml",
    )
    found.add_argument("--write", action="store_true", help="write them into the YAML files")
    found.add_argument("--offline", action="store_true", help="do not ask the Hub; estimates only")
    found.add_argument("--dir", type=Path, default=loader.CURATED_DIR, help="the catalog directory (default: presets/)")


def cmd_catalog(args: argparse.Namespace, settings: Settings) -> int:
    directory: Path = args.dir
    curated = loader.load_dir(directory, "curated")
    if curated.warnings:
        raise CatalogError(f"fix {directory} first: {curated.warnings[0]}")
    files = _unique_files(curated)
    exact: dict[str, int] = {f.key: f.size for f in files.values() if f.size is not None}
    asked = [f for f in files.values() if f.size is None and isinstance(f.source, HFSource)]
    if asked and not args.offline:
        from ..downloads.sources import hf_sizes

        answered = hf_sizes(settings, asked)
        exact.update({key: size for key, size in answered.items() if size is not None})
    base = loader.load_base(directory, settings.templates_dir)
    base.curated = _without_estimates(curated)
    figures = base.build(None, {}, None).with_exact_sizes(exact).figures
    wanted: dict[str, tuple[str, int]] = {}
    for key in files:
        if key in exact:
            wanted[key] = ("size", exact[key])
        elif key in figures:
            wanted[key] = ("estimated_size", figures[key].bytes)
    changes = [key for key, value in wanted.items() if _current(files[key]) != value]
    if args.json:
        json.dump({"files": {k: {"field": f, "bytes": b} for k, (f, b) in wanted.items()}, "changed": changes},
                  sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for key in sorted(wanted):
            name, value = wanted[key]
            mark = "*" if key in changes else " "
            kind = "exact" if name == "size" else f"estimate ({figures[key].basis})"
            print(f"{mark} {key}  {humanize.size(value)}  {kind}")
        print(f"{len(changes)} of {len(wanted)} files change", file=sys.stderr)
    if args.write and changes:
        for path in sorted(directory.glob("*.yaml")):
            _rewrite(path, wanted)
        after = loader.load_dir(directory, "curated")
        if after.warnings or {k: _current(f) for k, f in _unique_files(after).items() if k in wanted} != wanted:
            raise CatalogError(f"rewriting {directory} went wrong; check `git diff {directory}`")
        print(f"wrote {len(changes)} sizes into {directory}", file=sys.stderr)
    return CHANGED if changes and not args.write else OK


def _unique_files(parsed: ParsedFile) -> dict[str, ModelFile]:
    found: dict[str, ModelFile] = {}
    for preset in parsed.presets:
        for model_file in preset.files:
            found.setdefault(model_file.key, model_file)
    return found


def _current(model_file: ModelFile) -> tuple[str, int] | None:
    if model_file.size is not None:
        return ("size", model_file.size)
    if model_file.estimated_size is not None:
        return ("estimated_size", model_file.estimated_size)
    return None


def _without_estimates(parsed: ParsedFile) -> ParsedFile:
    presets = [replace(p, files=tuple(replace(f, estimated_size=None) for f in p.files)) for p in parsed.presets]
    return ParsedFile(presets=presets, warnings=list(parsed.warnings))


def _rewrite(path: Path, wanted: dict[str, tuple[str, int]]) -> None:
    """Set each file entry's ``size:`` or ``estimated_size:`` line, leaving every other line as it is."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    out: list[str] = []
    index = 0
    while index < len(lines):
        match = ITEM.match(lines[index])
        if not match:
            out.append(lines[index])
            index += 1
            continue
        indent = len(match["indent"])
        item = [lines[index]]
        index += 1
        while index < len(lines) and _inside(lines[index], indent):
            item.append(lines[index])
            index += 1
        out += _set_size(item, match["folder"], indent + 2, wanted)
    path.write_text("".join(out), encoding="utf-8")


def _inside(line: str, indent: int) -> bool:
    stripped = line.strip()
    if not stripped:
        return False
    return len(line) - len(line.lstrip()) > indent and not stripped.startswith("#")


def _set_size(item: list[str], folder_text: str, indent: int, wanted: dict[str, tuple[str, int]]) -> list[str]:
    fields = {m["key"]: m["value"] for m in (FIELD.match(line) for line in item[1:]) if m}
    folder = model_folders.canonical(str(yaml.safe_load(folder_text)))
    name = yaml.safe_load(fields.get("name", "")) if "name" in fields else None
    choice = wanted.get(f"{folder}/{name}")
    if choice is None:
        return item
    kept = [line for line in item if not re.match(r"^\s*(size|estimated_size):", line)]
    kept.append(f"{' ' * indent}{choice[0]}: {choice[1]}\n")
    return kept
