"""Presets and their files: the data model and the strict parser for catalog YAML (schema 1).

A catalog file::

    schema: 1
    presets:
      - id: WAN_22_5B_TIV2
        name: Wan 2.2 TI2V 5B
        category: video
        description: Text and image to video, 720p, fits a 24 GB GPU.
        tags: [wan, text-to-video, image-to-video]
        min_vram_gb: 12
        min_comfyui: 0.3.46       # optional: the lowest ComfyUI its workflows run on
        custom_nodes: []          # packs the workflows need besides ComfyUI
        workflows: [video_wan2_2_5B_ti2v]   # official templates it serves
        files:
          - folder: diffusion_models
            name: wan2.2_ti2v_5B_fp16.safetensors
            hf: Comfy-Org/Wan_2.2_ComfyUI_Repackaged       # or civitai: <model version id>, or url: https://...
            path: split_files/diffusion_models/wan2.2_ti2v_5B_fp16.safetensors
            revision: main        # optional
            size: 9999999999      # optional, bytes: exact (the download is checked against it)
            estimated_size: 9999  # optional, bytes: a figure to show while the exact size is unknown
            sha256: <64 hex>      # optional

Every error names the file, the preset and the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from .. import model_folders
from ..files import unsafe_reason

SCHEMA_VERSION = 1
RESERVED_IDS = frozenset({"install"})
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
CATEGORY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
REPO_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
REVISION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,127}$")
HF_HOSTS = ("huggingface.co", "hf.co")
CIVITAI_DOWNLOAD = re.compile(r"^/api/download/models/(\d+)/?$")

PRESET_KEYS = {
    "id", "name", "category", "description", "tags", "min_vram_gb", "min_comfyui", "custom_nodes", "workflows", "files",
}
FILE_KEYS = {"folder", "name", "hf", "path", "revision", "civitai", "url", "size", "estimated_size", "sha256"}
VERSION_PATTERN = re.compile(r"^\d+(\.\d+){0,3}$")


class PresetInvalid(ValueError):
    """One field of one preset is wrong; ``field`` is a dotted path like ``files[2].sha256``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class HFSource:
    repo: str
    path: str
    revision: str = "main"

    kind = "hf"

    @property
    def url(self) -> str:
        return f"https://huggingface.co/{self.repo}/resolve/{self.revision}/{self.path}"

    def to_dict(self) -> dict[str, object]:
        return {"kind": "hf", "repo": self.repo, "path": self.path, "revision": self.revision, "url": self.url}


@dataclass(frozen=True)
class CivitaiSource:
    version: int
    query: str = ""  # the file choice a download link may carry, e.g. "type=Model&fp=fp16"

    kind = "civitai"

    @property
    def url(self) -> str:
        base = f"https://civitai.com/api/download/models/{self.version}"
        return f"{base}?{self.query}" if self.query else base

    def to_dict(self) -> dict[str, object]:
        return {"kind": "civitai", "version": self.version, "url": self.url}


@dataclass(frozen=True)
class UrlSource:
    url: str

    kind = "url"

    def to_dict(self) -> dict[str, object]:
        return {"kind": "url", "url": self.url}


Source = HFSource | CivitaiSource | UrlSource


@dataclass(frozen=True)
class ModelFile:
    folder: str  # canonical ComfyUI folder name
    name: str  # path relative to the folder, "/"-separated
    source: Source
    size: int | None = None  # exact: a download of another length fails
    sha256: str | None = None
    estimated_size: int | None = None  # only shown, marked as an estimate, while ``size`` is unknown

    @property
    def key(self) -> str:
        """Identity of the file on disk: two presets naming the same key share the file."""
        return f"{self.folder}/{self.name}"

    def to_catalog_data(self) -> dict[str, object]:
        """This file as a catalog YAML entry: ``parse_file`` reads it back to an equal ModelFile."""
        data: dict[str, object] = {"folder": self.folder, "name": self.name}
        if isinstance(self.source, HFSource):
            data.update(hf=self.source.repo, path=self.source.path, revision=self.source.revision)
        else:
            data["url"] = self.source.url
        if self.size is not None:
            data["size"] = self.size
        if self.estimated_size is not None:
            data["estimated_size"] = self.estimated_size
        if self.sha256 is not None:
            data["sha256"] = self.sha256
        return data

    def to_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            "folder": self.folder,
            "name": self.name,
            "source": self.source.to_dict(),
            "size": self.size,
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class Preset:
    id: str
    name: str
    category: str
    files: tuple[ModelFile, ...]
    description: str = ""
    tags: tuple[str, ...] = ()
    min_vram_gb: float | None = None
    custom_nodes: tuple[str, ...] = ()
    workflows: tuple[str, ...] = ()
    origin: str = "curated"  # curated | template | user
    source_file: str = ""
    template: str | None = None  # the official template a template-derived preset came from
    min_comfyui: str | None = None  # the lowest ComfyUI its workflows run on
    usage: int | None = None  # how often its workflows were used (the templates index counts)

    @property
    def total_size(self) -> int | None:
        """Sum of the file sizes, or None while any size is unknown."""
        sizes = [f.size for f in self.files if f.size is not None]
        return sum(sizes) if len(sizes) == len(self.files) else None

    def summary(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "category": self.category,
            "description": self.description,
            "tags": list(self.tags),
            "min_vram_gb": self.min_vram_gb,
            "custom_nodes": list(self.custom_nodes),
            "workflows": list(self.workflows),
            "origin": self.origin,
            "template": self.template,
            "file_count": len(self.files),
            "total_size": self.total_size,
            "min_comfyui": self.min_comfyui,
            "usage": self.usage,
        }


