"""The catalog a command reads: curated and template presets plus the workspace's own."""

from __future__ import annotations

from ..catalog import Catalog, load_catalog
from ..config import Settings
from ..workspace import Workspace


def load(settings: Settings) -> Catalog:
    workspace = Workspace(settings.workspace)
    return load_catalog(workspace.user_presets, templates_dir=settings.templates_dir, state_dir=workspace.state)
