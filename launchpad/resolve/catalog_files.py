"""Source 2: the catalog (curated, template-derived and the user's own presets).

A preset listing the same folder and file is an ``exact`` candidate; one whose sha256 is the
workflow's hash is a ``hash`` candidate whatever it is called; a file of the same name in another
folder, or under another case, is a ``name`` match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

from ..catalog import Catalog, ModelFile
from .candidates import EXACT, NAME, Candidate, Wanted


@dataclass
class Listed:
    file: ModelFile
    presets: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # of those presets, for people
    origins: set[str] = field(default_factory=set)  # curated | template | user

    @property
    def origin(self) -> str:
        return "template" if self.origins == {"template"} else "catalog"


class CatalogIndex:
    """The catalog's files by key, by file name and by sha256, built once per analysis."""

    def __init__(self, catalog: Catalog) -> None:
        self.by_key: dict[str, Listed] = {}
        for preset in catalog.presets.values():
            for model_file in preset.files:
                listed = self.by_key.setdefault(model_file.key, Listed(model_file))
                listed.presets.append(preset.id)
                listed.names.append(preset.name)
                listed.origins.add(preset.origin)
        self.by_name: dict[str, list[Listed]] = {}
        self.by_sha256: dict[str, list[Listed]] = {}
        for listed in self.by_key.values():
            self.by_name.setdefault(PurePosixPath(listed.file.name).name.lower(), []).append(listed)
            if listed.file.sha256:
                self.by_sha256.setdefault(listed.file.sha256, []).append(listed)

    def get(self, key: str) -> Listed | None:
        return self.by_key.get(key)

    def candidates(self, wanted: Wanted) -> list[Candidate]:
        found = []
        exact = self.by_key.get(wanted.key)
        if exact is not None:
            found.append(_candidate(exact, EXACT, None))
        for listed in self.by_name.get(wanted.basename.lower(), []):
            if listed is exact:
                continue
            same = listed.file.folder == wanted.folder and PurePosixPath(listed.file.name).name == wanted.basename
            found.append(_candidate(listed, EXACT if same else NAME, listed.file.key))
        for listed in self.by_sha256.get(wanted.sha256 or "", []):
            if all(c.source != listed.file.source for c in found):
                found.append(_candidate(listed, NAME, listed.file.key))  # judged() raises it to a hash match
        return found


def _candidate(listed: Listed, certainty: str, found_as: str | None) -> Candidate:
    model_file = listed.file
    exact = model_file.size is not None
    return Candidate(
        listed.origin, certainty, model_file.source,
        size=model_file.size if exact else model_file.estimated_size, size_exact=exact,
        sha256=model_file.sha256, where=f"preset {listed.names[0]}", found_as=found_as,
        presets=tuple(sorted(listed.presets)),
    )
