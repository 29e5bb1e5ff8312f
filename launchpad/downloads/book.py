"""Every job this process knows, and the one way their state changes.

The book holds the jobs by id and by file key (the newest job of each file), which files each
preset or group wants, and what is transferring. A change goes through :meth:`JobBook.touch`
or :meth:`JobBook.set_state`, which emit ``launchpad.download`` at once and note the change
for the journal; progress goes out from :meth:`JobBook.tick` at most ``EVENT_HZ`` times a
second. Only the manager's loop touches it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from .. import events as event_types
from ..errors import NotFound
from ..events import EventBus
from .jobs import Job, JobState
from .journal import JournalWrites
from .progress import SpeedMeter, aggregate, eta

if TYPE_CHECKING:
    from .api import PresetProgress, Snapshot
    from .transfer import Transfer

EVENT_HZ = 4
TICK = 1.0 / EVENT_HZ


class JobBook:
    def __init__(self, events: EventBus, writes: JournalWrites) -> None:
        self.events = events
        self.writes = writes
        self.jobs: dict[str, Job] = {}  # id -> job
        self._by_key: dict[str, str] = {}  # file key -> id of its newest job
        self.presets: dict[str, dict[str, int | None]] = {}  # preset id -> {file key: size}
        self._live: dict[str, tuple[Transfer, SpeedMeter]] = {}  # job id -> its transfer
        self._dirty: set[str] = set()  # ids whose progress is not sent yet
        self._changed = asyncio.Event()

    def reset(self) -> None:
        """Fresh events for a new start (an event belongs to the loop that waited on it)."""
        self._changed = asyncio.Event()

    # --- lookups ------------------------------------------------------------------------------

    def get(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise NotFound(f"unknown download job {job_id!r}", details={"job": job_id})
        return job

    def newest(self, key: str) -> Job | None:
        """The newest job of the file ``key``, whatever its state."""
        return self.jobs.get(self._by_key.get(key, ""))

    def is_newest(self, job: Job) -> bool:
        return self._by_key.get(job.key) == job.id

    def active_job(self, key: str) -> Job | None:
        job = self.newest(key)
        return job if job is not None and job.active else None

    def active(self) -> list[Job]:
        return [job for job in self.jobs.values() if job.active]

    def remaining(self) -> list[tuple[Path, int]]:
        """(target, bytes still to write) of every unfinished job: what free space must cover."""
        return [(j.target, (j.bytes_total or 0) - j.bytes_done) for j in self.active()]

    # --- membership ---------------------------------------------------------------------------

    def add(self, job: Job) -> None:
        old = self.newest(job.key)
        if old is not None and not old.active:
            del self.jobs[old.id]  # a new try at the same file replaces the finished one
        self.jobs[job.id] = job
        self._by_key[job.key] = job.id

    def forget(self, job: Job) -> None:
        self.jobs.pop(job.id, None)
        if self._by_key.get(job.key) == job.id:
            del self._by_key[job.key]
        self.writes.forget_job(job)

    def set_files(self, group: str, files: dict[str, int | None]) -> None:
        """The files ``group`` (a preset, ``workflow:<name>``) wants: its progress adds them up."""
        self.presets[group] = files
        self.writes.preset(group)

    def drop_preset(self, preset_id: str) -> None:
        self.presets.pop(preset_id, None)
        self.writes.forget_preset(preset_id)

    # --- changes ------------------------------------------------------------------------------

    def touch(self, job: Job) -> None:
        """``job`` changed: tell the listeners and the journal."""
        job.updated_at = time.time()
        self._dirty.discard(job.id)
        self.events.emit(event_types.DOWNLOAD, job.to_dict())
        self.writes.job(job.key)

    def say(self, job: Job, message: str | None) -> None:
        """What ``job`` is doing or waiting for, for people (sent only when it changed)."""
        if job.message != message:
            job.message = message
            self.touch(job)

    def set_state(self, job: Job, state: JobState, message: str | None = None) -> None:
        job.state = state
        job.message = message
        if not state.transferring:
            job.speed = job.eta = None
        self.touch(job)
        for pid in job.preset_ids:
            self.emit_preset(pid)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait(self, job_ids: Iterable[str] | None = None) -> None:
        """Until the given jobs (default: all jobs known now) are no longer active."""
        ids = list(self.jobs) if job_ids is None else list(job_ids)
        for job_id in ids:
            self.get(job_id)
        while True:
            if not any(self.jobs[i].active for i in ids if i in self.jobs):
                return
            await self._changed.wait()

    # --- progress -----------------------------------------------------------------------------

    def watch(self, job: Job, transfer: Transfer) -> None:
        """Report ``transfer``'s bytes as ``job``'s progress until :meth:`unwatch`."""
        self._live[job.id] = (transfer, SpeedMeter())

    def unwatch(self, job: Job) -> None:
        self._live.pop(job.id, None)

    def tick(self) -> None:
        """Send the progress of every job that moved since the last tick, and of their presets."""
        now = time.monotonic()
        for job_id, (transfer, meter) in list(self._live.items()):
            job = self.jobs.get(job_id)
            if job is None or not job.state.transferring:
                continue
            job.bytes_done = transfer.received
            if transfer.size is not None:
                job.bytes_total = transfer.size
            job.speed = meter.sample(job.bytes_done, now)
            remaining = job.bytes_total - job.bytes_done if job.bytes_total is not None else None
            job.eta = eta(remaining, job.speed)
            job.updated_at = time.time()
            self._dirty.add(job_id)
        presets: set[str] = set()
        for job_id in list(self._dirty):
            job = self.jobs.get(job_id)
            if job is not None:
                self.events.emit(event_types.DOWNLOAD, job.to_dict())
                presets.update(job.preset_ids)
        self._dirty.clear()
        for pid in presets:
            self.emit_preset(pid)

    def emit_preset(self, preset_id: str) -> None:
        if preset_id in self.presets:
            self.events.emit(event_types.PRESET, self.progress(preset_id))

    # --- read views ---------------------------------------------------------------------------

    def progress(self, preset_id: str) -> PresetProgress:
        return aggregate(preset_id, self.presets.get(preset_id, {}), self.newest)

    def snapshot(self) -> Snapshot:
        """Every job (oldest first) and every preset's progress, as plain JSON-ready data."""
        jobs = sorted(self.jobs.values(), key=lambda j: j.created_at)
        return {"jobs": [job.to_dict() for job in jobs], "presets": {pid: self.progress(pid) for pid in self.presets}}
