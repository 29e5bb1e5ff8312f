"""The package as ComfyUI loads it: exports, registration, degrading instead of crashing ComfyUI."""

from __future__ import annotations

import ast
import logging
import subprocess
import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from conftest import ROOT, load_like_comfyui


class StandInPromptServer:
    """The slice of ComfyUI's PromptServer our import touches (docs/comfyui-facts.md, PromptServer)."""

    def __init__(self) -> None:
        self.routes = web.RouteTableDef()
        self.app = web.Application()
        self.sent: list[tuple[str, object, object]] = []

    def send_sync(self, event: str, data: object, sid: object = None) -> None:
        self.sent.append((event, data, sid))


@pytest.fixture
def comfy_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandInPromptServer]:
    instance = StandInPromptServer()
    server = types.ModuleType("server")
    server.PromptServer = type("PromptServer", (), {"instance": instance})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "server", server)
    yield instance


def mirror_like_comfyui(prompt_server: StandInPromptServer) -> web.Application:
    """ComfyUI's add_routes(): every RouteDef also under /api (static defs excluded)."""
    app = web.Application()
    api = web.RouteTableDef()
    for route in prompt_server.routes:
        if isinstance(route, web.RouteDef):
            api.route(route.method, "/api" + route.path, **route.kwargs)(route.handler)
    app.add_routes(api)
    app.add_routes(prompt_server.routes)
    return app


def test_exports_without_comfyui() -> None:
    package = load_like_comfyui(ROOT, "lp_entry_plain")
    assert isinstance(package.NODE_CLASS_MAPPINGS, dict)
    assert isinstance(package.NODE_DISPLAY_NAME_MAPPINGS, dict)
    assert (ROOT / package.WEB_DIRECTORY).is_dir()
    assert list((ROOT / package.WEB_DIRECTORY).rglob("*.js"))


async def test_routes_registered_on_prompt_server_and_mirrored(
    comfy_server: StandInPromptServer, aiohttp_client
) -> None:
    load_like_comfyui(ROOT, "lp_entry_routes")
    client = await aiohttp_client(mirror_like_comfyui(comfy_server))
    for path in ("/launchpad/health", "/api/launchpad/health"):
        response = await client.get(path)
        assert response.status == 200
        assert (await response.json())["status"] == "ok"


def test_failure_inside_the_package_is_logged_and_comfyui_continues(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        @property
        def routes(self) -> object:
            raise RuntimeError("boom from a broken PromptServer")

    server = types.ModuleType("server")
    server.PromptServer = type("PromptServer", (), {"instance": Broken()})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "server", server)
    with caplog.at_level(logging.ERROR, logger="launchpad"):
        package = load_like_comfyui(ROOT, "lp_entry_broken")  # must not raise
    assert "ComfyUI continues without it" in caplog.text and "boom from a broken PromptServer" in caplog.text
    assert package.NODE_CLASS_MAPPINGS == {}
    assert package.WEB_DIRECTORY == "./web"


def test_import_in_comfyui_defers_heavy_modules(tmp_path: Path) -> None:
    """What ComfyUI pays at import: no HF client, no NVML, no psutil until first use."""
    script = textwrap.dedent(
        f"""
        import importlib.util, sys, types
        from aiohttp import web
        instance = types.SimpleNamespace(routes=web.RouteTableDef(), app=web.Application(),
                                         send_sync=lambda *a, **k: None)
        server = types.ModuleType("server")
        server.PromptServer = type("PromptServer", (), {{"instance": instance}})
        sys.modules["server"] = server
        name = {str(ROOT).replace(".", "_x_")!r}
        spec = importlib.util.spec_from_file_location(name, {str(ROOT / "__init__.py")!r})
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        heavy = [m for m in ("huggingface_hub", "pynvml", "psutil", "torch") if m in sys.modules]
        print(",".join(heavy))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def test_no_absolute_self_imports() -> None:
    """ComfyUI imports us under a path-like name: an absolute self-import would fail there."""
    offenders = []
    for path in ROOT.rglob("*.py"):
        if any(part in {"tests", "docker", "benchmarks", ".git"} for part in path.relative_to(ROOT).parts):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in {"comfyui_launchpad", "launchpad", "server_routes", "nodes"}:
                    offenders.append(f"{path.relative_to(ROOT)}: import {name}")
    assert offenders == []
