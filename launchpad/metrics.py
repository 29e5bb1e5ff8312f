"""Prometheus text exposition (format 0.0.4) of downloads and system figures, without a client library.

The HTTP layer serves :func:`render_metrics` at ``/launchpad/metrics`` with
:data:`CONTENT_TYPE`. Inputs are the plain dicts the rest of the core already produces: the
downloads snapshot, a system reading (launchpad/system), the :class:`DownloadCounters` the
service keeps since the process started, and ComfyUI's queue depth. Counters end in
``_total``; gauges are what is true right now. A figure that is unknown (None) is left out
rather than reported as 0.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from . import __version__
from .downloads.jobs import JobState
from .events import DOWNLOAD

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "launchpad_"
# every state a job can be in, reported even at 0 so dashboards see a flat line, not a gap
JOB_STATES = tuple(state.value for state in JobState)

Labels = tuple[tuple[str, str], ...]


@dataclass
class _Family:
    name: str
    kind: str  # "gauge" or "counter"
    help: str
    samples: list[tuple[Labels, float]] = field(default_factory=list)

    def add(self, value: object, **labels: object) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return
        if isinstance(value, float) and not math.isfinite(value):
            return
        self.samples.append((tuple((k, str(v)) for k, v in labels.items()), value))


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else repr(float(value))


def _render(families: Iterable[_Family]) -> str:
    lines: list[str] = []
    for family in families:
        if not family.samples:
            continue
        name = PREFIX + family.name
        lines.append(f"# HELP {name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {name} {family.kind}")
        for labels, value in family.samples:
            text = ",".join(f'{key}="{_escape_label(val)}"' for key, val in labels)
            lines.append(f"{name}{{{text}}} {_number(value)}" if text else f"{name} {_number(value)}")
    return "\n".join(lines) + "\n"


def _download_families(snapshot: Mapping) -> list[_Family]:
    jobs = [job for job in snapshot.get("jobs") or [] if isinstance(job, Mapping)]
    by_state = dict.fromkeys(JOB_STATES, 0)
    done_bytes = remaining = 0
    for job in jobs:
        state = str(job.get("state") or "unknown")
        by_state[state] = by_state.get(state, 0) + 1
        done = job.get("bytes_done")
        total = job.get("bytes_total")
        if isinstance(done, int):
            done_bytes += done
        active = state in JOB_STATES and JobState(state).active
        if active and isinstance(total, int) and isinstance(done, int):
            remaining += max(0, total - done)
    states = _Family("download_jobs", "gauge", "Download jobs by state, in the current snapshot.")
    for state, count in by_state.items():
        states.add(count, state=state)
    queue = _Family("download_queue_depth", "gauge", "Download jobs waiting for a free download slot.")
    queue.add(by_state[JobState.QUEUED.value])
    done = _Family("download_bytes_done", "gauge", "Bytes on disk of the download jobs in the current snapshot.")
    done.add(done_bytes)
    left = _Family("download_bytes_remaining", "gauge", "Bytes still to fetch for unfinished jobs of known size.")
    left.add(remaining)

    presets = _Family("presets_installing", "gauge", "Preset installs in the current snapshot, by state.")
    preset_states: dict[str, int] = {}
    raw_presets = snapshot.get("presets") or {}
    for preset in raw_presets.values() if isinstance(raw_presets, Mapping) else []:
        if isinstance(preset, Mapping) and preset.get("state"):
            preset_states[str(preset["state"])] = preset_states.get(str(preset["state"]), 0) + 1
    for state, count in sorted(preset_states.items()):
        presets.add(count, state=state)
    return [states, queue, done, left, presets]


def _system_families(reading: Mapping) -> list[_Family]:
    cpu = reading.get("cpu") or {}
    memory = reading.get("memory") or {}
    gpu = reading.get("gpu") or {}
    cpu_percent = _Family("cpu_percent", "gauge", "CPU busy percent over the CPUs this process may use.")
    cpu_percent.add(cpu.get("percent"))
    cpu_limit = _Family("cpu_limit_cores", "gauge", "CPUs' worth of time the container's cgroup quota allows.")
    cpu_limit.add(cpu.get("limit"))

    source = str(memory.get("source") or "unknown")
    memory_families = []
    memory_help = {
        "total": "Memory limit (container) or RAM (host)",
        "used": "Memory in use",
        "available": "Memory free",
    }
    for key, text in memory_help.items():
        family = _Family(f"memory_{key}_bytes", "gauge", f"{text}; the source label says which.")
        family.add(memory.get(key), source=source)
        memory_families.append(family)

    devices = [d for d in gpu.get("devices") or [] if isinstance(d, Mapping)]
    count = _Family("gpus", "gauge", "GPUs NVML reports (0 without a GPU or driver).")
    count.add(len(devices))
    gpu_families = {
        "utilization": _Family("gpu_utilization_percent", "gauge", "Percent of time a GPU kernel was running."),
        "memory_used": _Family("gpu_memory_used_bytes", "gauge", "GPU memory in use."),
        "memory_total": _Family("gpu_memory_total_bytes", "gauge", "GPU memory in total."),
        "temperature": _Family("gpu_temperature_celsius", "gauge", "GPU temperature."),
        "power_draw": _Family("gpu_power_watts", "gauge", "GPU power draw."),
        "power_limit": _Family("gpu_power_limit_watts", "gauge", "GPU enforced power limit."),
    }
    for device in devices:
        labels = {"gpu": device.get("index"), "name": device.get("name") or ""}
        for key, family in gpu_families.items():
            family.add(device.get(key), **labels)

    disk_families = {
        "total": _Family("disk_total_bytes", "gauge", "Size of the file system under a path (may be the host's)."),
        "used": _Family("disk_used_bytes", "gauge", "Bytes used on the file system under a path."),
        "free": _Family("disk_free_bytes", "gauge", "Bytes free on the file system under a path."),
    }
    for disk in reading.get("disks") or []:
        if isinstance(disk, Mapping):
            labels = {"name": disk.get("name") or "", "path": disk.get("path") or ""}
            for key, family in disk_families.items():
                family.add(disk.get(key), **labels)
    return [cpu_percent, cpu_limit, *memory_families, count, *gpu_families.values(), *disk_families.values()]


def render_metrics(
    downloads: Mapping | None = None,
    *,
    bytes_downloaded_total: int | None = None,
    download_failures_total: int | None = None,
    system: Mapping | None = None,
    comfyui_queue_depth: int | None = None,
) -> str:
    """Prometheus text for a downloads snapshot, the process's counters and a system reading.

    ``downloads`` is the downloads snapshot (``{"jobs": [{"state", "bytes_done",
    "bytes_total", ...}], "presets": {...}}``); ``bytes_downloaded_total`` and
    ``download_failures_total`` count since the process started; ``system`` is a
    ``SystemReader.read()`` dict; ``comfyui_queue_depth`` the prompts running or waiting in
    ComfyUI (None standalone). Every argument may be left out.
    """
    info = _Family("info", "gauge", "Launchpad's version; always 1.")
    info.add(1, version=__version__)
    families = [info]
    if downloads is not None:
        families += _download_families(downloads)
    downloaded = _Family("downloaded_bytes_total", "counter", "Bytes downloaded since the process started.")
    downloaded.add(bytes_downloaded_total)
    failures = _Family("download_failures_total", "counter", "Download jobs that failed since the process started.")
    failures.add(download_failures_total)
    families += [downloaded, failures]
    if system is not None:
        families += _system_families(system)
    depth = _Family("comfyui_queue_depth", "gauge", "Prompts running or waiting in ComfyUI's queue.")
    depth.add(comfyui_queue_depth)
    families.append(depth)
    return _render(families)


class DownloadCounters:
    """Bytes downloaded and jobs failed since the process started, counted from ``launchpad.download``
    events (subscribe :meth:`on_event` to the bus; events may come from any thread)."""

    def __init__(self) -> None:
        self.bytes = 0
        self.failures = 0
        self._seen: dict[str, tuple[int, str]] = {}  # job id -> (bytes_done, state) last seen
        self._lock = threading.Lock()

    def on_event(self, event: str, data: Mapping[str, object]) -> None:
        job_id = data.get("id")
        if event != DOWNLOAD or not isinstance(job_id, str):
            return
        reported = data.get("bytes_done")
        done = reported if isinstance(reported, int) else 0
        state = str(data.get("state"))
        with self._lock:
            before, before_state = self._seen.get(job_id, (None, ""))
            if before is not None and done > before:
                self.bytes += done - before  # a resumed job starts from its partial file: count only new bytes
            if state == JobState.FAILED and before_state != JobState.FAILED:
                self.failures += 1
            self._seen[job_id] = (done, state)
