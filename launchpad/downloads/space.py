"""Free disk space against what the queue still has to write."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from .. import humanize
from ..errors import InsufficientSpace


def existing_ancestor(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or ".")


def device(path: Path) -> int:
    return os.stat(existing_ancestor(path)).st_dev


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(existing_ancestor(path)).free


def check(target: Path, queued: Iterable[tuple[Path, int]], margin: int) -> None:
    """Raise InsufficientSpace unless ``target``'s disk holds every queued byte on it plus ``margin``.

    ``queued`` is (target, bytes still to write) for every unfinished job, this one included.
    Blocking (stat calls): run in a thread.
    """
    dev = device(target.parent)
    needed = sum(remaining for path, remaining in queued if remaining > 0 and device(path.parent) == dev)
    free = free_bytes(target.parent)
    if free >= needed + margin:
        return
    missing = needed + margin - free
    raise InsufficientSpace(
        f"not enough disk space on {existing_ancestor(target.parent)}: the queued downloads need "
        f"{humanize.size(needed)} plus a {humanize.size(margin)} safety margin, {humanize.size(free)} is free; "
        f"free {humanize.size(missing)} (or lower DOWNLOAD_FREE_SPACE_MARGIN) and retry",
        details={"needed": needed, "margin": margin, "free": free, "missing": missing},
    )
