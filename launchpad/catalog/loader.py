"""Loading and merging the three preset sources: curated, template-derived, the user's own.

Later sources override earlier ones by id. A bad file or entry is skipped with a warning
that names file, preset and field; it never stops the rest from loading.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..documents import DocumentError, load_yaml
from ..errors import NotFound
from . import sizes, templates
from .rows import comfyui_need, comfyui_ok
from .schema import SCHEMA_VERSION, CatalogWarning, ModelFile, ParsedFile, Preset, PresetInvalid, parse_preset
from .size_cache import SizeCache, exact_sizes

log = logging.getLogger(__name__)

CURATED_DIR = Path(__file__).resolve().parents[2] / "presets"
MAX_PRESET_FILE = 8 * 2**20  # a few thousand presets; beyond that it is not a catalog someone wrote


def parse_yaml(text: str, label: str, origin: str) -> ParsedFile:
    """Parse one catalog YAML document; bad entries become warnings."""
    result = ParsedFile()
    try:
        document = load_yaml(text)
    except DocumentError as exc:  # invalid, or too deep to read safely: a warning, never a crash
        result.warnings.append(CatalogWarning(label, str(exc)))
        return result
    if document is None:
        return result
    if not isinstance(document, dict):
        result.warnings.append(CatalogWarning(label, "must be a mapping with `schema: 1` and `presets:`"))
        return result
    schema = document.get("schema", SCHEMA_VERSION)
    if schema != SCHEMA_VERSION:
        result.warnings.append(
            CatalogWarning(label, f"schema {schema!r} is not supported (this Launchpad reads schema 1)", field="schema")
        )
        return result
    unknown = sorted(set(map(str, document)) - {"schema", "presets"})
    if unknown:
        result.warnings.append(CatalogWarning(label, "unknown top-level field", field=unknown[0]))
    entries = document.get("presets")
    if not isinstance(entries, list):
        result.warnings.append(CatalogWarning(label, "must be a list of presets", field="presets"))
        return result
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        preset_id = entry.get("id") if isinstance(entry, dict) and isinstance(entry.get("id"), str) else None
        try:
            preset = parse_preset(entry, origin=origin, source_file=label, where=f"presets[{index}]")
        except PresetInvalid as exc:
            result.warnings.append(
                CatalogWarning(label, exc.message, preset=preset_id or f"presets[{index}]", field=exc.field)
            )
            continue
        if preset.id in seen:
            result.warnings.append(
                CatalogWarning(label, "duplicate id in this file; the first one is kept", preset=preset.id, field="id")
            )
            continue
        seen.add(preset.id)
        result.presets.append(preset)
    return result


def load_dir(directory: Path, origin: str) -> ParsedFile:
    """Every ``*.yaml``/``*.yml`` file of ``directory`` in name order."""
    result = ParsedFile()
    if not directory.is_dir():
        return result
    paths = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    seen: dict[str, str] = {}
    for path in paths:
        try:
            if path.stat().st_size > MAX_PRESET_FILE:
                result.warnings.append(CatalogWarning(str(path), f"is larger than {MAX_PRESET_FILE // 2**20} MiB; "
                                                      "split it into several files"))
                continue
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            result.warnings.append(CatalogWarning(str(path), f"cannot read it: {exc}"))
            continue
        parsed = parse_yaml(text, str(path), origin)
        result.warnings += parsed.warnings
        for preset in parsed.presets:
            if preset.id in seen:
                result.warnings.append(
                    CatalogWarning(str(path), f"duplicate id, already defined in {seen[preset.id]}; skipped",
                                   preset=preset.id, field="id")
                )
                continue
            seen[preset.id] = str(path)
            result.presets.append(preset)
    return result


# whose sha256 and size a shared file takes: the user's own word first (a preset of theirs can
# correct a curated sha256 the source no longer matches), then the curated catalog, then templates
ORIGIN_RANK = {"user": 0, "curated": 1, "template": 2}


@dataclass
class Catalog:
    """The merged catalog. ``warnings`` lists everything that was skipped.

    ``aliases`` maps the id of a template-derived preset that was folded into another one
    (same files) to the id that lists it now. ``figures`` holds each file's size figure
    (exact or estimated, see sizes.py), ``sources`` says where the presets come from, ``needs``
    the ComfyUI each template needs as the templates index says (template name -> version).
    """

    presets: dict[str, Preset] = field(default_factory=dict)
    warnings: list[CatalogWarning] = field(default_factory=list)
    templates_dir: Path | None = None
    aliases: dict[str, str] = field(default_factory=dict)
    figures: dict[str, sizes.Figure] = field(default_factory=dict)
    totals: list[sizes.Total] = field(default_factory=list)
    sources: dict[str, object] = field(default_factory=dict)
    needs: dict[str, str] = field(default_factory=dict)

    def get(self, preset_id: str) -> Preset:
        try:
            return self.presets[self.aliases.get(preset_id, preset_id)]
        except KeyError:
            raise NotFound(
                f"unknown preset {preset_id!r}; `launchpad presets` (or GET /launchpad/presets) lists the ids",
                details={"preset": preset_id},
            ) from None

    def __contains__(self, preset_id: object) -> bool:
        return preset_id in self.presets or preset_id in self.aliases

    def categories(self) -> list[str]:
        return sorted({p.category for p in self.presets.values()})

    def search(self, *, category: str | None = None, text: str | None = None) -> list[Preset]:
        """Presets in ``category`` whose id, name, description, tags or workflows contain every word of ``text``."""
        words = (text or "").lower().split()
        found = []
        for preset in self.presets.values():
            if category and preset.category != category.lower():
                continue
            if words:
                haystack = " ".join((preset.id, preset.name, preset.description, *preset.tags, *preset.workflows))
                haystack = haystack.lower()
                if not all(word in haystack for word in words):
                    continue
            found.append(preset)
        return found

    def users_of(self, key: str) -> list[str]:
        """Ids of the presets that include the file ``folder/name``."""
        return [p.id for p in self.presets.values() if any(f.key == key for f in p.files)]

    def comfyui_for(self, workflow: str | None) -> str | None:
        """The ComfyUI a workflow needs, known by its name (a template's, ``.json`` or not): the
        templates index's figure, else the lowest that the presets listing it state, when every one of
        them states one (a preset needs the highest of its workflows'; an old templates package has no
        figures, the curated YAML has them). None when nothing says."""
        name = templates.workflow_stem(workflow)
        if name in self.needs:
            return self.needs[name]
        stated = [p.min_comfyui for p in self.presets.values() if name in p.workflows]
        if not stated or None in stated:
            return None
        return min((v for v in stated if v), key=templates.version_key)

    def files(self) -> dict[str, ModelFile]:
        """Every file of the catalog by key (presets sharing a file agree on its size and sha256)."""
        found: dict[str, ModelFile] = {}
        for preset in self.presets.values():
            for model_file in preset.files:
                found.setdefault(model_file.key, model_file)
        return found

    def size(self, preset: Preset) -> tuple[int | None, bool]:
        """(bytes, estimated) of a preset's files; see sizes.py.

        While some figure is an estimate, the templates index's own total for exactly these
        files (a template listing the same ones) is the better estimate of the sum.
        """
        size, estimated = sizes.total(preset.files, self.figures)
        if estimated:
            keys = frozenset(f.key for f in preset.files)
            for total in self.totals:
                if total.keys == keys and total.name in preset.workflows:
                    return total.size, True
        return size, estimated

    def vram(self, preset: Preset) -> tuple[float | None, bool]:
        """(GB, estimated): the preset's own ``min_vram_gb``, else the rule of sizes.vram_estimate_gb."""
        if preset.min_vram_gb is not None:
            return preset.min_vram_gb, False
        return sizes.vram_estimate_gb(preset.files, self.figures), True

    def summary(self, preset: Preset, comfyui: str | None = None) -> dict[str, object]:
        """The preset's row: its own fields, size and VRAM figures, and whether ``comfyui`` runs it."""
        size, size_estimated = self.size(preset)
        vram, vram_estimated = self.vram(preset)
        return {
            **preset.summary(),
            "size": size,
            "size_estimated": size_estimated,
            "vram_gb": vram,
            "vram_estimated": vram_estimated,
            "comfyui_ok": comfyui_ok(preset.min_comfyui, comfyui),
            "comfyui_need": comfyui_need(preset.min_comfyui, comfyui),
        }

    def with_exact_sizes(self, exact: Mapping[str, int]) -> Catalog:
        """The same catalog with the sources' sizes in place of estimates."""
        figures = sizes.solve(self.files().values(), self.totals, exact)
        return replace(self, figures=figures)


def build(
    curated: ParsedFile,
    template_presets: ParsedFile | None,
    index: Mapping[str, templates.TemplateInfo],
    user: ParsedFile | None,
    exact: Mapping[str, int] | None = None,
) -> Catalog:
    """Merge the sources (later ones override earlier ones by id), fold presets that list the same
    files into one, give shared files one sha256 and size, and work out the size figures."""
    catalog = Catalog()
    for parsed in (curated, template_presets, user):
        if parsed is None:
            continue
        catalog.warnings += parsed.warnings
        for preset in parsed.presets:
            catalog.presets[preset.id] = preset
    totals = [
        sizes.Total(p.id, frozenset(f.key for f in p.files), index[p.id].size or 0)
        for p in (template_presets.presets if template_presets else [])
        if p.id in index and index[p.id].size
    ]
    catalog.presets, catalog.aliases = _fold(catalog.presets, index)
    catalog.presets = {pid: _with_index(p, index) for pid, p in catalog.presets.items()}
    catalog.presets = _agree_on_files(catalog.presets, catalog.warnings)
    catalog.totals = totals
    catalog.needs = {name: info.min_comfyui for name, info in index.items() if info.min_comfyui}
    catalog.figures = sizes.solve(catalog.files().values(), totals, exact or {})
    return catalog


def _fold(presets: Mapping[str, Preset], index: Mapping[str, templates.TemplateInfo]) -> tuple[
    dict[str, Preset], dict[str, str]
]:
    """One preset per set of files: a template-derived preset whose files another preset lists
    exactly is folded into it (a curated or user preset first, else the most-used template), and
    its workflow joins the ones that preset serves. Curated and user presets are never folded."""
    groups: dict[frozenset[str], list[Preset]] = {}
    for preset in presets.values():
        groups.setdefault(frozenset(f.key for f in preset.files), []).append(preset)
    aliases: dict[str, str] = {}
    folded: dict[str, Preset] = {}
    for group in groups.values():
        written = [p for p in group if p.origin != "template"]
        derived = sorted(
            (p for p in group if p.origin == "template"),
            key=lambda p: (-(index[p.id].usage or 0) if p.id in index else 0, p.id),
        )
        if not derived or len(group) == 1:
            continue
        winner = written[0] if written else derived[0]
        extra = [p for p in derived if p is not winner]
        workflows = tuple(dict.fromkeys([*winner.workflows, *(w for p in extra for w in p.workflows)]))
        folded[winner.id] = replace(winner, workflows=workflows)
        for preset in extra:
            aliases[preset.id] = winner.id
    merged = {pid: folded.get(pid, p) for pid, p in presets.items() if pid not in aliases}
    return merged, aliases


def _with_index(preset: Preset, index: Mapping[str, templates.TemplateInfo]) -> Preset:
    """The ComfyUI its workflows need (the highest minimum) and how much they are used."""
    infos = [index[name] for name in preset.workflows if name in index]
    versions = [v for v in (preset.min_comfyui, *(i.min_comfyui for i in infos)) if v]
    needed = max(versions, key=templates.version_key) if versions else None
    usages = [i.usage for i in infos if i.usage is not None]
    return replace(preset, min_comfyui=needed, usage=sum(usages) if usages else preset.usage)


def _agree_on_files(presets: Mapping[str, Preset], warnings: list[CatalogWarning]) -> dict[str, Preset]:
    """Presets that share a file share it on disk, so they must agree on what it is: each file takes
    the sha256 and sizes the first preset states (the user's, then curated, then template-derived)."""
    facts: dict[str, dict[str, tuple[Any, Preset]]] = {}  # key -> field -> (value, the preset that said it)
    for preset in sorted(presets.values(), key=lambda p: ORIGIN_RANK.get(p.origin, 3)):
        for model_file in preset.files:
            known = facts.setdefault(model_file.key, {})
            for name in ("sha256", "size", "estimated_size"):
                value = getattr(model_file, name)
                if value is None:
                    continue
                if name not in known:
                    known[name] = (value, preset)
                elif known[name][0] != value and name != "estimated_size":
                    first = known[name][1]
                    warnings.append(CatalogWarning(
                        preset.source_file, f"{model_file.key} has {name} {value}, but {first.id} "
                        f"({first.source_file}) says {known[name][0]}; using {first.id}'s",
                        preset=preset.id, field=name,
                    ))
    result = {}
    for pid, preset in presets.items():
        files = []
        for model_file in preset.files:
            known = facts.get(model_file.key, {})
            size = known.get("size", (None,))[0]
            files.append(replace(
                model_file,
                sha256=known.get("sha256", (None,))[0],
                size=size,
                estimated_size=None if size is not None else known.get("estimated_size", (None,))[0],
            ))
        result[pid] = replace(preset, files=tuple(files))
    return result


def load_catalog(
    user_dir: Path | None,
    *,
    curated_dir: Path = CURATED_DIR,
    templates_dir: Path | None = None,
    include_templates: bool = True,
    state_dir: Path | None = None,
) -> Catalog:
    """Curated presets, then template-derived ones, then the user's own, later overriding earlier.

    ``state_dir``: the workspace's state directory, whose size cache (the sources' answers)
    replaces estimates.
    """
    started = time.perf_counter()
    base = load_base(curated_dir, templates_dir, include_templates)
    user = load_dir(user_dir, "user") if user_dir is not None else None
    exact = cached_sizes(state_dir, base, user)
    catalog = base.build(user, exact, user_dir)
    for warning in catalog.warnings:
        log.warning("catalog: %s", warning)
    log.debug("catalog: %d presets in %.0f ms", len(catalog.presets), (time.perf_counter() - started) * 1000)
    return catalog


@dataclass
class Base:
    """The sources that ship with the install (curated YAML, the templates package), read once."""

    curated_dir: Path
    curated: ParsedFile
    templates_dir: Path | None = None
    template_presets: ParsedFile | None = None
    index: dict[str, templates.TemplateInfo] = field(default_factory=dict)
    package: tuple[str, str | None] | None = None  # the templates' distribution and version

    def build(self, user: ParsedFile | None, exact: Mapping[str, int], user_dir: Path | None) -> Catalog:
        catalog = build(self.curated, self.template_presets, self.index, user, exact)
        catalog.templates_dir = self.templates_dir
        catalog.sources = self._sources(user_dir, user, catalog)
        return catalog

    def _sources(self, user_dir: Path | None, user: ParsedFile | None, catalog: Catalog) -> dict[str, object]:
        """Where the presets come from: directories, the templates package and version, the user's files."""
        counts: dict[str, int] = {}
        for preset in catalog.presets.values():
            counts[preset.origin] = counts.get(preset.origin, 0) + 1
        found = None
        if self.templates_dir is not None:
            found = {
                "dir": str(self.templates_dir),
                "package": self.package[0] if self.package else None,
                "version": self.package[1] if self.package else None,
                "templates": len(self.template_presets.presets) if self.template_presets else 0,
                "presets": counts.get("template", 0),
                "folded": len(catalog.aliases),
            }
        return {
            "curated": {"dir": str(self.curated_dir), "presets": counts.get("curated", 0)},
            "templates": found,
            "user": {
                "dir": str(user_dir) if user_dir else None,
                "files": sorted({p.source_file for p in user.presets}) if user else [],
                "presets": counts.get("user", 0),
            },
        }


def load_base(
    curated_dir: Path = CURATED_DIR, templates_dir: Path | None = None, include_templates: bool = True
) -> Base:
    """Curated presets and, when the templates package is found, its index and template presets."""
    base = Base(curated_dir, load_dir(curated_dir, "curated"))
    found = templates.find_templates_dir(templates_dir) if include_templates else None
    if found is not None:
        base.templates_dir = found
        base.index = templates.read_index(found)
        base.template_presets = templates.load(found, base.index)
        base.package = templates.package_of(found)
    return base


def cached_sizes(state_dir: Path | None, base: Base, user: ParsedFile | None) -> dict[str, int]:
    """What the sources said about the sizes of the files these sources list (size_cache.py)."""
    if state_dir is None:
        return {}
    files: dict[str, ModelFile] = {}
    for parsed in (base.curated, base.template_presets, user):
        for preset in parsed.presets if parsed else []:
            for model_file in preset.files:
                files.setdefault(model_file.key, model_file)
    return exact_sizes(SizeCache(state_dir).load(), files)
