"""The models lock: which files, from where, at which commit, with which size and hash (docs/lockfile.md).

A lock is one JSON document, ``format: launchpad.models-lock``, ``version: 1``::

    {
      "format": "launchpad.models-lock",
      "version": 1,
      "made_from": {"presets": ["FLUX1_DEV"], "workflows": [], "installed": false},
      "files": [
        {"folder": "checkpoints", "name": "model.safetensors",
         "source": {"hf": "acme/model", "revision": "main", "commit": "<40 hex>", "path": "split/model.safetensors"},
         "size": 1500000, "sha256": "<64 hex>"},
        {"folder": "loras", "name": "style.safetensors", "source": {"civitai": 4242}, "size": null, "sha256": null},
        {"folder": "vae", "name": "vae.safetensors", "source": {"url": "https://example.com/vae.safetensors"}, ...}
      ]
    }

Writing is deterministic (files sorted by folder and name, a fixed key order, no timestamps),
so the same model set gives the same bytes: a lock diffs cleanly in git and a Kubernetes
ConfigMap made from it changes only when the models do. Reading is strict: every problem
names the entry and field, and a lock of a newer version is refused rather than half-read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .. import model_folders
from ..catalog.schema import (
    REPO_PATTERN,
    REVISION_PATTERN,
    SHA256_PATTERN,
    CivitaiSource,
    HFSource,
    ModelFile,
    Source,
    UrlSource,
)
from ..documents import DocumentError, load_json
from ..errors import InvalidInput
from ..files import unsafe_reason

FORMAT = "launchpad.models-lock"
VERSION = 1
COMMIT_PATTERN = re.compile(r"^[0-9a-f]{40}$")
MAX_BYTES = 16 * 2**20  # a lock of thousands of files is a few MB
_TOP_KEYS = {"format", "version", "made_from", "files"}
_FILE_KEYS = {"folder", "name", "source", "size", "sha256"}
_MADE_FROM_KEYS = {"presets", "workflows", "installed"}


class LockInvalid(InvalidInput):
    """A lock file (or its part ``field``, like ``files[2].sha256``) is not a valid models lock."""


@dataclass(frozen=True)
class LockedFile:
    """One file of a lock. For Hugging Face, ``source.revision`` is what was asked (``main``) and
    ``commit`` what it resolved to; downloads use the commit, so every provision gets the same bytes."""

    folder: str
    name: str
    source: Source
    commit: str | None = None
    size: int | None = None
    sha256: str | None = None

    @property
    def key(self) -> str:
        return f"{self.folder}/{self.name}"

    def model_file(self) -> ModelFile:
        """The file as the download engine takes it, pinned to the commit when there is one."""
        source = self.source
        if isinstance(source, HFSource) and self.commit:
            source = HFSource(source.repo, source.path, self.commit)
        return ModelFile(self.folder, self.name, source, self.size, self.sha256)

    def to_data(self) -> dict[str, object]:
        source = self.source
        if isinstance(source, HFSource):
            data: dict[str, object] = {"hf": source.repo, "revision": source.revision, "commit": self.commit,
                                       "path": source.path}
        elif isinstance(source, CivitaiSource):
            data = {"civitai": source.version, **({"query": source.query} if source.query else {})}
        else:
            data = {"url": source.url}
        return {"folder": self.folder, "name": self.name, "source": data, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True)
class ModelsLock:
    files: tuple[LockedFile, ...]
    presets: tuple[str, ...] = ()
    workflows: tuple[str, ...] = ()
    installed: bool = False

    @property
    def keys(self) -> list[str]:
        return [f.key for f in self.files]

    def to_data(self) -> dict[str, object]:
        files = sorted(self.files, key=lambda f: (f.folder, f.name))
        return {
            "format": FORMAT,
            "version": VERSION,
            "made_from": {"presets": list(self.presets), "workflows": list(self.workflows),
                          "installed": self.installed},
            "files": [f.to_data() for f in files],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_data(), indent=2, ensure_ascii=False) + "\n"


# --- reading -------------------------------------------------------------------------------


def read(path: Path) -> ModelsLock:
    """The lock in file ``path``; LockInvalid (naming the file) when it cannot be used. Blocking."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise InvalidInput(f"no lock file at {path}; make one with `launchpad lock`") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read the lock file {path}: {exc.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise LockInvalid(f"{path} is larger than {MAX_BYTES // 2**20} MB; it is not a models lock")
    try:
        data = load_json(raw)
    except DocumentError as exc:
        raise LockInvalid(f"{path} is {exc}; a models lock is JSON (docs/lockfile.md)") from None
    try:
        return parse(data)
    except LockInvalid as exc:
        raise LockInvalid(f"{path}: {exc.message}", details=exc.details) from None


def parse(data: object) -> ModelsLock:
    """A lock from its JSON data. LockInvalid names the field and says what is expected."""
    if not isinstance(data, dict):
        raise _invalid("", "a models lock is a JSON object with `format`, `version` and `files`")
    if data.get("format") != FORMAT:
        raise _invalid("format", f"must be {FORMAT!r} (is this a models lock made by `launchpad lock`?)")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _invalid("version", f"must be a whole number; this Launchpad reads version {VERSION}")
    if version > VERSION:
        raise _invalid("version", f"is {version}: the lock was made by a newer Launchpad, which this one "
                       f"(reading version {VERSION}) cannot read; upgrade Launchpad")
    _no_unknown(data, _TOP_KEYS, "")
    presets, workflows, installed = _made_from(data.get("made_from", {}))
    entries = data.get("files")
    if not isinstance(entries, list):
        raise _invalid("files", "must be a list of files")
    files: list[LockedFile] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        locked = _file(entry, f"files[{index}]")
        if locked.key in seen:
            raise _invalid(f"files[{index}]", f"{locked.key} is listed twice")
        seen.add(locked.key)
        files.append(locked)
    return ModelsLock(tuple(files), presets, workflows, installed)


def _made_from(value: object) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    if not isinstance(value, dict):
        raise _invalid("made_from", "must be an object with presets, workflows and installed")
    _no_unknown(value, _MADE_FROM_KEYS, "made_from")
    presets, workflows = (_strings(value.get(k, []), f"made_from.{k}") for k in ("presets", "workflows"))
    installed = value.get("installed", False)
    if not isinstance(installed, bool):
        raise _invalid("made_from.installed", "must be true or false")
    return presets, workflows, installed


def _file(entry: object, where: str) -> LockedFile:
    if not isinstance(entry, dict):
        raise _invalid(where, "must be an object with folder, name, source, size and sha256")
    _no_unknown(entry, _FILE_KEYS, where)
    for name in ("folder", "name", "source"):
        if name not in entry:
            raise _invalid(f"{where}.{name}", "is required")
    folder = model_folders.canonical(str(entry["folder"])) if isinstance(entry["folder"], str) else None
    if folder is None:
        raise _invalid(f"{where}.folder", f"{entry['folder']!r} is not a model folder; use one of "
                       f"{', '.join(model_folders.FOLDER_NAMES[:8])}, ...")
    name = entry["name"]
    problem = unsafe_reason(name) if isinstance(name, str) else "must be a string"
    if problem:
        raise _invalid(f"{where}.name", problem)
    size = entry.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise _invalid(f"{where}.size", "must be a number of bytes (0 or more) or null")
    sha256 = entry.get("sha256")
    if sha256 is not None and (not isinstance(sha256, str) or not SHA256_PATTERN.match(sha256)):
        raise _invalid(f"{where}.sha256", "must be 64 lowercase hexadecimal digits or null")
    source, commit = _source(entry["source"], f"{where}.source")
    return LockedFile(folder, name, source, commit, size, sha256)


def _source(value: object, where: str) -> tuple[Source, str | None]:
    if not isinstance(value, dict):
        raise _invalid(where, "must be an object with one of hf, civitai or url")
    kinds = [k for k in ("hf", "civitai", "url") if k in value]
    if len(kinds) != 1:
        raise _invalid(where, "must have exactly one of hf (with revision, commit and path), civitai or url")
    kind = kinds[0]
    if kind == "hf":
        _no_unknown(value, {"hf", "revision", "commit", "path"}, where)
        repo, path, revision = value["hf"], value.get("path"), value.get("revision", "main")
        commit = value.get("commit")
        if not isinstance(repo, str) or not REPO_PATTERN.match(repo):
            raise _invalid(f"{where}.hf", "must be a Hugging Face repository id like org/name")
        if not isinstance(path, str) or unsafe_reason(path):
            raise _invalid(f"{where}.path", "must be the file's path inside the repository")
        if not isinstance(revision, str) or not REVISION_PATTERN.match(revision):
            raise _invalid(f"{where}.revision", "must be a branch, tag or commit")
        if commit is not None and (not isinstance(commit, str) or not COMMIT_PATTERN.match(commit)):
            raise _invalid(f"{where}.commit", "must be a 40-digit lowercase commit hash or null")
        return HFSource(repo, path, revision), commit
    if kind == "civitai":
        _no_unknown(value, {"civitai", "query"}, where)
        version, query = value["civitai"], value.get("query", "")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise _invalid(f"{where}.civitai", "must be a Civitai model version id (a whole number)")
        if not isinstance(query, str) or any(c in query for c in "#\n ") or "token=" in query.lower():
            raise _invalid(f"{where}.query", "must be the download link's file choice, like type=Model&fp=fp16")
        return CivitaiSource(version, query), None
    _no_unknown(value, {"url"}, where)
    url = value["url"]
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise _invalid(f"{where}.url", "must be an http:// or https:// URL")
    return UrlSource(url), None


def _strings(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _invalid(where, "must be a list of strings")
    return tuple(value)


def _no_unknown(data: Mapping[str, object], allowed: set[str], where: str) -> None:
    for name in data:
        if name not in allowed:
            place = f"{where}.{name}" if where else name
            raise _invalid(place, f"unknown field (allowed: {', '.join(sorted(allowed))})")


def _invalid(where: str, message: str) -> LockInvalid:
    text = f"{where}: {message}" if where else message
    return LockInvalid(text, details={"field": where} if where else None)

