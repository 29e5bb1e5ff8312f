"""Pod leases: which pods use this volume now, and which model files each one serves.

Many pods may mount one network volume. Each (``launchpad serve``, ComfyUI with the pack, a
provisioner while it downloads) writes ``<workspace>/.launchpad/leases/<id>.json`` naming
itself (RUNPOD_POD_ID or the host name, and its process), the presets and models locks it
serves and the files they hold, and touches it every ``ttl / 4`` seconds from a thread: the
heartbeat is the file's mtime, as with the download locks (downloads/locks.py). A lease whose
heartbeat is older than its own ``ttl`` belongs to a pod that died; on the same host one whose
process is gone is dead at once. A clean stop removes the file.

:func:`live` is the one answer to "what is live on this volume"; deleting a file that another
live lease names is refused (:func:`refuse_if_served`) with the pod and the reason.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import model_folders
from .config import Settings
from .errors import InUse
from .files import atomic_write_text
from .workspace import Workspace

log = logging.getLogger(__name__)

HOST = socket.gethostname()
DIRECTORY = "leases"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def directory(workspace: Workspace) -> Path:
    return workspace.state / DIRECTORY


def canonical_key(key: str) -> str:
    """``folder/name`` with the folder's canonical name (``clip/x`` -> ``text_encoders/x``)."""
    folder, _, name = key.partition("/")
    return f"{model_folders.canonical(folder) or folder}/{name}"


@dataclass(frozen=True)
class PodLease:
    """What one lease file says, and how long ago its pod last beat."""

    id: str
    pod: str
    host: str
    pid: int
    kind: str  # serve | comfyui | provision
    presets: Mapping[str, tuple[str, ...]]  # preset id -> its files' keys
    locks: Mapping[str, tuple[str, ...]]  # lock name -> its files' keys
    started_at: float
    ttl: float
    age: float  # seconds since its last heartbeat

    @property
    def files(self) -> frozenset[str]:
        keys = [*(k for ks in self.presets.values() for k in ks), *(k for ks in self.locks.values() for k in ks)]
        return frozenset(canonical_key(k) for k in keys)

    def serves(self, key: str) -> list[str]:
        """Why this pod uses ``key``: ``preset X``, ``lock Y`` (empty when it does not)."""
        key = canonical_key(key)
        reasons = [f"preset {pid}" for pid, keys in self.presets.items() if key in map(canonical_key, keys)]
        reasons += [f"lock {name}" for name, keys in self.locks.items() if key in map(canonical_key, keys)]
        return reasons

    def describe(self) -> str:
        where = "" if self.host == self.pod else f" on host {self.host}"
        return f"pod {self.pod} ({self.kind}, process {self.pid}{where})"

    def to_dict(self, key: str | None = None, own: str | None = None) -> dict[str, object]:
        data: dict[str, object] = {"pod": self.pod, "host": self.host, "process": self.pid, "kind": self.kind,
                                   "this_pod": self.id == own}
        if key is not None:
            data["serves"] = self.serves(key)
        return data


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists but is not ours: alive
    return True


def _read(path: Path, now: float) -> PodLease | None:
    try:
        mtime = path.stat().st_mtime
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # gone meanwhile, or being written: the next look sees it
    if not isinstance(data, dict):
        return None

    def groups(value: object) -> dict[str, tuple[str, ...]]:
        if not isinstance(value, dict):
            return {}
        return {str(k): tuple(str(x) for x in v) for k, v in value.items() if isinstance(v, list)}

    try:
        return PodLease(
            id=path.stem, pod=str(data.get("pod", "?")), host=str(data.get("host", "?")),
            pid=int(data.get("pid") or 0), kind=str(data.get("kind", "?")),
            presets=groups(data.get("presets")), locks=groups(data.get("locks")),
            started_at=float(data.get("started_at") or 0), ttl=float(data.get("ttl") or 60), age=now - mtime,
        )
    except (TypeError, ValueError):
        return None


def _dead(lease: PodLease) -> bool:
    return lease.age > lease.ttl or (lease.host == HOST and lease.pid > 0 and not _alive(lease.pid))


def live(workspace: Workspace) -> list[PodLease]:
    """Every live pod lease on this volume (ours included), oldest first: "what is live here". Blocking.

    Another command that must not pull files from under a running pod (a migration's move, a
    cleanup) asks this; an empty list means no Launchpad pod uses the volume now.
    """
    now = time.time()
    try:
        paths = sorted(directory(workspace).glob("*.json"))
    except OSError:
        return []
    found = [lease for lease in (_read(p, now) for p in paths) if lease is not None and not _dead(lease)]
    return sorted(found, key=lambda lease: lease.started_at)


