"""Which version of ComfyUI's frontend this ComfyUI serves.

The installed ``comfyui-frontend-package`` is not always what the browser gets:
``--front-end-root DIR`` serves any directory, and ``--front-end-version owner/repo@X`` serves a
release ComfyUI downloaded into ``web_custom_versions/<owner>_<repo>/<X>`` (comfyui-contract.md,
section 5). ComfyUI keeps the directory it serves as ``PromptServer.web_root``; the frontend
ships no version file, so the version is read from where that directory sits.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path

PACKAGE = "comfyui-frontend-package"
MODULE = "comfyui_frontend_package"
_VERSION = re.compile(r"(?<![\d.])v?(\d+\.\d+\.\d+)(?![\d.])")
UNKNOWN = "custom (version unknown)"
NEAR = 3  # path components looked at for a version: the root, its parent and grandparent


def installed_version() -> str | None:
    try:
        return version(PACKAGE)
    except PackageNotFoundError:
        return None


def _package_static() -> Path | None:
    spec = find_spec(MODULE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).resolve() / "static"


def _dist_info_version(root: Path) -> str | None:
    """A frontend package's static/ in another environment: its dist-info beside the package."""
    if root.name != "static" or root.parent.name != MODULE:
        return None
    for dist in sorted(root.parent.parent.glob(f"{MODULE}-*.dist-info")):
        return dist.name[len(MODULE) + 1 : -len(".dist-info")]
    return None


def _path_version(root: Path) -> str | None:
    """web_custom_versions/<owner>_<repo>/1.2.3, or the folder above named with its version
    (an unpacked wheel: comfyui-frontend-1.58.1/static). Only the last few folders count: a
    Python's own version higher up the path (~/.pyenv/versions/3.11.7/...) is not the frontend's."""
    for part in reversed(root.parts[-NEAR:]):
        match = _VERSION.search(part)
        if match:
            return match.group(1)
    return None


def served_version(web_root: str | Path | None) -> str | None:
    """The served frontend's version; the installed package's when ComfyUI serves that one
    (or says nothing of its web root), and ``UNKNOWN`` for a custom directory that does not tell."""
    installed = installed_version()
    if web_root is None:
        return installed
    root = Path(web_root).resolve()
    if root == _package_static():
        return installed
    return _dist_info_version(root) or _path_version(root) or UNKNOWN
