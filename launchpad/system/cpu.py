"""CPU load: total and per-core percent between two readings, load average, core counts.

Percentages come from our own pair of CPU-time readings rather than psutil.cpu_percent(),
whose "since the last call" state is shared by every caller in the process (ComfyUI nodes
included). The first reading waits a moment so it has an interval to measure.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

psutil: ModuleType | None
try:
    import psutil
except ImportError:  # a runtime dependency, but a reading must never fail for want of it
    psutil = None


@dataclass(frozen=True)
class CpuReading:
    percent: float | None  # over the CPUs we may run on
    per_core: tuple[float, ...]
    load_average: tuple[float, float, float] | None  # 1, 5, 15 minutes (the host's, in a container)
    count: int  # CPUs this process may run on
    host_count: int | None
    limit: float | None  # CPUs' worth of time a cgroup quota allows (None: no quota)


def _busy_and_total(times: NamedTuple) -> tuple[float, float]:
    values: dict[str, float] = times._asdict()  # psutil's scputimes
    # guest time is already counted in user/nice; iowait is a CPU waiting, not working
    total = sum(values.values()) - values.get("guest", 0.0) - values.get("guest_nice", 0.0)
    idle = values.get("idle", 0.0) + values.get("iowait", 0.0)
    return total - idle, total


def _percent(before: NamedTuple, after: NamedTuple) -> tuple[float, float]:
    busy0, total0 = _busy_and_total(before)
    busy1, total1 = _busy_and_total(after)
    return max(0.0, busy1 - busy0), max(0.0, total1 - total0)


def _allowed(count: int) -> list[int]:
    """Indexes of the CPUs this process may use (a cpuset container sees only its own)."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(count))
    return allowed if allowed and allowed[-1] < count else list(range(count))


def load_average(proc_root: Path) -> tuple[float, float, float] | None:
    try:
        parts = (proc_root / "loadavg").read_text().split()
        return float(parts[0]), float(parts[1]), float(parts[2])
    except (OSError, ValueError, IndexError):
        pass
    try:
        one, five, fifteen = os.getloadavg()
        return round(one, 2), round(five, 2), round(fifteen, 2)
    except (AttributeError, OSError):
        return None


class CpuMeter:
    """Thread-safe percent meter; readings closer together than ``min_interval`` share a result."""

    def __init__(self, min_interval: float = 0.1) -> None:
        self._min_interval = min_interval
        self._lock = threading.Lock()
        self._last: list | None = None
        self._last_at = 0.0
        self._result: tuple[float | None, tuple[float, ...]] = (None, ())

    def _times(self) -> list | None:
        if psutil is None:
            return None
        try:
            return list(psutil.cpu_times(percpu=True))
        except Exception:
            return None

    def percent(self) -> tuple[float | None, tuple[float, ...]]:
        """(total percent, per-core percents) since the previous call."""
        with self._lock:
            if self._last is not None and time.monotonic() - self._last_at < self._min_interval:
                return self._result
            before = self._last
            if before is None:
                before = self._times()
                time.sleep(self._min_interval)
            after = self._times()
            self._last, self._last_at = after, time.monotonic()
            if before is None or after is None or len(before) != len(after):
                self._result = (None, ())
                return self._result
            cores = _allowed(len(after))
            deltas = [_percent(before[i], after[i]) for i in cores]
            per_core = tuple(round(100.0 * busy / total, 1) if total else 0.0 for busy, total in deltas)
            all_busy, all_total = sum(d[0] for d in deltas), sum(d[1] for d in deltas)
            self._result = (round(100.0 * all_busy / all_total, 1) if all_total else 0.0, per_core)
            return self._result


def read_cpu(meter: CpuMeter, proc_root: Path, limit: float | None) -> CpuReading:
    percent, per_core = meter.percent()
    host_count = os.cpu_count()
    return CpuReading(
        percent=percent,
        per_core=per_core,
        load_average=load_average(proc_root),
        count=len(per_core) or len(_allowed(host_count or 0)) or 1,
        host_count=host_count,
        limit=limit,
    )
