"""A download job: one file of one or more presets, and the states it goes through.

A job goes queued -> resolving -> downloading -> verifying -> done, or ends failed or
cancelled. Its dict form is the ``launchpad.download`` event payload and what the API lists.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..catalog.schema import ModelFile

QUEUED, RESOLVING, DOWNLOADING, VERIFYING = "queued", "resolving", "downloading", "verifying"
DONE, FAILED, CANCELLED = "done", "failed", "cancelled"

ACTIVE = frozenset({QUEUED, RESOLVING, DOWNLOADING, VERIFYING})
FINAL = frozenset({DONE, FAILED, CANCELLED})
STATES = (QUEUED, RESOLVING, DOWNLOADING, VERIFYING, DONE, FAILED, CANCELLED)


def new_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass
class Job:
    """Mutable state of one file download. Only the manager changes it, on the event loop."""

    file: ModelFile
    target: Path
    preset_ids: list[str]
    id: str = field(default_factory=new_id)
    state: str = QUEUED
    bytes_done: int = 0
    bytes_total: int | None = None
    speed: float | None = None
    eta: float | None = None
    error: dict[str, object] | None = None
    message: str | None = None  # what it is doing or waiting for, for people
    origin: dict[str, str] = field(default_factory=dict)  # what the source said: commit, filename
    attempts: int = 0
    # its URL came from a client (a custom URL, a workflow's link): every hop is checked (url_policy)
    guarded: bool = False
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if self.bytes_total is None:
            self.bytes_total = self.file.size

    @property
    def key(self) -> str:
        return self.file.key

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def final(self) -> bool:
        return self.state in FINAL

    def to_dict(self) -> dict[str, object]:
        source = self.file.source
        return {
            "id": self.id,
            "key": self.key,
            "folder": self.file.folder,
            "name": self.file.name,
            "preset_ids": list(self.preset_ids),
            "source": {"kind": source.kind, "url": source.url, **self.origin},
            "state": self.state,
            "bytes_done": self.bytes_done,
            "bytes_total": self.bytes_total,
            "speed": self.speed,
            "eta": self.eta,
            "error": self.error,
            "message": self.message,
            "path": str(self.target),
            "attempts": self.attempts,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
