"""Test helpers for the HTTP API: a client that checks every answer against the route table.

Each JSON answer is validated against the schema the route declares (errors against the
Error schema), so the tests that exercise a route also prove the OpenAPI document true.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

from lp.server_routes.routes import ROUTES
from lp.server_routes.schema import ref, validate
from lp.server_routes.table import Route

_COMPILED = [
    (route, re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", route.path) + "$")) for route in ROUTES
]


def route_for(method: str, path: str) -> Route:
    bare = path.split("?")[0]
    bare = bare[len("/api"):] if bare.startswith("/api/") else bare
    for route, pattern in _COMPILED:
        if route.method == method and pattern.match(bare):
            return route
    raise AssertionError(f"no route for {method} {path}")


class Api:
    """Wraps an aiohttp test client; ``prefix`` is "" or "/api"."""

    def __init__(self, client: Any, prefix: str = "") -> None:
        self.client = client
        self.prefix = prefix

    async def call(self, method: str, path: str, json: Any = None, **kwargs: Any) -> tuple[int, Any]:
        if json is not None:
            kwargs["json"] = json
        response = await self.client.request(method, self.prefix + path, **kwargs)
        if response.content_type != "application/json":
            return response.status, await response.text()
        body = await response.json()
        route = route_for(method, path)
        if response.status < 300:
            assert response.status == route.status, (response.status, body)
            validate(body, route.response or {}, f"{method} {path}")
        else:
            validate(body, ref("Error"), f"{method} {path} error")
            assert "Traceback" not in str(body)
        return response.status, body

    async def get(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        return await self.call("GET", path, **kwargs)

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> tuple[int, Any]:
        return await self.call("POST", path, json=json if json is not None else ({} if "data" not in kwargs else None),
                               **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        return await self.call("DELETE", path, **kwargs)


def write_presets(workspace: Path, text: str, name: str = "mine.yaml") -> Path:
    """A user preset file in ``workspace`` (the catalog's third source)."""
    path = workspace / "config" / "presets" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def file_tree(root: Path) -> dict[str, int]:
    """Every file under ``root`` with its size, to compare the disk before and after a request."""
    return {
        str(path.relative_to(root)): path.lstat().st_size
        for path in sorted(root.rglob("*"))
        if path.is_file() or path.is_symlink()
    }
