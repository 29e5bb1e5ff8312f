"""Disk usage of the directories that matter (workspace, models, output), with the file system under each.

A network volume reports whatever its server says: RunPod's network storage and other
FUSE/NFS mounts may show the size of the whole storage pool or of the host's disk rather than
your quota, so such paths carry a note instead of a confident-looking number.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

NETWORK_NOTE = "network volume: the size shown may be the storage pool's or the host's, not your quota"
_NETWORK_TYPES = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "glusterfs", "lustre", "9p", "virtiofs", "fuse"}
_LOCAL_FUSE = {"fuse.fuse-overlayfs", "fuse.lxcfs", "fusectl"}  # FUSE that stays on this machine
_OCTAL = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class Mount:
    point: str
    fstype: str


@dataclass(frozen=True)
class DiskUsage:
    name: str  # "workspace", "models", "output", or what the caller named it
    path: str
    exists: bool  # False: the figures are for the nearest existing parent, where it would be created
    total: int | None
    used: int | None
    free: int | None
    percent: float | None  # as df counts it: used / (used + free), blocks reserved for root left out
    filesystem: str | None  # "ext4", "overlay", "fuse.mfs", ... when /proc/self/mountinfo says
    mount_point: str | None
    network: bool
    note: str | None


def read_mounts(proc_root: Path = Path("/proc")) -> list[Mount]:
    """Mount points and their file-system types, from ``<proc>/self/mountinfo``."""
    try:
        text = (proc_root / "self" / "mountinfo").read_text()
    except (OSError, UnicodeDecodeError):
        return []
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields or len(fields) < 5:
            continue
        after = fields.index("-")
        if after + 1 >= len(fields):
            continue
        point = _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), fields[4])  # "\040" is a space
        mounts.append(Mount(point, fields[after + 1]))
    return mounts


def _mount_of(path: Path, mounts: list[Mount]) -> Mount | None:
    best: Mount | None = None
    text = str(path)
    for mount in mounts:  # later lines mount over earlier ones at the same point
        inside = text == mount.point or text.startswith(mount.point.rstrip("/") + "/")
        if inside and (best is None or len(mount.point) >= len(best.point)):
            best = mount
    return best


def is_network(fstype: str | None) -> bool:
    if not fstype or fstype in _LOCAL_FUSE:
        return False
    return fstype in _NETWORK_TYPES or fstype.split(".")[0] in _NETWORK_TYPES


def _existing(path: Path) -> Path | None:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return None


def disk_usage(name: str, path: Path, mounts: list[Mount]) -> DiskUsage:
    """Usage of the file system holding ``path`` (or its nearest existing parent). Never raises."""
    absolute = Path(os.path.abspath(path))
    target = _existing(absolute)
    total: int | None = None
    used: int | None = None
    free: int | None = None
    if target is not None:
        try:
            usage = shutil.disk_usage(target)
            total, used, free = usage.total, usage.used, usage.free
        except OSError:
            pass
    try:
        resolved = target.resolve() if target is not None else absolute
    except OSError:
        resolved = absolute
    mount = _mount_of(resolved, mounts)
    network = is_network(mount.fstype if mount else None)
    percent = round(100.0 * used / (used + free), 1) if used is not None and free is not None and used + free else None
    return DiskUsage(
        name=name,
        path=str(absolute),
        exists=target == absolute,
        total=total,
        used=used,
        free=free,
        percent=percent,
        filesystem=mount.fstype if mount else None,
        mount_point=mount.point if mount else None,
        network=network,
        note=NETWORK_NOTE if network else None,
    )
