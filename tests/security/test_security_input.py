"""Bad input is input (issue 15, findings 5 and 6): a user's preset YAML or a client's JSON body,
however deep, gives a warning or a 400, never a 500, a traceback or a dead catalog; a service
that did fail says so in health (503), and the container's HEALTHCHECK fails with it."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from apiclient import write_presets
from security_support import PASSWORD, TOKEN, auth_settings, login, settled, standalone_client

from conftest import ROOT, cli_argv
from lp.launchpad.service import LaunchpadService
from lp.server_routes.standalone import create_app

DEEP_YAML = "schema: 1\npresets: " + "[" * 600 + "]" * 600 + "\n"  # 1.2 KB, as the attack session used
ALIAS_BOMB = "schema: 1\na: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(8)
) + "presets: []\n"


@pytest.fixture
async def deep_catalog(tmp_path: Path, aiohttp_client: Any) -> Any:
    workspace = tmp_path / "workspace"
    write_presets(workspace, DEEP_YAML, name="deep.yaml")
    write_presets(workspace, ALIAS_BOMB, name="bomb.yaml")
    client = await standalone_client(aiohttp_client, auth_settings(workspace, tmp_path, enable_auth=False))
    await settled(client)
    return client


async def test_a_deeply_nested_preset_file_is_a_warning(deep_catalog: Any) -> None:
    for path in ("/launchpad/presets", "/launchpad/models", "/launchpad/downloads"):
        response = await deep_catalog.get(path)
        assert response.status == 200, (path, await response.text())
    warnings = (await (await deep_catalog.get("/launchpad/catalog/warnings")).json())["warnings"]
    by_file = {Path(w["file"]).name: w["message"] for w in warnings}
    assert "nested more than 64 levels deep" in by_file["deep.yaml"]
    assert "unknown top-level field" in by_file["bomb.yaml"]  # anchors share, never expand: harmless
    health = await deep_catalog.get("/launchpad/health")
    body = await health.json()
    assert health.status == 200 and body["status"] == "ok" and body["state"] == "ready"
    presets = (await (await deep_catalog.get("/launchpad/presets")).json())["presets"]
    assert any(p["id"] == "sec-test" for p in presets)  # the other files still load


def test_the_cli_warns_instead_of_a_traceback(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    write_presets(workspace, DEEP_YAML, name="deep.yaml")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    result = subprocess.run(cli_argv("presets", "--workspace", str(workspace)), env=env, capture_output=True,
                            text=True, timeout=120)
    assert "Traceback" not in result.stderr and "RecursionError" not in result.stderr
    assert "deep.yaml: nested more than 64 levels deep" in result.stderr
    assert result.returncode == 4  # catalog warnings, as for any other bad preset file


@pytest.fixture
async def plain(tmp_path: Path, aiohttp_client: Any) -> Any:
    workspace = tmp_path / "workspace"
    client = await standalone_client(aiohttp_client, auth_settings(workspace, tmp_path, enable_auth=False))
    await settled(client)
    return client


@pytest.mark.parametrize("depth", [100, 990, 20_000])
@pytest.mark.parametrize(
    ("path", "wrap"),
    [
        ("/launchpad/workflow/models", lambda inner: '{"workflow": ' + inner + "}"),
        ("/launchpad/workflow/install", lambda inner: '{"workflow": ' + inner + "}"),
        ("/launchpad/presets/install", lambda inner: '{"presets": ' + inner + "}"),
        ("/launchpad/login", lambda inner: inner),
    ],
)
async def test_a_deeply_nested_body_is_a_400(plain: Any, path: str, wrap: Any, depth: int) -> None:
    body = wrap("[" * depth + "]" * depth)
    response = await plain.post(path, data=body, headers={"Content-Type": "application/json"})
    data = await response.json()
    assert response.status in (400, 413), (response.status, data)
    assert data["error"]["code"] in ("invalid_input", "payload_too_large"), data


async def healthcheck(port: int) -> int:
    """The image's HEALTHCHECK script against ``port`` (not blocking the loop that serves it)."""
    script = ROOT / "docker" / "scripts" / "healthcheck.sh"
    process = await asyncio.create_subprocess_exec(
        "bash", str(script), env={"PATH": os.environ["PATH"], "COMFYUI_PORT": str(port)},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(process.wait(), 30)


async def test_a_failed_service_is_unhealthy_and_the_healthcheck_fails(tmp_path: Path, aiohttp_client: Any) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the workspace should be")
    settings = auth_settings(blocked / "workspace", tmp_path, enable_auth=False)
    client = await aiohttp_client(create_app(LaunchpadService(settings)))
    await settled(client)
    response = await client.get("/launchpad/health")
    body = await response.json()
    assert response.status == 503 and body["status"] == "failed" and body["state"] == "failed", body
    assert await healthcheck(client.port) == 22  # curl -f: the server answered with an error status


async def test_healthcheck_passes_on_a_healthy_service(plain: Any) -> None:
    assert await healthcheck(plain.port) == 0


async def test_health_tells_strangers_only_status_and_state(tmp_path: Path, aiohttp_client: Any) -> None:
    """Finding 7: the open health route told anonymous callers the workspace path."""
    workspace = tmp_path / "workspace"
    client = await standalone_client(aiohttp_client, auth_settings(workspace, tmp_path))
    await settled(client)
    anonymous = await (await client.get("/launchpad/health")).json()
    assert anonymous == {"status": "ok", "state": "ready"}
    token = await (await client.get("/launchpad/health", headers={"Authorization": f"Bearer {TOKEN}"})).json()
    assert token["workspace"] == str(workspace)
    session = await login(client, PASSWORD)
    full = await (await client.get("/launchpad/health", headers={"Cookie": f"launchpad_session={session}"})).json()
    assert full["workspace"] == str(workspace) and full["version"]


async def test_a_405_says_what_is_allowed(plain: Any) -> None:
    """Finding 7 (schemathesis ST204): 405 answers carried no Allow header."""
    cases = (("TRACE", "/launchpad/presets", "GET"), ("PUT", "/api/launchpad/presets/install", "POST"),
             ("GET", "/launchpad/presets/install", "POST"))  # not a preset named "install"
    for method, path, allowed in cases:
        response = await plain.request(method, path)
        assert response.status == 405 and response.headers["Allow"] == allowed, (method, path, response.headers)
        assert (await response.json())["error"]["code"] == "method_not_allowed"
