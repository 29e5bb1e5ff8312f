"""The OpenAPI document describes exactly the routes that exist, and is a valid OpenAPI 3.1 document."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest
from aiohttp import web
from apiclient import write_presets
from comfy_standin import StandInPromptServer, add_routes, folder_paths_module, install
from openapi_spec_validator import validate as validate_spec

from conftest import ROOT, load_like_comfyui
from lp.launchpad.config import Settings
from lp.launchpad.service import LaunchpadService
from lp.server_routes.openapi import document
from lp.server_routes.routes import ROUTES
from lp.server_routes.schema import COMPONENTS, REF_PREFIX
from lp.server_routes.standalone import create_app

_names = itertools.count()


def documented(doc: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}


def served(app: web.Application, prefix: str) -> set[tuple[str, str]]:
    """(method, path template) of every route the app really serves under ``prefix``/launchpad/."""
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if not path or route.method == "HEAD" or not path.startswith(f"{prefix}/launchpad/"):
            continue
        found.add((route.method, path[len(prefix):]))
    return found


def test_document_is_valid_openapi_3_1() -> None:
    doc = document(ROUTES)
    validate_spec(json.loads(json.dumps(doc)))
    assert doc["openapi"].startswith("3.1")


def test_every_ref_resolves_and_operation_ids_are_unique() -> None:
    text = json.dumps(document(ROUTES))
    for name in re.findall(re.escape(REF_PREFIX) + r"([A-Za-z]+)", text):
        assert name in COMPONENTS
    ids = [route.operation_id for route in ROUTES]
    assert len(ids) == len(set(ids))


def test_path_parameters_are_declared() -> None:
    doc = document(ROUTES)
    for route in ROUTES:
        op = doc["paths"][route.template][route.method.lower()]
        declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"\{(\w+)\}", route.template))


async def test_standalone_app_serves_exactly_the_documented_routes(workspace_dir: Path) -> None:
    app = create_app(LaunchpadService(Settings.from_env({}, workspace=workspace_dir)))
    doc = document(ROUTES)
    assert served(app, "") == documented(doc)
    assert served(app, "/api") == documented(doc)


async def test_comfyui_app_serves_exactly_the_documented_routes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKSPACE_ROOT", str(tmp_path / "ws"))
    prompt_server = StandInPromptServer()
    install(monkeypatch, prompt_server, folder_paths_module(tmp_path / "ComfyUI"))
    load_like_comfyui(ROOT, f"lp_openapi_{next(_names)}")
    app = add_routes(prompt_server)
    doc = document(ROUTES)
    assert served(app, "") == documented(doc)
    assert served(app, "/api") == documented(doc)


async def test_served_document_is_the_generated_one(workspace_dir: Path, tmp_path: Path, aiohttp_client) -> None:
    write_presets(workspace_dir, "schema: 1\npresets: []\n")
    client = await aiohttp_client(create_app(LaunchpadService(Settings.from_env({}, workspace=workspace_dir))))
    for path in ("/launchpad/openapi.json", "/api/launchpad/openapi.json"):
        response = await client.get(path)
        assert response.status == 200
        assert await response.json() == json.loads(json.dumps(document(ROUTES, mode="standalone")))


def test_readme_documents_exactly_the_routes() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `(GET|POST|DELETE|PUT|PATCH) (/launchpad/[^`]*)` \|", text, re.MULTILINE))
    assert listed == {(route.method, route.template) for route in ROUTES}
