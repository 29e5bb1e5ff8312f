"""Memory and CPU limits of the container we run in, from cgroup v2 or v1 files.

Inside a container /proc/meminfo shows the host's RAM: a pod limited to 32 GB on a 1 TB host
would look nearly empty right up to the moment the kernel kills ComfyUI. So when a cgroup
sets a limit below the host's RAM, the limit is the total and the cgroup's own usage is the
used figure. Usage leaves out inactive page cache (``inactive_file``), as ``docker stats``
does: the kernel drops that cache before it kills anything.

Both roots are arguments so tests can lay out a v1 or v2 container's files in a directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

HOST = "host"
CGROUP_V2 = "cgroup-v2"
CGROUP_V1 = "cgroup-v1"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class MemoryReading:
    """Memory as the kernel enforces it for us. ``source`` says where the figures came from."""

    source: str  # "cgroup-v2", "cgroup-v1", "host" (no limit below the host's RAM) or "unknown"
    total: int | None
    used: int | None
    available: int | None
    percent: float | None
    host_total: int | None  # the machine's RAM, for "limited to X of Y"


def _text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _number(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _key_values(text: str | None) -> dict[str, int]:
    """``memory.stat`` / ``/proc/meminfo`` lines (``name value [unit]``) as a dict."""
    values: dict[str, int] = {}
    for line in (text or "").splitlines():
        parts = line.replace(":", " ").split()
        if len(parts) >= 2 and (number := _number(parts[1])) is not None:
            values[parts[0]] = number
    return values


def own_cgroups(proc_root: Path) -> dict[str, str]:
    """Controller -> our cgroup path, from ``<proc>/self/cgroup``; the v2 entry is keyed ``""``."""
    paths: dict[str, str] = {}
    for line in (_text(proc_root / "self" / "cgroup") or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(",") if parts[1] else [""]:
                paths[controller] = parts[2]
    return paths


def _from_leaf_up(mount: Path, relative: str | None) -> list[Path]:
    """Our cgroup directory under ``mount`` and each parent up to ``mount``, existing ones only.

    With a private cgroup namespace (Docker's default on v2) our path is ``/`` and the mount
    is our own cgroup; with the host's namespace the path may not exist inside the container,
    and the mount is still the nearest directory we can read.
    """
    parts = [p for p in PurePosixPath(relative or "/").parts if p not in ("/", "..", ".")]
    chain = [mount.joinpath(*parts[:depth]) for depth in range(len(parts), -1, -1)]
    return [path for path in chain if path.is_dir()]


def _host_memory(proc_root: Path) -> tuple[int, int] | None:
    info = _key_values(_text(proc_root / "meminfo"))
    if "MemTotal" not in info:
        return None
    total = info["MemTotal"] * 1024
    if "MemAvailable" in info:
        available = info["MemAvailable"] * 1024
    else:  # kernels before 3.14
        available = sum(info.get(k, 0) for k in ("MemFree", "Buffers", "Cached")) * 1024
    return total, min(available, total)


def _tightest(candidates: list[tuple[int, Path]]) -> tuple[int, Path] | None:
    return min(candidates, key=lambda item: item[0]) if candidates else None


def _v2_memory(cgroup_root: Path, proc_root: Path) -> tuple[int, int] | None:
    """(limit, used) of the tightest v2 memory limit on our path, or None without one."""
    if not (cgroup_root / "cgroup.controllers").is_file():
        return None
    limits = []
    for directory in _from_leaf_up(cgroup_root, own_cgroups(proc_root).get("")):
        raw = _text(directory / "memory.max")
        if raw and raw != "max" and (limit := _number(raw)) is not None:
            limits.append((limit, directory))
    found = _tightest(limits)
    if found is None:
        return None
    limit, directory = found
    current = _number(_text(directory / "memory.current"))
    if current is None:
        return None
    inactive = _key_values(_text(directory / "memory.stat")).get("inactive_file", 0)
    return limit, max(0, current - inactive)


def _v1_memory(cgroup_root: Path, proc_root: Path) -> tuple[int, int] | None:
    """(limit, used) of the tightest v1 memory limit on our path, or None without one."""
    mount = cgroup_root / "memory"
    limits = []
    directories = _from_leaf_up(mount, own_cgroups(proc_root).get("memory"))
    for directory in directories:
        if (limit := _number(_text(directory / "memory.limit_in_bytes"))) is not None:
            limits.append((limit, directory))
    if directories:
        # an ancestor we cannot see may hold the limit; the kernel reports it here
        stat = _key_values(_text(directories[0] / "memory.stat"))
        if "hierarchical_memory_limit" in stat:
            limits.append((stat["hierarchical_memory_limit"], directories[0]))
    found = _tightest(limits)
    if found is None:
        return None
    limit, directory = found
    usage = _number(_text(directory / "memory.usage_in_bytes"))
    if usage is None:
        return None
    stat = _key_values(_text(directory / "memory.stat"))
    inactive = stat.get("total_inactive_file", stat.get("inactive_file", 0))
    return limit, max(0, usage - inactive)


def _host_fallback() -> tuple[int, int] | None:
    """Total and available RAM where there is no /proc (macOS, Windows)."""
    try:
        import psutil
    except ImportError:
        return None
    try:
        memory = psutil.virtual_memory()
    except Exception:
        return None
    return int(memory.total), int(memory.available)


def _percent(used: int, total: int) -> float:
    return round(100.0 * used / total, 1) if total > 0 else 0.0


def read_memory(proc_root: Path = Path("/proc"), cgroup_root: Path = Path("/sys/fs/cgroup")) -> MemoryReading:
    """Memory total/used/available: the container's limit when one is set, else the host's."""
    host = _host_memory(proc_root) or _host_fallback()
    host_total = host[0] if host else None
    for source, reader in ((CGROUP_V2, _v2_memory), (CGROUP_V1, _v1_memory)):
        try:
            found = reader(cgroup_root, proc_root)
        except OSError:
            found = None
        # v1 writes "no limit" as a huge number; a limit above the RAM limits nothing either
        if found and (host_total is None or found[0] < host_total):
            limit, used = found
            used = min(used, limit)
            return MemoryReading(source, limit, used, limit - used, _percent(used, limit), host_total)
    if host is None:
        return MemoryReading(UNKNOWN, None, None, None, None, None)
    total, available = host
    return MemoryReading(HOST, total, total - available, available, _percent(total - available, total), total)


def read_cpu_limit(proc_root: Path = Path("/proc"), cgroup_root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """How many CPUs' worth of time the cgroup quota allows (``docker --cpus``), or None."""
    own = own_cgroups(proc_root)
    quotas: list[float] = []
    if (cgroup_root / "cgroup.controllers").is_file():
        for directory in _from_leaf_up(cgroup_root, own.get("")):
            parts = (_text(directory / "cpu.max") or "").split()
            if len(parts) == 2 and parts[0] != "max":
                quota, period = _number(parts[0]), _number(parts[1])
                if quota and period:
                    quotas.append(quota / period)
    else:
        for name in ("cpu", "cpu,cpuacct"):
            for directory in _from_leaf_up(cgroup_root / name, own.get("cpu")):
                quota = _number(_text(directory / "cpu.cfs_quota_us"))
                period = _number(_text(directory / "cpu.cfs_period_us"))
                if quota and quota > 0 and period:
                    quotas.append(quota / period)
    return round(min(quotas), 2) if quotas else None
