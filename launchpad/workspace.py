"""The workspace: the volume that holds models, outputs and Launchpad's own state.

Layout (the seed's): models/<dir>, output, input, workflows, config, logs, cache. Nothing of
ComfyUI or its venv lives here; only data.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from . import model_folders
from .errors import WorkspaceError

TOP_DIRS = ("models", "output", "input", "workflows", "config", "logs", "cache", "user")
DEFAULT_ROOT = "/workspace"
RUNPOD_SERVERLESS_VOLUME = Path("/runpod-volume")
LOW_SPACE_BYTES = 10 * 10**9


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def output(self) -> Path:
        return self.root / "output"

    @property
    def input(self) -> Path:
        return self.root / "input"

    @property
    def workflows(self) -> Path:
        return self.root / "workflows"

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def user(self) -> Path:
        """ComfyUI's --user-directory: settings, saved workflows, its database."""
        return self.root / "user"

    @property
    def temp(self) -> Path:
        """Passed to --temp-directory; ComfyUI appends ``temp`` and wipes it at start."""
        return self.cache / "comfyui"

    @property
    def state(self) -> Path:
        """Launchpad's own bookkeeping: the download journal and volume locks."""
        return self.root / ".launchpad"

    @property
    def user_presets(self) -> Path:
        return self.config / "presets"

    @property
    def extra_model_paths(self) -> Path:
        return self.config / "extra_model_paths.yaml"

    def model_dir(self, folder: str) -> Path:
        """Where downloads for ComfyUI folder ``folder`` (aliases accepted) are written."""
        return self.models / model_folders.get(folder).target_dir

    def all_dirs(self) -> list[Path]:
        dirs = [self.root / name for name in TOP_DIRS]
        dirs += [self.models / d for folder in model_folders.MODEL_FOLDERS for d in folder.dirs]
        dirs += [self.user_presets, self.state]
        return dirs

    def prepare(self, *, full_layout: bool) -> None:
        """The whole layout (:meth:`ensure`), or, where a host brings its own model folders (inside
        ComfyUI), only Launchpad's own directories. Raises WorkspaceError with what to do."""
        if full_layout:
            self.ensure()
            return
        for path in (self.logs, self.user_presets, self.state, self.cache):
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise WorkspaceError(
                    f"cannot create {path}: {exc.strerror}; set WORKSPACE_ROOT to a writable directory"
                ) from exc

    def ensure(self) -> list[Path]:
        """Create every directory of the layout; returns those that were missing.

        Raises WorkspaceError (with what to do) when the root is missing or read-only.
        """
        require_usable(self.root)
        created = []
        for path in self.all_dirs():
            if not path.is_dir():
                try:
                    path.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise WorkspaceError(f"cannot create {path}: {exc.strerror}. {_fix_hint(self.root)}") from exc
                created.append(path)
        return created


def _fix_hint(root: Path) -> str:
    return (
        f"Mount a writable network volume at {root}, or point WORKSPACE_ROOT (or --workspace) "
        "at a writable directory."
    )


def require_usable(root: Path) -> None:
    """Raise WorkspaceError unless ``root`` exists (or can be created) and takes a real write."""
    if not root.exists():
        # Create the root only beside something that exists: a typo'd or unmounted path
        # several levels deep should fail loudly, not grow a tree on the container disk.
        if not root.parent.is_dir() or not os.access(root.parent, os.W_OK):
            raise WorkspaceError(f"workspace {root} does not exist. {_fix_hint(root)}")
        try:
            root.mkdir()
        except OSError as exc:
            raise WorkspaceError(f"workspace {root} cannot be created: {exc.strerror}. {_fix_hint(root)}") from exc
    if not root.is_dir():
        raise WorkspaceError(f"workspace {root} is not a directory. {_fix_hint(root)}")
    error = write_test(root)
    if error:
        raise WorkspaceError(f"workspace {root} is not writable ({error}). {_fix_hint(root)}")


def write_test(directory: Path) -> str | None:
    """Write, read back and delete a small file; None when that works, else the reason."""
    probe = directory / f".launchpad-write-test-{uuid.uuid4().hex[:8]}"
    payload = b"launchpad write test\n"
    try:
        with open(probe, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        if probe.read_bytes() != payload:
            return "a file written there read back differently"
        return None
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def default_root(configured: Path, serverless_volume: Path = RUNPOD_SERVERLESS_VOLUME) -> Path:
    """The configured root, or RunPod serverless's /runpod-volume when the default /workspace is absent."""
    if str(configured) == DEFAULT_ROOT and not configured.exists() and serverless_volume.is_dir():
        return serverless_volume
    return configured


# --- doctor ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    severity: str = "error"  # "error" fails the doctor, "warning" only reports


@dataclass
class Report:
    root: Path
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok or check.severity != "error" for check in self.checks)

    def to_dict(self) -> dict[str, object]:
        return {
            "workspace": str(self.root),
            "ok": self.ok,
            "checks": [check.__dict__ for check in self.checks],
        }


def _is_mount_point(path: Path) -> bool:
    try:
        return path.is_mount()
    except OSError:
        return False


def doctor(workspace: Workspace) -> Report:
    """Check the workspace the way a start script needs: present, mounted, writable, roomy, complete."""
    root = workspace.root
    report = Report(root)
    hint = _fix_hint(root)
    if not root.exists():
        report.checks.append(Check("present", False, f"{root} does not exist", hint))
        return report
    if not root.is_dir():
        report.checks.append(Check("present", False, f"{root} is not a directory", hint))
        return report
    report.checks.append(Check("present", True, f"{root} exists"))

    mounted = _is_mount_point(root)
    report.checks.append(
        Check(
            "mount",
            mounted,
            f"{root} is a mount point" if mounted else f"{root} is not a mount point (no network volume?)",
            "" if mounted else "Attach a network volume to the pod at this path, or your data is lost with the pod.",
            severity="warning",
        )
    )

    error = write_test(root)
    report.checks.append(
        Check(
            "writable",
            error is None,
            "a test file was written, read back and deleted" if error is None else f"write test failed: {error}",
            "" if error is None else hint,
        )
    )

    usage = shutil.disk_usage(root)
    low = usage.free < LOW_SPACE_BYTES
    report.checks.append(
        Check(
            "free_space",
            not low,
            f"{usage.free / 1e9:.1f} GB free of {usage.total / 1e9:.1f} GB"
            + (" (a network volume may report the host's size)" if mounted else ""),
            "Free space or grow the volume: large models need tens of GB." if low else "",
            severity="warning",
        )
    )

    missing = [path for path in workspace.all_dirs() if not path.is_dir()]
    report.checks.append(
        Check(
            "layout",
            not missing,
            "all directories present"
            if not missing
            else f"{len(missing)} directories missing, e.g. {missing[0].relative_to(root)}",
            "Run `launchpad paths` to create them and write extra_model_paths.yaml." if missing else "",
            severity="warning",
        )
    )

    config = workspace.extra_model_paths
    report.checks.append(
        Check(
            "model_paths",
            config.is_file(),
            f"{config} present" if config.is_file() else f"{config} missing",
            "" if config.is_file() else "Run `launchpad paths` before starting ComfyUI.",
            severity="warning",
        )
    )
    return report
