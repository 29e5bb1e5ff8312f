"""What a preset row says beyond the catalog's own fields: the ComfyUI it needs, where the presets come
from, and orders to list them in."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import PurePath
from typing import Any

from .schema import Preset
from .templates import version_key


def comfyui_ok(needed: str | None, running: str | None) -> bool | None:
    """True when ``running`` is at least ``needed`` (or nothing is needed); None when unknown."""
    if needed is None:
        return True
    if not running:
        return None
    return version_key(running) >= version_key(needed)


def comfyui_need(needed: str | None, running: str | None) -> str | None:
    """The short line a preset card or the Workflow view shows: "needs ComfyUI 0.16.4+" where the
    running version is unknown, ", this is 0.3.64" added inside an older one; None when all is well."""
    ok = comfyui_ok(needed, running)
    if ok:
        return None
    if ok is None:
        return f"needs ComfyUI {needed}+"
    return f"needs ComfyUI {needed}+, this is {running}"


def comfyui_note(preset: Preset, running: str | None) -> str | None:
    """What a person should know about the ComfyUI a preset needs, or None when nothing."""
    if preset.min_comfyui is None:
        return None
    if running is None:
        return f"its workflows need ComfyUI {preset.min_comfyui} or newer"
    if comfyui_ok(preset.min_comfyui, running):
        return None
    return (f"its workflows need ComfyUI {preset.min_comfyui} or newer; this ComfyUI is {running}: update ComfyUI "
            "before running them (the files download either way)")


def sources_line(sources: Mapping[str, Any]) -> str:
    """Where the presets come from, as the panel shows it:
    "Presets: 35 curated · 185 from comfyui-workflow-templates-json 0.1.123 · yours: mine.yaml"."""
    parts = [f"{sources['curated']['presets']} curated"]
    found = sources.get("templates")
    if found:
        package = f"{found['package']} {found['version']}" if found.get("package") else found["dir"]
        parts.append(f"{found['presets']} from {package}")
    else:
        parts.append("no templates found")
    files = sources["user"]["files"]
    if files:
        parts.append("yours: " + ", ".join(PurePath(path).name for path in files))
    return "Presets: " + " · ".join(parts)


def too_new_notes(presets: Iterable[Preset], running: str | None) -> list[str]:
    """"<id>: <note>" for each preset whose workflows need a newer ComfyUI than ``running``."""
    return [f"{preset.id}: {comfyui_note(preset, running)}" for preset in presets
            if comfyui_ok(preset.min_comfyui, running) is False]


SORTS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "popularity": lambda row: (-(row["usage"] or 0), row["name"].lower()),
    "name": lambda row: (row["name"].lower(), row["id"]),
    "size": lambda row: (row["size"] is None, row["size"] or 0, row["name"].lower()),
}


def sort_rows(rows: list[dict[str, Any]], sort: str | None) -> list[dict[str, Any]]:
    """Preset rows in the order ``sort`` names (popularity: most used first); catalog order without one."""
    if not sort:
        return rows
    return sorted(rows, key=SORTS[sort])
