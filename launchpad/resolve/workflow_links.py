"""Source 1: the links a workflow carries itself.

Recent frontends save, on a loader's ``properties.models`` and in the workflow's top-level
``models``, entries of ``{name, directory, url, hash, hash_type}``. A link is the workflow's own
word for where the file is (an ``exact`` candidate); a hash names the bytes, which the other
sources are matched against and the download is checked by (when it is a sha256).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..catalog.schema import source_from_url
from .candidates import EXACT, Candidate

HASH_TYPES = frozenset({"sha256", "autov2", "autov1", "autov3", "blake3", "crc32"})  # what Civitai looks up


def hash_of(entries: Iterable[Mapping[str, object]]) -> tuple[str | None, str | None]:
    """The first usable (hash, hash_type) the entries give, lower case; (None, None) when none does."""
    for entry in entries:
        digest, kind = entry.get("hash"), str(entry.get("hash_type") or "").strip().lower()
        if isinstance(digest, str) and digest.strip().isalnum() and (kind in HASH_TYPES or not kind):
            return digest.strip().lower(), kind or None
    return None, None


def candidates(entries: Iterable[Mapping[str, object]]) -> tuple[list[Candidate], str]:
    """A candidate per usable link, and why a link was not usable (empty when all were)."""
    found, problem = [], ""
    for entry in entries:
        url = entry.get("url")
        if not isinstance(url, str) or not url.strip():
            continue
        try:
            source = source_from_url(url.strip())
        except ValueError as exc:
            problem = f"the workflow's link for it is unusable: {exc}"
            continue
        found.append(Candidate("workflow", EXACT, source, where="this workflow"))
    return found, problem
