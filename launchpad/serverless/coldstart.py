"""A worker's cold start: which volume holds the models, the models lock provisioned onto it,
ComfyUI's paths, and ComfyUI itself started headless on loopback.

The models come from the network volume (``/runpod-volume`` on RunPod Serverless, ``/workspace``
otherwise, WORKSPACE_ROOT when set) in the layout pods use (``models/<folder>``), so pods and
workers share one volume and one lock. Everything a worker writes (outputs, inputs, ComfyUI's
user directory and database, the extra-paths file) stays on the container disk: a volume many
workers share may be read-only, and a job's outputs go back in its answer anyway.

Provisioning goes through the CLI (``launchpad provision LOCK``), the one way a workspace is
made to match a lock.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .. import model_paths
from ..config import ServerlessSettings, Settings
from ..errors import WorkspaceError
from ..workspace import DEFAULT_ROOT, RUNPOD_SERVERLESS_VOLUME, Workspace, write_test
from .handler import ModelsVolume

log = logging.getLogger("launchpad.serverless")

LOOPBACK = "127.0.0.1"


class ColdStartFailed(Exception):
    """The worker cannot take jobs; the message says why and what to do."""


def models_root(settings: Settings, serverless: Path = RUNPOD_SERVERLESS_VOLUME,
                pod: Path = Path(DEFAULT_ROOT)) -> Path | None:
    """WORKSPACE_ROOT when set, else /runpod-volume when present, else /workspace when present."""
    if settings.workspace_configured:
        return settings.workspace
    return next((root for root in (serverless, pod) if root.is_dir()), None)


def resolve_locks(locks: Sequence[Path], root: Path) -> tuple[Path, ...]:
    """Each lock as a path that exists: absolute (e.g. baked into the image) or on the volume."""
    resolved = []
    for lock in locks:
        path = lock if lock.is_absolute() else root / lock
        if not path.is_file():
            where = "" if lock.is_absolute() else f" (a relative name is read from the volume, {root})"
            raise ColdStartFailed(f"MODELS_LOCK names {lock}, but {path} is not a file{where}")
        resolved.append(path)
    return tuple(resolved)


def provision_argv(cli: Sequence[str], root: Path, lock: Path) -> list[str]:
    return [*cli, "provision", str(lock), "--workspace", str(root)]


def _provision_failed(models: ModelsVolume, lock: Path, code: int) -> str:
    said = f"`launchpad provision {lock}` exited with status {code} (its output is above)"
    if not models.writable:
        return (f"{said}. The volume {models.root} is read-only, so the files the lock lists and the volume "
                f"lacks cannot be downloaded here. Provision the volume from a pod (`launchpad provision {lock}`) "
                "or attach it read-write; this worker stops rather than take jobs it cannot run.")
    return f"{said}. Fix what it names and start the worker again; it stops rather than take jobs it cannot run."


def provision(config: ServerlessSettings, models: ModelsVolume, environ: Mapping[str, str]) -> None:
    """Make the volume match every lock, in order; ColdStartFailed at the first that cannot."""
    for lock in models.locks:
        started = time.monotonic()
        mode = "writable" if models.writable else "read-only: checked only"
        log.info("provisioning %s from the models lock %s (%s)", models.root, lock, mode)
        argv = provision_argv(config.launchpad_cli, models.root, lock)
        code = subprocess.run(argv, env=dict(environ), stdin=subprocess.DEVNULL).returncode
        if code != 0:
            raise ColdStartFailed(_provision_failed(models, lock, code))
        log.info("models lock %s: complete on %s (%.1f s)", lock, models.root, time.monotonic() - started)


async def provision_again(config: ServerlessSettings, models: ModelsVolume, environ: Mapping[str, str]) -> bool:
    """The same, during a job (a workflow wants a model the volume lacks); True when complete."""
    complete = True
    for lock in models.locks:
        process = await asyncio.create_subprocess_exec(
            *provision_argv(config.launchpad_cli, models.root, lock), env=dict(environ), stdin=subprocess.DEVNULL
        )
        if await process.wait() != 0:
            log.error("%s", _provision_failed(models, lock, process.returncode or 1))
            complete = False
    return complete


@dataclass(frozen=True)
class Plan:
    """Everything decided before ComfyUI starts."""

    models: ModelsVolume
    local: Workspace
    argv: list[str]
    env: dict[str, str]
    port: int

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"


def prepare(config: ServerlessSettings, environ: Mapping[str, str]) -> Plan:
    """Pick the volume, provision it, write ComfyUI's paths; ColdStartFailed when the worker cannot run."""
    settings = config.settings
    local = Workspace(config.local_workspace)
    try:
        local.root.mkdir(parents=True, exist_ok=True)  # the container's own disk: made, not mounted
        local.ensure()
    except OSError as exc:
        raise ColdStartFailed(f"cannot create LOCAL_WORKSPACE={local.root} ({exc.strerror}): point it at a "
                              "writable directory on the container disk") from None
    except WorkspaceError as exc:
        raise ColdStartFailed(f"{exc.message} (LOCAL_WORKSPACE holds this worker's outputs and state)") from None
    root = models_root(settings)
    if root is None:
        log.warning("no network volume at %s or %s: only the models in the image and on this container's disk "
                    "(%s) are used, and a models lock downloads onto the container disk at every cold start",
                    RUNPOD_SERVERLESS_VOLUME, DEFAULT_ROOT, local.models)
    elif not root.is_dir():
        raise ColdStartFailed(f"WORKSPACE_ROOT={root} is not a directory: mount the network volume there, "
                              "or leave WORKSPACE_ROOT unset to use /runpod-volume")
    models_at = root or local.root
    writable = write_test(models_at) is None
    models = ModelsVolume(models_at, writable, root is not None, resolve_locks(config.models_locks, models_at))
    log.info("models from %s (%s%s)", models.models_dir, "writable" if writable else "read-only",
             "" if models.network else ", the container disk")
    provision(config, models, environ)

    volume = Workspace(models_at)
    model_paths.publish(volume, local.extra_model_paths)
    database = model_paths.database_path(local, settings.comfyui_database_dir, settings.comfyui_port)
    database.parent.mkdir(parents=True, exist_ok=True)
    flags = model_paths.comfy_args(local, database)
    own = model_paths.user_configs(volume)[0] if root is not None else []
    if own:  # the user's extra-paths files on the volume count too (a second flag appends)
        flags += ["--extra-model-paths-config", *map(str, own)]
    argv = [
        str(config.comfyui_python), str(config.comfyui_dir / "main.py"),
        "--listen", LOOPBACK, "--port", str(settings.comfyui_port), "--disable-auto-launch",
        *flags, *config.comfyui_args,
    ]
    # Launchpad inside ComfyUI keeps its state (journal, logs, this worker's lease naming its
    # locks) on a writable volume, as a pod does, so a pod on the same volume sees the worker;
    # on a read-only one, or without one, on the container disk
    state = models_at if models.network and writable else local.root
    env = {**environ, "WORKSPACE_ROOT": str(state), "PYTHONUNBUFFERED": "1"}
    if models.locks:
        env["MODELS_LOCK"] = ",".join(map(str, models.locks))
    return Plan(models, local, argv, env, settings.comfyui_port)


class ComfyUI:
    """ComfyUI as this worker's child; its output goes to the worker's (RunPod keeps the log)
    unless ``output`` takes it."""

    def __init__(self, plan: Plan, cwd: Path, output: IO[bytes] | None = None) -> None:
        self.plan = plan
        self.process = subprocess.Popen(
            plan.argv, cwd=cwd, env=plan.env, stdin=subprocess.DEVNULL, stdout=output,
            stderr=None if output is None else subprocess.STDOUT,
        )

    def exited(self) -> int | None:
        return self.process.poll()

    def wait_ready(self, timeout: float) -> float:
        """Seconds until GET /system_stats answers; ColdStartFailed if ComfyUI exits or never answers."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            code = self.exited()
            if code is not None:
                raise ColdStartFailed(f"ComfyUI exited with status {code} while starting (its output is above)")
            try:
                with urllib.request.urlopen(self.plan.url + "/system_stats", timeout=2) as reply:
                    if reply.status == 200:
                        return time.monotonic() - started
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        raise ColdStartFailed(f"ComfyUI did not answer on {self.plan.url} within {timeout:.0f} s "
                              "(COMFYUI_START_TIMEOUT); its output is above")

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
