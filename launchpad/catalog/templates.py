"""Presets derived from ComfyUI's official workflow templates.

ComfyUI installs the templates as Python packages. Two layouts exist:

- older: ``comfyui_workflow_templates/templates/*.json`` (one package, e.g. 0.1.95, which
  ComfyUI v0.3.64 pins);
- newer: the JSON lives in ``comfyui_workflow_templates_json/templates/*.json``, with
  ``comfyui_workflow_templates`` a meta-package over ``-core`` and media bundles.

Each template lists its models on loader nodes as ``properties.models`` entries
(``name``, ``url``, ``directory``; sometimes ``hash``/``hash_type``), in the top-level graph
or inside subgraph definitions. ``index.json`` gives titles, descriptions, tags, usage counts,
the lowest ComfyUI each template runs on (``minComfyUIVersion``) and the total ``size`` of its
models (bytes in newer indexes, GiB in older ones; rounded, and sometimes stale). A JSON file
the index does not list is no template ComfyUI offers (0.1.95 ships a stray
``video_wan2_2_14B_t2v (2).json``), so it is skipped. We only locate the packages (a path
lookup executes nothing) and read their JSON files.
"""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .schema import CatalogWarning, ModelFile, ParsedFile, Preset, PresetInvalid, parse_file

log = logging.getLogger(__name__)

PACKAGES = ("comfyui_workflow_templates_json", "comfyui_workflow_templates")
VERSION = re.compile(r"^\d+(\.\d+)*$")
MEDIA_TYPES = ("image", "video", "audio", "3d")
GIB = 2**30


def find_templates_dir(override: Path | None = None, search_path: list[str] | None = None) -> Path | None:
    """The directory holding the template JSON files, newest layout first; None if not installed.

    ``search_path`` limits the lookup to those directories (default: sys.path).
    """
    if override is not None:
        return override if override.is_dir() else None
    for package in PACKAGES:
        try:
            spec = importlib.machinery.PathFinder.find_spec(package, search_path)
        except (ImportError, ValueError):
            continue
        for location in (spec.submodule_search_locations or []) if spec else []:
            candidate = Path(location) / "templates"
            if candidate.is_dir() and any(candidate.glob("*.json")):
                return candidate
    return None


def package_of(directory: Path) -> tuple[str, str | None] | None:
    """(distribution name, version) of the installed package that holds ``directory``, when one does."""
    package_dir = directory.parent
    for dist in importlib.metadata.distributions(path=[str(package_dir.parent)]):
        name = dist.metadata["Name"] or ""
        if name.lower().replace("-", "_") == package_dir.name.lower():
            return name, dist.version
    return None


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    title: str
    description: str
    category: str
    tags: tuple[str, ...]
    vram_gb: float | None
    size: int | None = None  # the index's total for the template's models, in bytes (rounded)
    usage: int | None = None  # how often it was used, as the index counts
    min_comfyui: str | None = None  # the lowest ComfyUI version it runs on


def _vram_gb(value: object) -> float | None:
    # older indexes give GB (2.88), newer ones bytes
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    return round(value / 1e9, 1) if value > 1000 else float(value)


def _size(value: object) -> int | None:
    # older indexes give GiB (1.99), newer ones bytes; 0 means the index does not know
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    return round(value * GIB) if value < 100_000 else round(value)


