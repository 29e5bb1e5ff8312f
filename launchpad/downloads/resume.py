"""What part of a partial file is valid: byte ranges recorded in a small sidecar beside it.

``model.safetensors.part`` holds the bytes (written at their offsets, so parallel segments
can fill it in any order); ``model.safetensors.part.json`` records which ranges are written
and what they were downloaded from. A range is recorded only after its write returned, and
the sidecar is saved after an fdatasync of the partial, so after a crash (``kill -9``, a pod
restart) every recorded byte is on disk and only unrecorded ones are fetched again.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

VERSION = 1


def sidecar_path(partial: Path) -> Path:
    return partial.with_name(partial.name + ".json")


@dataclass
class ResumeState:
    """Completed byte ranges of one partial file, half-open and merged."""

    identity: str  # what the bytes are (sha256, or ETag and size, or URL and size)
    size: int | None
    done: list[list[int]] = field(default_factory=list)

    @property
    def bytes_done(self) -> int:
        return sum(end - start for start, end in self.done)

    @property
    def prefix(self) -> int:
        """End of the contiguous run of bytes starting at 0."""
        return self.done[0][1] if self.done and self.done[0][0] == 0 else 0

    @property
    def complete(self) -> bool:
        return self.size is not None and self.done == ([[0, self.size]] if self.size else [])

    def reset(self, size: int | None = None) -> None:
        self.done = []
        if size is not None:
            self.size = size

    def add(self, start: int, end: int) -> None:
        """Record ``[start, end)`` as written, merging with its neighbours."""
        if end <= start:
            return
        merged: list[list[int]] = []
        for a, b in sorted([*self.done, [start, end]]):
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        self.done = merged

    def gaps(self) -> list[tuple[int, int]]:
        """The ranges still missing (needs a known size)."""
        assert self.size is not None
        gaps, position = [], 0
        for start, end in self.done:
            if start > position:
                gaps.append((position, start))
            position = max(position, end)
        if position < self.size:
            gaps.append((position, self.size))
        return gaps

    def to_json(self) -> str:
        return json.dumps({"version": VERSION, "identity": self.identity, "size": self.size, "done": self.done})

    @classmethod
    def from_json(cls, text: str) -> ResumeState | None:
        try:
            data = json.loads(text)
            if data.get("version") != VERSION:
                return None
            done = [[int(a), int(b)] for a, b in data["done"]]
            size = data["size"]
            state = cls(str(data["identity"]), int(size) if size is not None else None)
        except (ValueError, TypeError, KeyError, AttributeError):
            return None
        for start, end in done:
            if start < 0 or end < start or (state.size is not None and end > state.size):
                return None
            state.add(start, end)
        return state


def load(partial: Path) -> ResumeState | None:
    """The sidecar of ``partial`` if both exist and the sidecar is readable and sane."""
    try:
        text = sidecar_path(partial).read_text(encoding="utf-8")
        actual = partial.stat().st_size
    except (OSError, UnicodeDecodeError):
        return None
    state = ResumeState.from_json(text)
    if state is None or (state.done and state.done[-1][1] > actual):
        return None  # records bytes the file does not have: trust nothing
    return state


def save(partial: Path, text: str) -> None:
    """Write the sidecar through a temp file and a rename, so a crash leaves the old or the new one."""
    path = sidecar_path(partial)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def discard(partial: Path) -> None:
    """Remove a partial file and its sidecar."""
    for path in (partial, sidecar_path(partial), sidecar_path(partial).with_name(sidecar_path(partial).name + ".tmp")):
        path.unlink(missing_ok=True)
