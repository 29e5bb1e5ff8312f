"""A download job: one file of one or more presets, and the states it goes through.

A job goes queued -> resolving -> downloading -> verifying -> done, or ends failed or
cancelled. Its dict form (:class:`~.api.JobData`) is the ``launchpad.download`` event payload
and what the API lists; ``active`` in it says whether the job still has work to do, so no
client needs its own list of states.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the routes' schema imports the states at ComfyUI's import: keep this light
    from ..catalog.schema import ModelFile
    from .api import JobData, JobError


class JobState(str, Enum):
    """A job's state. A ``str`` so that it compares and serialises as its value ("queued")."""

    QUEUED = "queued"
    RESOLVING = "resolving"
    DOWNLOADING = "downloading"
    VERIFYING = "verifying"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:  # in messages: "is already done", on every Python version
        return self.value

    @property
    def active(self) -> bool:
        """The job still has work to do (queued or in progress)."""
        return self in ACTIVE

    @property
    def transferring(self) -> bool:
        """Bytes are moving or being checked: the states that report speed and progress."""
        return self in (JobState.DOWNLOADING, JobState.VERIFYING)


class PresetState(str, Enum):
    """A preset's (or a group's) progress as a whole: the most pressing state among its jobs."""

    QUEUED = "queued"
    DOWNLOADING = "downloading"  # any job resolving, downloading or verifying
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REMOVED = "removed"  # just uninstalled

    def __str__(self) -> str:
        return self.value


ACTIVE = frozenset({JobState.QUEUED, JobState.RESOLVING, JobState.DOWNLOADING, JobState.VERIFYING})
FINAL = frozenset({JobState.DONE, JobState.FAILED, JobState.CANCELLED})
STATES = tuple(JobState)


def new_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass
class Job:
    """Mutable state of one file download. Only the manager changes it, on the event loop."""

    file: ModelFile
    target: Path
    preset_ids: list[str]
    id: str = field(default_factory=new_id)
    state: JobState = JobState.QUEUED
    bytes_done: int = 0
    bytes_total: int | None = None
    speed: float | None = None
    eta: float | None = None
    error: JobError | None = None
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
        return self.state.active

    @property
    def final(self) -> bool:
        return self.state in FINAL

    def to_dict(self) -> JobData:
        source = self.file.source
        return {
            "id": self.id,
            "key": self.key,
            "folder": self.file.folder,
            "name": self.file.name,
            "preset_ids": list(self.preset_ids),
            "source": {"kind": source.kind, "url": source.url, **self.origin},
            "state": self.state.value,
            "active": self.active,
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
