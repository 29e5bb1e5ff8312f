"""System status: what the machine has and uses, read on demand or sampled while watched.

``SystemReader.read()`` returns one plain-JSON dict::

    {
      "time": 1700000000.0,                       # Unix seconds
      "cpu": {"percent", "per_core": [...], "load_average": [1, 5, 15] | None,
              "count", "host_count", "limit"},    # limit: cgroup CPU quota in CPUs, or None
      "memory": {"source": "cgroup-v2" | "cgroup-v1" | "host" | "unknown",
                 "total", "used", "available", "percent", "host_total"},
      "gpu": {"devices": [{"index", "name", "uuid", "utilization", "memory_used",
                           "memory_total", "memory_percent", "temperature",
                           "power_draw", "power_limit"}],
              "reason": None | "why there are no devices",
              "driver_version", "cuda_driver_version", "errors": [...]},
      "disks": [{"name", "path", "exists", "total", "used", "free", "percent",
                 "filesystem", "mount_point", "network", "note"}],
      "versions": {"launchpad", "python", ["torch", "cuda"], ...extra},
      "versions_line": "ComfyUI 0.3.64 · frontend 1.27.10 · Launchpad 0.1.0 · ...",  # for people
    }

Bytes are integers, percents 0-100, temperatures in Celsius, power in watts; a figure that
cannot be read is None. ``SystemSampler`` adds ``history`` and ``watchers`` to the same dict.
"""

from .cgroups import MemoryReading, read_cpu_limit, read_memory
from .disks import DiskUsage, disk_usage, read_mounts
from .gpus import GpuDevice, GpuReport, NvmlGpus
from .reader import SystemReader, runtime_versions
from .sampler import SystemSampler

__all__ = [
    "DiskUsage",
    "GpuDevice",
    "GpuReport",
    "MemoryReading",
    "NvmlGpus",
    "SystemReader",
    "SystemSampler",
    "disk_usage",
    "read_cpu_limit",
    "read_memory",
    "read_mounts",
    "runtime_versions",
]
