"""One reading of the machine as a plain-JSON dict: CPU, memory, GPUs, disks, versions.

Every part is read defensively: a missing /proc, cgroup file, driver or disk yields None
figures or a reason string, never an exception, because the reading feeds a status panel
and a metrics endpoint that must keep answering on a half-broken machine. Reading blocks
(CPU times, NVML, statvfs), so async callers use :meth:`SystemReader.read_async`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import platform
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..workspace import Workspace
from .cgroups import read_cpu_limit, read_memory
from .cpu import CpuMeter, read_cpu
from .disks import Mount, disk_usage, read_mounts
from .gpus import NvmlGpus

log = logging.getLogger(__name__)

# how often the cgroup CPU quota is re-read; it changes only when the container is updated
_LIMIT_TTL = 60.0


def plain(value: object) -> object:
    """A dataclass (or anything holding them) as JSON types: dicts, lists, numbers, strings."""
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def _disk(name: str, path: Path, mounts: list[Mount]) -> object:
    return plain(disk_usage(name, path, mounts))


def runtime_versions() -> dict[str, str]:
    """Launchpad's and Python's versions, plus torch's and its CUDA's if torch is already loaded.

    torch is never imported here: importing it costs seconds and gigabytes, and a CPU-only
    standalone server has no business loading it.
    """
    versions = {"launchpad": __version__, "python": platform.python_version()}
    torch = sys.modules.get("torch")
    if torch is not None:
        version = getattr(torch, "__version__", None)
        cuda = getattr(getattr(torch, "version", None), "cuda", None)
        if version:
            versions["torch"] = str(version)
        if cuda:
            versions["cuda"] = str(cuda)
    return versions


# the versions as people name them, in the order the System view lists them (others after)
VERSION_NAMES = {
    "comfyui": "ComfyUI",
    "comfyui_frontend": "frontend",
    "launchpad": "Launchpad",
    "python": "Python",
    "torch": "torch",
    "cuda": "CUDA",
}


def versions_line(versions: Mapping[str, str]) -> str:
    """"ComfyUI 0.3.64 · frontend 1.27.10 · Launchpad 0.1.0 · Python 3.11.7"."""
    order = [key for key in VERSION_NAMES if versions.get(key)] + [k for k in versions if k not in VERSION_NAMES]
    return " · ".join(f"{VERSION_NAMES.get(key, key)} {versions[key]}" for key in order)


class SystemReader:
    """Reads the machine. Thread-safe; keep one per process (it remembers CPU times and NVML)."""

    def __init__(
        self,
        disk_paths: Mapping[str, Path] | None = None,
        *,
        extra_versions: Mapping[str, str] | None = None,
        proc_root: Path = Path("/proc"),
        cgroup_root: Path = Path("/sys/fs/cgroup"),
        gpus: NvmlGpus | None = None,
    ) -> None:
        self.disk_paths = dict(disk_paths or {})
        self.extra_versions = dict(extra_versions or {})
        self.proc_root = Path(proc_root)
        self.cgroup_root = Path(cgroup_root)
        self._gpus = gpus or NvmlGpus()
        self._cpu = CpuMeter()
        self._cpu_limit: tuple[float, float | None] | None = None  # (read at, limit)

    @classmethod
    def for_workspace(cls, workspace: Workspace, *, output: Path | None = None, **kwargs: Any) -> SystemReader:
        """A reader whose disks are the workspace, its models and the output directory.

        Pass ``output`` when ComfyUI writes somewhere else (its ``--output-directory``).
        """
        paths = {"workspace": workspace.root, "models": workspace.models, "output": output or workspace.output}
        return cls(paths, **kwargs)

    def _limit(self) -> float | None:
        now = time.monotonic()
        if self._cpu_limit is None or now - self._cpu_limit[0] > _LIMIT_TTL:
            try:
                limit = read_cpu_limit(self.proc_root, self.cgroup_root)
            except OSError:
                limit = None
            self._cpu_limit = (now, limit)
        return self._cpu_limit[1]

    def _part(self, name: str, read: Callable[[], object]) -> object:
        try:
            return read()
        except Exception:  # a bug in one part must not blank the whole panel
            log.exception("system reading: %s failed", name)
            return None

    def read(self, extra_versions: Mapping[str, str] | None = None) -> dict:
        """One reading now (blocking; the first call waits ~0.1 s to measure CPU load).

        ``extra_versions`` (e.g. ``{"comfyui": ..., "frontend": ...}``) are added to the
        versions; they win over the ones given to the constructor.
        """
        cpu = self._part("cpu", lambda: plain(read_cpu(self._cpu, self.proc_root, self._limit())))
        memory = self._part("memory", lambda: plain(read_memory(self.proc_root, self.cgroup_root)))
        gpu = self._part("gpu", lambda: plain(self._gpus.read()))
        found = self._part("mounts", lambda: read_mounts(self.proc_root))
        mounts: list[Mount] = found if isinstance(found, list) else []
        disks = [
            self._part(name, functools.partial(_disk, name, path, mounts)) for name, path in self.disk_paths.items()
        ]
        versions = {**runtime_versions(), **self.extra_versions, **(extra_versions or {})}
        return {
            "time": time.time(),
            "cpu": cpu,
            "memory": memory,
            "gpu": gpu or {"devices": [], "reason": "reading the GPUs failed; see the log"},
            "disks": [disk for disk in disks if disk is not None],
            "versions": versions,
            "versions_line": versions_line(versions),
        }

    async def read_async(self, extra_versions: Mapping[str, str] | None = None) -> dict:
        """:meth:`read` in a worker thread, so the event loop keeps serving."""
        return await asyncio.to_thread(self.read, extra_versions)

    def close(self) -> None:
        self._gpus.close()