def _count(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return None
    return int(value)


def _version(value: object) -> str | None:
    # the index gives 0.0.x to templates that run on any ComfyUI: no requirement to show
    if not isinstance(value, str) or not VERSION.match(value) or version_key(value) < (0, 1):
        return None
    return value


def workflow_stem(file_name: str | None) -> str:
    """A workflow's file name without ``.json``: how the templates index names a template."""
    return re.sub(r"\.json$", "", (file_name or "").strip(), flags=re.IGNORECASE)


def version_key(version: str) -> tuple[int, ...]:
    """``"0.3.64"`` -> (0, 3, 64), for comparing versions; anything after the digits is ignored."""
    match = re.match(r"^\s*v?(\d+(?:\.\d+)*)", version)
    return tuple(int(part) for part in match.group(1).split(".")) if match else ()


def category_for(name: str) -> str:
    """A category for a template the index does not describe: its name's prefix, else image."""
    prefix = name.split("_", 1)[0].lower()
    return prefix if prefix in MEDIA_TYPES else "image"


def read_index(directory: Path) -> dict[str, TemplateInfo]:
    """Template metadata from index.json, by template name (empty when missing or unreadable)."""
    try:
        groups = json.loads((directory / "index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    infos: dict[str, TemplateInfo] = {}
    for group in groups if isinstance(groups, list) else []:
        if not isinstance(group, dict):
            continue
        group_type = str(group.get("type") or "").lower()
        for entry in group.get("templates") or []:
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                continue
            category = str(entry.get("mediaType") or group_type or "").lower()
            if group_type in (*MEDIA_TYPES, "upscale"):
                category = group_type
            if category not in (*MEDIA_TYPES, "upscale"):
                category = category_for(entry["name"])
            infos[entry["name"]] = TemplateInfo(
                name=entry["name"],
                title=str(entry.get("title") or entry["name"]),
                description=str(entry.get("description") or ""),
                category=category,
                tags=tuple(str(t) for t in entry.get("tags") or [] if isinstance(t, str)),
                vram_gb=_vram_gb(entry.get("vram")),
                size=_size(entry.get("size")),
                usage=_count(entry.get("usage")),
                min_comfyui=_version(entry.get("minComfyUIVersion")),
            )
    return infos


def iter_model_entries(workflow: object) -> Iterator[dict]:
    """Every ``properties.models`` entry of a UI-format workflow, subgraphs included."""
    if not isinstance(workflow, dict):
        return
    graphs = [workflow]
    definitions = workflow.get("definitions")
    if isinstance(definitions, dict):
        graphs += [g for g in definitions.get("subgraphs") or [] if isinstance(g, dict)]
    for graph in graphs:
        for node in graph.get("nodes") or []:
            properties = node.get("properties") if isinstance(node, dict) else None
            models = properties.get("models") if isinstance(properties, dict) else None
            for entry in models if isinstance(models, list) else []:
                if isinstance(entry, dict):
                    yield entry


def model_entry_to_file_data(entry: dict) -> dict[str, object]:
    """A workflow's model entry as catalog file data (folder, name, url, sha256 when given)."""
    data: dict[str, object] = {"folder": entry.get("directory"), "name": entry.get("name"), "url": entry.get("url")}
    digest = entry.get("hash")
    if isinstance(digest, str) and str(entry.get("hash_type", "")).lower() == "sha256":
        data["sha256"] = digest.lower()
    return data


def load(directory: Path, index: dict[str, TemplateInfo] | None = None) -> ParsedFile:
    """One preset per template that declares models, named after the template's title.

    With an index, only the templates it lists (what ComfyUI's template browser offers).
    """
    result = ParsedFile()
    index = read_index(directory) if index is None else index
    for path in sorted(directory.glob("*.json")):
        name = path.stem
        if name.startswith("index") or (index and name not in index):
            continue
        label = f"template {path.name}"
        try:
            workflow = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            result.warnings.append(CatalogWarning(label, f"cannot read it: {exc}"))
            continue
        files: dict[str, ModelFile] = {}
        for entry in iter_model_entries(workflow):
            try:
                model_file = parse_file(model_entry_to_file_data(entry), "models")
            except PresetInvalid as exc:
                result.warnings.append(CatalogWarning(label, exc.message, preset=name, field=exc.field))
                continue
            files.setdefault(model_file.key, model_file)
        if not files:
            continue
        info = index.get(name)
        result.presets.append(
            Preset(
                id=name,
                name=info.title if info else name,
                category=info.category if info else category_for(name),
                files=tuple(files.values()),
                description=info.description if info else "",
                tags=info.tags if info else (),
                min_vram_gb=info.vram_gb if info else None,
                workflows=(name,),
                origin="template",
                source_file=str(path),
                template=name,
            )
        )
    return result