# --- parsing --------------------------------------------------------------------------


def source_from_url(url: str) -> Source:
    """A Hugging Face ``/resolve/`` or Civitai download URL becomes that source; else a plain URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL")
    host = parts.hostname.lower()
    if host in HF_HOSTS or host.endswith(".huggingface.co"):
        segments = [unquote(s) for s in parts.path.strip("/").split("/")]
        # `/blob/` is the web page of a file; `/resolve/` is the file itself
        if len(segments) >= 5 and segments[2] in ("resolve", "blob"):
            repo, revision, path = "/".join(segments[:2]), segments[3], "/".join(segments[4:])
            if REPO_PATTERN.match(repo) and unsafe_reason(path) is None:
                return HFSource(repo, path, revision)
    if host == "civitai.com" or host.endswith(".civitai.com"):
        match = CIVITAI_DOWNLOAD.match(parts.path)
        if match:
            query = "&".join(p for p in parts.query.split("&") if p and not p.lower().startswith("token="))
            return CivitaiSource(int(match.group(1)), query)
    return UrlSource(url)


def _text(value: object, where: str, *, required: bool = True, default: str = "") -> str:
    if value is None:
        if required:
            raise PresetInvalid(where, "is required")
        return default
    if not isinstance(value, str) or (required and not value.strip()):
        raise PresetInvalid(where, "must be a non-empty string")
    return value.strip()


def _strings(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise PresetInvalid(where, "must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


def _unknown(data: Mapping[str, object], allowed: set[str], where: str) -> None:
    extra = sorted(set(map(str, data)) - allowed)
    if extra:
        prefix = f"{where}." if where else ""
        raise PresetInvalid(f"{prefix}{extra[0]}", f"unknown field; allowed: {', '.join(sorted(allowed))}")


def parse_file(data: object, where: str) -> ModelFile:
    if not isinstance(data, dict):
        raise PresetInvalid(where, "must be a mapping with folder, name and a source")
    _unknown(data, FILE_KEYS, where)
    folder_name = _text(data.get("folder"), f"{where}.folder")
    folder = model_folders.canonical(folder_name)
    if folder is None:
        raise PresetInvalid(
            f"{where}.folder",
            f"{folder_name!r} is not a ComfyUI model folder; use one of: {', '.join(model_folders.FOLDER_NAMES)}",
        )
    name = _text(data.get("name"), f"{where}.name")
    reason = unsafe_reason(name)
    if reason:
        raise PresetInvalid(f"{where}.name", f"{name!r} {reason}")

    given = [key for key in ("hf", "civitai", "url") if data.get(key) is not None]
    if len(given) != 1:
        raise PresetInvalid(f"{where}", "needs exactly one source: hf (with path), civitai or url")
    source: Source
    if given[0] == "hf":
        repo = _text(data.get("hf"), f"{where}.hf")
        if not REPO_PATTERN.match(repo):
            raise PresetInvalid(f"{where}.hf", f"{repo!r} is not a Hugging Face repo id like org/name")
        path = _text(data.get("path"), f"{where}.path")
        reason = unsafe_reason(path)
        if reason:
            raise PresetInvalid(f"{where}.path", f"{path!r} {reason}")
        revision = _text(data.get("revision"), f"{where}.revision", required=False, default="main")
        if not REVISION_PATTERN.match(revision) or ".." in revision:
            raise PresetInvalid(f"{where}.revision", f"{revision!r} is not a branch, tag or commit")
        source = HFSource(repo, path, revision)
    else:
        for key in ("path", "revision"):
            if data.get(key) is not None:
                raise PresetInvalid(f"{where}.{key}", "only goes with an hf source")
        if given[0] == "civitai":
            version = data.get("civitai")
            if isinstance(version, bool) or not isinstance(version, int) or version <= 0:
                raise PresetInvalid(f"{where}.civitai", "must be a Civitai model version id (a positive number)")
            source = CivitaiSource(version)
        else:
            url = _text(data.get("url"), f"{where}.url")
            try:
                source = source_from_url(url)
            except ValueError as exc:
                raise PresetInvalid(f"{where}.url", f"{url!r} {exc}") from None

    size = _bytes(data.get("size"), f"{where}.size")
    estimated = _bytes(data.get("estimated_size"), f"{where}.estimated_size")
    sha256 = data.get("sha256")
    if sha256 is not None:
        if not isinstance(sha256, str) or not SHA256_PATTERN.match(sha256.lower()):
            raise PresetInvalid(f"{where}.sha256", "must be 64 hexadecimal characters")
        sha256 = sha256.lower()
    return ModelFile(folder, name, source, size, sha256, estimated if size is None else None)


def _bytes(value: object, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise PresetInvalid(where, "must be a positive number of bytes")
    return value


def parse_preset(data: object, *, origin: str, source_file: str, where: str = "") -> Preset:
    """Build a Preset from one YAML entry; PresetInvalid names the first wrong field."""
    if not isinstance(data, dict):
        raise PresetInvalid(where or "preset", "must be a mapping")
    _unknown(data, PRESET_KEYS, "")
    preset_id = _text(data.get("id"), "id")
    if not ID_PATTERN.match(preset_id):
        raise PresetInvalid("id", f"{preset_id!r} must be letters, digits, '_', '.' or '-' (up to 128)")
    if preset_id in RESERVED_IDS:  # /launchpad/presets/install is a route of its own
        raise PresetInvalid("id", f"{preset_id!r} is reserved; choose another id")
    category = _text(data.get("category"), "category").lower()
    if not CATEGORY_PATTERN.match(category):
        raise PresetInvalid("category", f"{category!r} must be a short lowercase word like image or video")
    min_vram = data.get("min_vram_gb")
    if min_vram is not None and (isinstance(min_vram, bool) or not isinstance(min_vram, (int, float)) or min_vram < 0):
        raise PresetInvalid("min_vram_gb", "must be a number of gigabytes")
    min_comfyui = data.get("min_comfyui")
    if min_comfyui is not None:
        min_comfyui = str(min_comfyui).strip()  # YAML reads 0.4 as a number
        if not VERSION_PATTERN.match(min_comfyui):
            raise PresetInvalid("min_comfyui", f"{min_comfyui!r} is not a ComfyUI version like 0.3.46")
    files_data = data.get("files")
    if not isinstance(files_data, list) or not files_data:
        raise PresetInvalid("files", "must list at least one file")
    files = []
    seen: set[str] = set()
    for index, item in enumerate(files_data):
        model_file = parse_file(item, f"files[{index}]")
        if model_file.key in seen:
            raise PresetInvalid(f"files[{index}]", f"{model_file.key} is listed twice")
        seen.add(model_file.key)
        files.append(model_file)
    return Preset(
        id=preset_id,
        name=_text(data.get("name"), "name"),
        category=category,
        files=tuple(files),
        description=_text(data.get("description"), "description", required=False),
        tags=_strings(data.get("tags"), "tags"),
        min_vram_gb=float(min_vram) if min_vram is not None else None,
        custom_nodes=_strings(data.get("custom_nodes"), "custom_nodes"),
        workflows=_strings(data.get("workflows"), "workflows"),
        origin=origin,
        source_file=source_file,
        min_comfyui=min_comfyui,
    )


@dataclass(frozen=True)
class CatalogWarning:
    """A preset or file that was skipped, and why. Shown by the CLI and the API."""

    file: str
    message: str
    preset: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.preset:
            where += f": preset {self.preset}"
        if self.field:
            where += f", field {self.field}"
        return f"{where}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        return {"file": self.file, "preset": self.preset, "field": self.field, "message": self.message}


@dataclass
class ParsedFile:
    presets: list[Preset] = field(default_factory=list)
    warnings: list[CatalogWarning] = field(default_factory=list)
