"""What every source of the resolver answers: a candidate for one model a workflow wants.

A candidate says where the bytes are (a catalog source: Hugging Face, Civitai or a URL), where
it was found (``origin``, and ``where`` for people), and how sure the match is:

- ``hash``: the source states the hash the workflow gives for the file;
- ``exact``: the same file name in the same folder, in a source that knows that file (the
  workflow's own link, a preset, a known repository's listing, ComfyUI-Manager's list), and no
  other file of that name there;
- ``name``: only the name matches (another folder, another case, one of several files of that
  name, or bytes whose hash differs from the workflow's): installed only when the user says so.

Whatever the source, the file is saved under the folder and name the workflow's loader looks
for, and every link passes the same URL policy as a workflow's own (https to an allowed host).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from .. import humanize
from ..catalog.schema import ModelFile, Source
from ..url_policy import host_allowed
from . import CERTAINTIES, EXACT, HASH, NAME, ORIGINS

CONFIDENT = frozenset({HASH, EXACT})
CERTAINTY_WORDS = {HASH: "same hash", EXACT: "same file name", NAME: "name match"}
SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Wanted:
    """A model file a workflow's loader names, with the hash the workflow gives for it, if any."""

    folder: str
    name: str
    hash: str | None = None  # lower case
    hash_type: str | None = None  # "sha256", "autov2", ... as the workflow says (lower case)

    @property
    def key(self) -> str:
        return f"{self.folder}/{self.name}"

    @property
    def basename(self) -> str:
        return PurePosixPath(self.name).name

    @property
    def sha256(self) -> str | None:
        """The hash when it is a sha256 (the download is then checked against it)."""
        if self.hash and SHA256.match(self.hash) and self.hash_type in (None, "", "sha256"):
            return self.hash
        return None


@dataclass(frozen=True)
class Candidate:
    origin: str  # one of ORIGINS
    certainty: str  # one of CERTAINTIES
    source: Source
    size: int | None = None
    size_exact: bool = False  # the source's byte count (the download is checked against it), not a rounding
    sha256: str | None = None  # what the source states the bytes hash to
    where: str = ""  # the repository, list or model it was found in, for people
    found_as: str | None = None  # the source's name for the file, when it is not the wanted one
    presets: tuple[str, ...] = ()  # catalog presets that list the file

    @property
    def id(self) -> str:
        """Stable across analyses of the same workflow: a client names its choice by it."""
        return hashlib.sha256(f"{self.origin} {self.source.url}".encode()).hexdigest()[:12]

    @property
    def confident(self) -> bool:
        return self.certainty in CONFIDENT

    @property
    def label(self) -> str:
        """For people: "Comfy-Org/Wan_2.2_ComfyUI_Repackaged · same file name · 9.9 GB"."""
        parts = [self.where, CERTAINTY_WORDS[self.certainty]]
        if self.size is not None:
            parts.append(("" if self.size_exact else "~") + humanize.size(self.size))
        return " · ".join(parts)

    def model_file(self, wanted: Wanted) -> ModelFile:
        """The file to download: saved as the workflow names it, checked by every hash and size known."""
        return ModelFile(
            wanted.folder, wanted.name, self.source,
            size=self.size if self.size_exact else None,
            sha256=self.sha256 or wanted.sha256,
            estimated_size=None if self.size_exact else self.size,
        )

    def to_dict(self, problem: str | None) -> dict[str, object]:
        return {
            "id": self.id,
            "origin": self.origin,
            "certainty": self.certainty,
            "where": self.where,
            "label": self.label if problem is None else f"{self.label} · not allowed here",
            "found_as": self.found_as,
            "source": self.source.to_dict(),
            "size": self.size,
            "size_estimated": self.size is not None and not self.size_exact,
            "sha256": self.sha256,
            "presets": list(self.presets),
            "installable": problem is None,
            "reason": problem or "",
        }


def link_problem(url: str, hosts: Sequence[str]) -> str | None:
    """Why a download link may not be used, or None: https only, to an allowed host (url_policy)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host_allowed(host, tuple(hosts)):
        return f"{host or url} is not an allowed download host ({', '.join(hosts)}); see ALLOWED_URL_HOSTS"
    if parts.scheme != "https":
        return f"the link to {host} is not https"
    return None


def judged(wanted: Wanted, candidate: Candidate) -> Candidate:
    """``candidate`` with its certainty checked against the workflow's hash: the same hash makes it
    ``hash``, another sha256 makes it only a ``name`` match (the name is right, the bytes are not)."""
    stated = candidate.sha256
    if not wanted.hash or not stated:
        return candidate
    if wanted.sha256 == stated or (wanted.hash_type == "autov2" and stated.startswith(wanted.hash)):
        return replace(candidate, certainty=HASH)
    if wanted.sha256 is not None:
        return replace(candidate, certainty=NAME)
    return candidate


def ranked(candidates: Iterable[Candidate], hosts: Sequence[str]) -> list[Candidate]:
    """Best first: surest, then usable under the URL policy, then the most trusted origin. One per link
    (the better origin keeps it, with the presets of both)."""
    def order(candidate: Candidate) -> tuple[int, bool, int]:
        usable = link_problem(candidate.source.url, hosts) is None
        return CERTAINTIES.index(candidate.certainty), not usable, ORIGINS.index(candidate.origin)

    best: dict[str, Candidate] = {}
    for candidate in sorted(candidates, key=order):
        kept = best.get(candidate.source.url)
        if kept is None:
            best[candidate.source.url] = candidate
        elif candidate.presets:
            presets = tuple(dict.fromkeys((*kept.presets, *candidate.presets)))
            best[candidate.source.url] = replace(kept, presets=presets)
    return list(best.values())


def only_one(candidates: list[Candidate]) -> list[Candidate]:
    """Exact matches that disagree (files of that name whose hashes or sizes differ) are only name
    matches: which one the workflow meant is the user's call. Without such evidence, files of the
    same folder and name in several places are taken for the same file."""
    exact = [c for c in candidates if c.certainty == EXACT]
    if not any(_differ(a, b) for i, a in enumerate(exact) for b in exact[i + 1:]):
        return candidates
    return [replace(c, certainty=NAME) if c.certainty == EXACT else c for c in candidates]


SIZE_SLACK = 0.05  # sizes a list rounds ("4.71MB") still tell two files apart beyond this


def _differ(a: Candidate, b: Candidate) -> bool:
    if a.sha256 and b.sha256:
        return a.sha256 != b.sha256
    if a.size is None or b.size is None:
        return False
    if a.size_exact and b.size_exact:
        return a.size != b.size
    return abs(a.size - b.size) > SIZE_SLACK * max(a.size, b.size)
