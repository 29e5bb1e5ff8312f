"""A DownloadManager in this process, for the benchmarks that look inside it (latency, memory)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from _common import load_package

load_package()

from comfyui_launchpad.launchpad.catalog import Catalog  # noqa: E402
from comfyui_launchpad.launchpad.catalog.schema import parse_preset  # noqa: E402
from comfyui_launchpad.launchpad.config import Settings  # noqa: E402
from comfyui_launchpad.launchpad.downloads import DownloadManager  # noqa: E402
from comfyui_launchpad.launchpad.events import EventBus  # noqa: E402
from comfyui_launchpad.launchpad.model_roots import ModelRoots  # noqa: E402
from comfyui_launchpad.launchpad.workspace import Workspace  # noqa: E402


def manager_for(files: dict[str, tuple[str, str | None]], root: Path | None = None, **settings: object
                ) -> DownloadManager:
    """A manager with one preset ``BENCH`` whose files are ``{name: (url, sha256)}``."""
    root = root or Path(tempfile.mkdtemp(prefix="lp-bench-ws-"))
    workspace = Workspace(root)
    workspace.ensure()
    entries = [
        {"folder": "checkpoints", "name": name, "url": url, **({"sha256": sha} if sha else {})}
        for name, (url, sha) in files.items()
    ]
    preset = parse_preset({"id": "BENCH", "name": "bench", "category": "image", "files": entries},
                          origin="user", source_file="bench")
    catalog = Catalog(presets={"BENCH": preset})
    config = Settings(workspace=root, free_space_margin=0, **settings)  # type: ignore[arg-type]
    roots = ModelRoots.for_workspace(workspace)
    return DownloadManager(config, workspace, EventBus(), lambda: catalog, lambda: roots)
