"""Speed and ETA for people: an exponentially smoothed rate, sampled a few times a second."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

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