def users(workspace: Workspace, keys: Iterable[str], exclude: str | None = None) -> dict[str, list[PodLease]]:
    """For each of ``keys``, the live leases (other than ``exclude``, a lease id) that name it. Blocking."""
    others = [(lease, lease.files) for lease in live(workspace) if lease.id != exclude]
    result: dict[str, list[PodLease]] = {}
    for key in keys:  # in the caller's order, so a refusal names the first file it would have removed
        named = [lease for lease, files in others if canonical_key(key) in files]
        if named:
            result[key] = named
    return result


def refuse_if_served(workspace: Workspace, keys: Iterable[str], own: str | None, action: str = "delete") -> None:
    """Raise InUse when another live pod serves any of ``keys``, naming the pod and why. Blocking."""
    used = users(workspace, keys, exclude=own)
    if not used:
        return
    key, leases = next(iter(used.items()))
    lease = leases[0]
    others = f" (and {len(used) - 1} more of the files)" if len(used) > 1 else ""
    raise InUse(
        f"cannot {action} {key}{others}: {lease.describe()} uses it ({', '.join(lease.serves(key))}). "
        "Stop that pod, or take the file out of the presets and locks it serves, then try again",
        details={"key": key, "pods": [item.to_dict(key) for item in leases], "keys": sorted(used)},
    )


class Lease:
    """Our own lease: ``start()`` writes it and starts the heartbeat thread, ``stop()`` removes it."""

    def __init__(
        self,
        settings: Settings,
        workspace: Workspace,
        kind: str,
        *,
        presets: Mapping[str, Sequence[str]] | None = None,
        locks: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.pod = settings.pod_id or HOST
        self.kind = kind
        self.ttl = settings.lock_ttl  # DOWNLOAD_LOCK_TTL: the volume's one heartbeat timeout
        self.id = _UNSAFE.sub("_", f"{self.pod}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        self.path = directory(workspace) / f"{self.id}.json"
        self.presets = {k: list(v) for k, v in (presets or {}).items()}
        self.locks = {k: list(v) for k, v in (locks or {}).items()}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.active = False

    def _text(self) -> str:
        data = {"pod": self.pod, "host": HOST, "pid": os.getpid(), "kind": self.kind, "started_at": time.time(),
                "ttl": self.ttl, "presets": self.presets, "locks": self.locks}
        return json.dumps(data, indent=1) + "\n"

    def start(self) -> bool:
        """Write the lease and start its heartbeat; False (logged) when the volume refuses the write. Blocking."""
        try:
            atomic_write_text(self.path, self._text())
        except OSError as exc:
            log.warning("cannot write this pod's lease %s (%s); other pods will not see what it serves",
                        self.path, exc.strerror)
            return False
        self.active = True
        _prune(self.path.parent)
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name="launchpad-lease", daemon=True)
        self._thread.start()
        return True

    def _beat(self) -> None:
        interval = max(0.5, self.ttl / 4)
        while not self._stop.wait(interval):
            try:
                os.utime(self.path)
            except FileNotFoundError:  # pruned by a pod that thought us dead (a long pause): say it again
                with contextlib.suppress(OSError):
                    atomic_write_text(self.path, self._text())
            except OSError as exc:
                log.warning("lease heartbeat failed: %s", exc)

    def stop(self) -> None:
        """End the heartbeat and remove the lease. Blocking but quick."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self.active:
            self.active = False
            with contextlib.suppress(OSError):
                self.path.unlink()

    @classmethod
    @contextlib.contextmanager
    def held(cls, settings: Settings, workspace: Workspace, kind: str, **names: Mapping[str, Sequence[str]]
             ) -> Iterator[Lease]:
        lease = cls(settings, workspace, kind, **names)
        lease.start()
        try:
            yield lease
        finally:
            lease.stop()


def _prune(leases_dir: Path) -> None:
    """Remove leases dead for a while (best effort: another pod may do it first)."""
    now = time.time()
    for path in leases_dir.glob("*.json"):
        lease = _read(path, now)
        if lease is not None and _dead(lease) and lease.age > 2 * lease.ttl:
            with contextlib.suppress(OSError):
                path.unlink()


def for_pod(settings: Settings, workspace: Workspace, catalog: object, kind: str) -> Lease:
    """The lease of a serving pod: the presets of PRESET_DOWNLOAD and the locks of MODELS_LOCK. Blocking
    (reads the locks); a lock that cannot be read is logged and left out, the pod starts regardless."""
    from .lock.format import read

    presets = {}
    for preset_id in settings.preset_download:
        preset = getattr(catalog, "presets", {}).get(preset_id)
        if preset is not None:
            presets[preset_id] = [f.key for f in preset.files]
    locks = {}
    for name in settings.models_locks:
        path = Path(name) if Path(name).is_absolute() else workspace.root / name  # relative: on the volume
        try:
            locks[path.name] = read(path).keys
        except Exception as exc:  # a bad MODELS_LOCK must not keep the pod from starting
            log.warning("MODELS_LOCK %s is not used for this pod's lease: %s", name, exc)
    return Lease(settings, workspace, kind, presets=presets, locks=locks)
