"""Presets derived from ComfyUI's official workflow templates.

ComfyUI installs the templates as Python packages. Two layouts exist:

- older: ``comfyui_workflow_templates/templates/*.json`` (one package, e.g. 0.1.95, which
  ComfyUI v0.3.64 pins);
- newer: the JSON lives in ``comfyui_workflow_templates_json/templates/*.json``, with
  ``comfyui_workflow_templates`` a meta-package over ``-core`` and media bundles.

Each template lists its models on loader nodes as ``properties.models`` entries
(``name``, ``url``, ``directory``; sometimes ``hash``/``hash_type``), in the top-level graph
or inside subgraph definitions. ``index.json`` gives titles, descriptions and tags. We only
locate the packages (a path lookup executes nothing) and read their JSON files.
"""

from __future__ import annotations

import importlib.machinery
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .schema import CatalogWarning, ModelFile, ParsedFile, Preset, PresetInvalid, parse_file

log = logging.getLogger(__name__)

PACKAGES = ("comfyui_workflow_templates_json", "comfyui_workflow_templates")


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


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    title: str
    description: str
    category: str
    tags: tuple[str, ...]
    vram_gb: float | None


def _vram_gb(value: object) -> float | None:
    # older indexes give GB (2.88), newer ones bytes
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    return round(value / 1e9, 1) if value > 1000 else float(value)


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
            category = str(entry.get("mediaType") or group_type or "workflow").lower()
            if group_type in ("video", "audio", "3d", "image", "upscale"):
                category = group_type
            infos[entry["name"]] = TemplateInfo(
                name=entry["name"],
                title=str(entry.get("title") or entry["name"]),
                description=str(entry.get("description") or ""),
                category=category,
                tags=tuple(str(t) for t in entry.get("tags") or [] if isinstance(t, str)),
                vram_gb=_vram_gb(entry.get("vram")),
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


def load(directory: Path) -> ParsedFile:
    """One preset per template that declares models, named after the template."""
    result = ParsedFile()
    index = read_index(directory)
    for path in sorted(directory.glob("*.json")):
        name = path.stem
        if name.startswith("index"):
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
                category=info.category if info else "workflow",
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
