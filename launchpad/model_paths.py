"""extra_model_paths.yaml in the exact shape ComfyUI's loader accepts, and the flags that go with it.

ComfyUI's loader (utils/extra_config.py) has no validation: a nested mapping, a list, an
empty value or a YAML syntax error makes ComfyUI exit at start (docs/comfyui-facts.md, Extra model paths).
So we emit only flat string values, read the file back before publishing it, and check a
user's own file the same way before passing it to ComfyUI.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import model_folders
from .documents import DocumentError, load_yaml
from .files import atomic_write_text
from .migrate import adopted
from .workspace import Workspace

SECTION = "launchpad_workspace"
USER_GLOB = "extra_model_paths*.yaml"
HEADER = (
    "# Written by `launchpad paths` before ComfyUI starts; do not edit, it is rewritten.\n"
    "# Put your own paths in {user}: it is kept and passed to ComfyUI too.\n"
)
USER_FILE_NAME = "extra_model_paths.user.yaml"


class _Dumper(yaml.SafeDumper):
    """Writes multi-line values as ``|`` blocks, the form the ComfyUI docs show."""


_Dumper.add_representer(
    str,
    lambda dumper, value: dumper.represent_scalar(
        "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None
    ),
)


def render(workspace: Workspace, *, custom_nodes: bool = False) -> str:
    """The YAML text for ``workspace``: the workspace as every folder's default, then adopted directories."""
    section: dict[str, str | bool] = {"base_path": str(workspace.models), "is_default": True}
    for folder in model_folders.MODEL_FOLDERS:
        # preferred directory last: is_default inserts each line at index 0 in order
        section[folder.name] = "\n".join(folder.dirs) + ("\n" if len(folder.dirs) > 1 else "")
    if custom_nodes:
        section["custom_nodes"] = str(workspace.root / "custom_nodes")
    sections: dict[str, dict[str, str | bool]] = {SECTION: section}
    # `launchpad migrate --adopt`: without is_default, ComfyUI appends them after its defaults
    for adoption in adopted.load(workspace.config):
        folders: dict[str, str | bool] = {
            name: "\n".join(dirs) + ("\n" if len(dirs) > 1 else "") for name, dirs in adoption.folders.items() if dirs
        }
        if folders:
            sections[adoption.section] = folders
    body = yaml.dump(sections, Dumper=_Dumper, sort_keys=False, default_flow_style=False)
    return HEADER.format(user=workspace.config / USER_FILE_NAME) + body


def problems(text: str) -> list[str]:
    """What ComfyUI's loader would choke on in ``text``; empty when it loads cleanly."""
    try:
        config = load_yaml(text)
    except DocumentError as exc:
        return [str(exc).replace("\n", " ")]
    if not isinstance(config, dict):
        return ["the top level must be a mapping of section names to folder mappings"]
    found = []
    for name, section in config.items():
        if section is None:
            continue
        if not isinstance(section, dict):
            found.append(f"section {name!r} must be a mapping of folder names to paths, not {type(section).__name__}")
            continue
        for key, value in section.items():
            if key == "is_default":
                continue
            if not isinstance(value, str):
                found.append(
                    f"{name}.{key} must be a string (one path, or several on separate lines with `|`), "
                    f"not {type(value).__name__}"
                )
    return found


@dataclass(frozen=True)
class PathsResult:
    config: Path
    changed: bool
    created_dirs: list[Path]
    user_configs: list[Path]
    rejected_user_configs: dict[Path, list[str]]


def user_configs(workspace: Workspace) -> tuple[list[Path], dict[Path, list[str]]]:
    """The user's own extra-paths files beside ours: those ComfyUI can load, and those it can't."""
    good: list[Path] = []
    bad: dict[Path, list[str]] = {}
    if not workspace.config.is_dir():
        return good, bad
    for path in sorted(workspace.config.glob(USER_GLOB)):
        if path == workspace.extra_model_paths:
            continue
        try:
            found = problems(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            found = [f"cannot read it: {exc}"]
        if found:
            bad[path] = found
        else:
            good.append(path)
    return good, bad


def write(workspace: Workspace, *, custom_nodes: bool = False) -> PathsResult:
    """Create the workspace layout and (re)write its extra_model_paths.yaml atomically."""
    created = workspace.ensure()
    if custom_nodes:
        (workspace.root / "custom_nodes").mkdir(exist_ok=True)
    changed = publish(workspace, workspace.extra_model_paths, custom_nodes=custom_nodes)
    good, bad = user_configs(workspace)
    return PathsResult(workspace.extra_model_paths, changed, created, good, bad)


def publish(workspace: Workspace, path: Path, *, custom_nodes: bool = False) -> bool:
    """Write the extra-paths file for ``workspace``'s models to ``path`` (which may be elsewhere,
    e.g. on local disk beside a read-only volume); False when it already said that."""
    text = render(workspace, custom_nodes=custom_nodes)
    found = problems(text)
    if found:  # our own generator is wrong: never hand ComfyUI a file that stops it
        raise AssertionError(f"generated extra_model_paths.yaml is invalid: {found}")
    return atomic_write_text(path, text)


def rewrite(workspace: Workspace) -> PathsResult:
    """:func:`write` again after the adopted directories changed, keeping what `launchpad paths` chose."""
    try:
        current = load_yaml(workspace.extra_model_paths.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, DocumentError):
        current = None
    ours = current.get(SECTION) if isinstance(current, dict) else None
    return write(workspace, custom_nodes=isinstance(ours, dict) and "custom_nodes" in ours)


def database_path(workspace: Workspace, directory: Path | None, port: int) -> Path:
    """ComfyUI's assets database for the one ComfyUI serving ``workspace`` on ``port`` on this machine.

    ComfyUI holds an exclusive lock on its SQLite file for as long as it runs (0.33 and on), so a
    database on the shared volume lets only one pod start, and SQLite over a network file system
    is fragile anyway. What it holds is rebuilt from the model folders by ComfyUI's own scan, so
    each process keeps its own on local disk, named for the workspace and the port.
    """
    directory = directory or Path.home() / ".local" / "state" / "comfyui-launchpad"
    digest = hashlib.sha256(str(workspace.root).encode()).hexdigest()[:12]
    return directory / f"comfyui-{digest}-{port}.db"


def comfy_args(workspace: Workspace, database: Path) -> list[str]:
    """ComfyUI flags that put its models, inputs, outputs, user data and temp files on the workspace."""
    configs = [workspace.extra_model_paths, *user_configs(workspace)[0]]
    args = ["--extra-model-paths-config", *map(str, configs)]
    args += ["--output-directory", str(workspace.output)]
    args += ["--input-directory", str(workspace.input)]
    args += ["--user-directory", str(workspace.user)]
    args += ["--temp-directory", str(workspace.temp)]
    # without it, ComfyUI keeps its database in its code directory (see database_path)
    args += ["--database-url", f"sqlite:///{database}"]
    return args


def shell_line(args: list[str]) -> str:
    return " ".join(shlex.quote(arg) for arg in args)
