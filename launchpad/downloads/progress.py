"""Progress for people: a smoothed speed, the ETA, and a preset's jobs added up.

A preset's (or a group's) progress is an aggregate of the newest job of each of its files;
a file with no job was already on disk when the preset was installed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from .jobs import Job, JobState, PresetState

if TYPE_CHECKING:
    from ..catalog.schema import Preset
    from .api import PresetProgress

# Seconds over which the speed forgets: long enough to ride out bursts, short enough to
# follow a real change (a segment finishing, the network slowing down).
SMOOTHING_SECONDS = 3.0


class SpeedMeter:
    """Feed it the running byte count; it answers a smoothed bytes-per-second."""

    def __init__(self, smoothing: float = SMOOTHING_SECONDS) -> None:
        self._smoothing = smoothing
        self._last_bytes: int | None = None
        self._last_time = 0.0
        self.speed: float | None = None

    def reset(self) -> None:
        self._last_bytes = None
        self.speed = None

    def sample(self, total_bytes: int, now: float | None = None) -> float | None:
        now = time.monotonic() if now is None else now
        if self._last_bytes is None:
            self._last_bytes, self._last_time = total_bytes, now
            return self.speed
        elapsed = now - self._last_time
        if elapsed <= 0:
            return self.speed
        rate = max(0.0, (total_bytes - self._last_bytes) / elapsed)
        if self.speed is None:
            self.speed = rate
        else:
            weight = 1.0 - math.exp(-elapsed / self._smoothing)
            self.speed += weight * (rate - self.speed)
        self._last_bytes, self._last_time = total_bytes, now
        return self.speed


def eta(remaining: int | None, speed: float | None) -> float | None:
    """Seconds left, or None when the size or a meaningful speed is unknown."""
    if remaining is None or not speed or speed < 1:
        return None
    return max(0.0, remaining / speed)


def overall_eta(remaining: int | None, speed: float | None, running: Iterable[float | None]) -> float | None:
    """Seconds left for a group of files: all its remaining bytes at its total speed, but never
    shorter than the ETA of any of its running files (the group is done only when they are)."""
    total = eta(remaining, speed)
    if total is None:
        return None
    return max([total, *(seconds for seconds in running if seconds is not None)])


def aggregate(preset_id: str, files: Mapping[str, int | None], newest: Callable[[str], Job | None]) -> PresetProgress:
    """The progress of ``files`` (file key -> size the preset lists) from each one's newest job."""
    bytes_total = bytes_done = files_done = files_failed = 0
    sizes_known = True
    states: set[JobState] = set()
    speed = 0.0
    running_etas: list[float | None] = []
    for key, size in files.items():
        job = newest(key)
        if job is None:  # present when the preset was installed
            files_done += 1
            bytes_total += size or 0
            bytes_done += size or 0
            continue
        states.add(job.state)
        total = job.bytes_total if job.bytes_total is not None else size
        if total is None:
            sizes_known = False
        bytes_total += total or 0
        bytes_done += job.bytes_done if job.state != JobState.DONE else (total or job.bytes_done)
        files_done += job.state == JobState.DONE
        files_failed += job.state == JobState.FAILED
        if job.active:
            speed += job.speed or 0.0
            running_etas.append(job.eta)
    state = _overall(states)
    active = state in (PresetState.DOWNLOADING, PresetState.QUEUED)
    return {
        "preset_id": preset_id,
        "state": state.value,
        "active": active,
        "bytes_done": bytes_done,
        "bytes_total": bytes_total if sizes_known else None,
        "speed": speed if active else None,
        "eta": overall_eta(bytes_total - bytes_done, speed, running_etas) if active and sizes_known else None,
        "files_total": len(files),
        "files_done": files_done,
        "files_failed": files_failed,
    }


def _overall(states: set[JobState]) -> PresetState:
    """The most pressing of the jobs' states: work going on, then waiting, then how it ended."""
    if states & {JobState.RESOLVING, JobState.DOWNLOADING, JobState.VERIFYING}:
        return PresetState.DOWNLOADING
    if JobState.QUEUED in states:
        return PresetState.QUEUED
    if JobState.FAILED in states:
        return PresetState.FAILED
    if JobState.CANCELLED in states:
        return PresetState.CANCELLED
    return PresetState.DONE


def removed(preset: Preset) -> PresetProgress:
    """The progress a preset has just after its files were uninstalled."""
    return removed_group(preset.id, len(preset.files), preset.total_size)


def removed_group(group: str, files: int, bytes_total: int | None = None) -> PresetProgress:
    """The progress of a preset or group just removed (uninstalled, or cleared from the list)."""
    return {
        "preset_id": group,
        "state": PresetState.REMOVED.value,
        "active": False,
        "bytes_done": 0,
        "bytes_total": bytes_total,
        "speed": None,
        "eta": None,
        "files_total": files,
        "files_done": 0,
        "files_failed": 0,
    }
