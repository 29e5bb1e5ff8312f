"""Test setup: the repository is imported exactly the way ComfyUI imports a custom node.

ComfyUI loads ``custom_nodes/<pack>/__init__.py`` under a module name that is the pack's full
path (dots replaced by ``_x_``), with no parent on sys.path, so only relative imports work.
We do the same once here, then make every loaded submodule reachable under the short alias
``lp`` as well (the same module objects, not copies), so tests can write
``from lp.launchpad.catalog import ...`` while the code under test runs as ComfyUI runs it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALIAS = "lp"
SUBPACKAGES = ("launchpad", "server_routes", "nodes")
SUPPORT = ROOT / "tests" / "support"  # the helpers (fakehub, apiclient, ...), imported by bare name
if str(SUPPORT) not in sys.path:
    sys.path.insert(0, str(SUPPORT))


def comfyui_module_name(root: Path) -> str:
    """The sys.modules name ComfyUI gives a custom-node package directory."""
    return str(root).replace(".", "_x_")


def load_like_comfyui(root: Path, module_name: str | None = None) -> ModuleType:
    """Import ``root/__init__.py`` as ComfyUI's nodes.load_custom_node does."""
    module_name = module_name or comfyui_module_name(root)
    spec = importlib.util.spec_from_file_location(module_name, root / "__init__.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def _import_all(package: ModuleType) -> None:
    for sub in SUBPACKAGES:
        module = importlib.import_module(f"{package.__name__}.{sub}")
        for info in pkgutil.walk_packages(module.__path__, prefix=f"{module.__name__}."):
            if not info.name.endswith(".__main__"):
                importlib.import_module(info.name)


def _alias(package: ModuleType, alias: str) -> None:
    prefix = package.__name__
    for name, module in list(sys.modules.items()):
        if name == prefix or name.startswith(prefix + "."):
            sys.modules[alias + name[len(prefix):]] = module


# Tests must never talk to the real Hugging Face or Civitai, nor use a developer's tokens.
for _var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "CIVITAI_TOKEN", "WORKSPACE_ROOT", "PRESET_DOWNLOAD"):
    os.environ.pop(_var, None)
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# the service asks the sources for unknown sizes at start, and Civitai and the Hub where a workflow's
# model is: tests that want it turn it on with a fake Hub
os.environ.setdefault("LAUNCHPAD_SIZE_LOOKUP", "0")
os.environ.setdefault("LAUNCHPAD_MODEL_LOOKUP", "0")

PACKAGE = load_like_comfyui(ROOT)
_import_all(PACKAGE)
_alias(PACKAGE, ALIAS)


# What a run insists on (comma-separated: comfyui, chromium, docker). CI sets it, so a test that
# would skip for lack of one of these fails instead; a developer's quick run skips them cleanly.
REQUIRED = frozenset(part.strip() for part in os.environ.get("LAUNCHPAD_REQUIRE", "").split(",") if part.strip())


def missing(requirement: str, reason: str) -> NoReturn:
    """Skip for lack of ``requirement`` ("comfyui", "chromium", "docker"), or fail where it is required."""
    if requirement in REQUIRED:
        pytest.fail(f"{reason} (LAUNCHPAD_REQUIRE={','.join(sorted(REQUIRED))} requires {requirement})", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def workspace_dir(tmp_path: Path) -> Path:
    """An empty directory to use as WORKSPACE_ROOT."""
    root = tmp_path / "workspace"
    root.mkdir()
    return root


RUN_CLI = SUPPORT / "run_cli.py"


def cli_argv(*args: str) -> list[str]:
    """argv that runs this checkout's `launchpad` CLI in a subprocess."""
    return [sys.executable, str(RUN_CLI), *args]


@pytest.fixture
def fakehub():
    """A running :class:`fakehub.FakeHub` (fake Hugging Face, Civitai and misbehaving file server)."""
    from fakehub import FakeHub

    hub = FakeHub().start()
    try:
        yield hub
    finally:
        hub.stop()


@pytest.fixture
async def downloads(workspace_dir, fakehub):
    """Factory: ``await downloads([presets], **settings)`` -> a started download-manager Harness
    (see tests/support/downloads_helpers.py) on ``workspace_dir`` with ``fakehub`` as HF and Civitai."""
    from downloads_helpers import make_harness, settings_for

    made = []

    async def make(presets, **overrides):
        harness = make_harness(settings_for(workspace_dir, fakehub.url, **overrides), presets)
        await harness.manager.start()
        made.append(harness)
        return harness

    yield make
    for harness in made:
        await harness.manager.close()
