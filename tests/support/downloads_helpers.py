"""Shared helpers for download tests: presets from dicts, a manager on a temp workspace."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lp.launchpad.catalog import Catalog, Preset
from lp.launchpad.catalog.schema import parse_preset
from lp.launchpad.config import Settings
from lp.launchpad.downloads import DownloadManager
from lp.launchpad.events import EventBus
from lp.launchpad.model_roots import ModelRoots
from lp.launchpad.workspace import Workspace


def preset(preset_id: str, *files: dict[str, object]) -> Preset:
    return parse_preset(
        {"id": preset_id, "name": preset_id, "category": "image", "files": list(files)},
        origin="user",
        source_file="test",
    )


def settings_for(workspace: Path, hub_url: str, **overrides: object) -> Settings:
    """Settings for tests: the fake hub as both sources, quick retries, no space margin."""
    values: dict[str, object] = {
        "workspace": workspace,
        "hf_endpoint": hub_url,
        "civitai_endpoint": hub_url,
        "retry_backoff": 0.02,
        "stall_timeout": 5.0,
        "free_space_margin": 0,
        "lock_ttl": 5.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass
class Harness:
    manager: DownloadManager
    workspace: Workspace
    catalog: Catalog
    events: list[tuple[str, dict]] = field(default_factory=list)

    def path(self, key: str) -> Path:
        folder, name = key.split("/", 1)
        return ModelRoots.for_workspace(self.workspace).target(folder, name)

    def events_of(self, kind: str, **match: object) -> list[dict]:
        return [d for t, d in self.events if t == kind and all(d.get(k) == v for k, v in match.items())]


def make_harness(settings: Settings, presets: list[Preset]) -> Harness:
    workspace = Workspace(settings.workspace)
    workspace.ensure()
    catalog = Catalog(presets={p.id: p for p in presets})
    bus = EventBus()
    harness = Harness(
        DownloadManager(settings, workspace, bus, lambda: catalog, lambda: ModelRoots.for_workspace(workspace)),
        workspace,
        catalog,
    )
    bus.subscribe(lambda kind, data: harness.events.append((kind, data)))
    return harness


HarnessFactory = Callable[..., Harness]


async def eventually(predicate: Callable[[], object], what: str = "condition", limit: float = 60.0) -> None:
    """Poll ``predicate`` (a function or coroutine function) until it is true. The limit only keeps a
    broken test from hanging CI."""
    import asyncio
    import inspect
    import time

    async def holds() -> object:
        result = predicate()
        return await result if inspect.isawaitable(result) else result

    deadline = time.monotonic() + limit
    while not await holds():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.02)
