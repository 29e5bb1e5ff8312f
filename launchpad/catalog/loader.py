"""Loading and merging the three preset sources: curated, template-derived, the user's own.

Later sources override earlier ones by id. A bad file or entry is skipped with a warning
that names file, preset and field; it never stops the rest from loading.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..documents import DocumentError, load_yaml
from ..errors import NotFound
from . import templates
from .schema import SCHEMA_VERSION, CatalogWarning, ParsedFile, Preset, PresetInvalid, parse_preset

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


@dataclass
class Catalog:
    """The merged catalog. ``warnings`` lists everything that was skipped."""

    presets: dict[str, Preset] = field(default_factory=dict)
    warnings: list[CatalogWarning] = field(default_factory=list)
    templates_dir: Path | None = None

    def get(self, preset_id: str) -> Preset:
        try:
            return self.presets[preset_id]
        except KeyError:
            raise NotFound(
                f"unknown preset {preset_id!r}; `launchpad presets` (or GET /launchpad/presets) lists the ids",
                details={"preset": preset_id},
            ) from None

    def categories(self) -> list[str]:
        return sorted({p.category for p in self.presets.values()})

    def search(self, *, category: str | None = None, text: str | None = None) -> list[Preset]:
        """Presets in ``category`` whose id, name, description or tags contain every word of ``text``."""
        words = (text or "").lower().split()
        found = []
        for preset in self.presets.values():
            if category and preset.category != category.lower():
                continue
            if words:
                haystack = " ".join((preset.id, preset.name, preset.description, *preset.tags)).lower()
                if not all(word in haystack for word in words):
                    continue
            found.append(preset)
        return found

    def users_of(self, key: str) -> list[str]:
        """Ids of the presets that include the file ``folder/name``."""
        return [p.id for p in self.presets.values() if any(f.key == key for f in p.files)]


def merge(sources: Iterable[ParsedFile]) -> Catalog:
    catalog = Catalog()
    for parsed in sources:
        catalog.warnings += parsed.warnings
        for preset in parsed.presets:
            catalog.presets[preset.id] = preset  # later sources override earlier ones
    return catalog


def load_catalog(
    user_dir: Path | None,
    *,
    curated_dir: Path = CURATED_DIR,
    templates_dir: Path | None = None,
    include_templates: bool = True,
) -> Catalog:
    """Curated presets, then template-derived ones, then the user's own, later overriding earlier."""
    started = time.perf_counter()
    sources = [load_dir(curated_dir, "curated")]
    found_templates = templates.find_templates_dir(templates_dir) if include_templates else None
    if found_templates is not None:
        sources.append(templates.load(found_templates))
    if user_dir is not None:
        sources.append(load_dir(user_dir, "user"))
    catalog = merge(sources)
    catalog.templates_dir = found_templates
    for warning in catalog.warnings:
        log.warning("catalog: %s", warning)
    log.debug("catalog: %d presets in %.0f ms", len(catalog.presets), (time.perf_counter() - started) * 1000)
    return catalog
