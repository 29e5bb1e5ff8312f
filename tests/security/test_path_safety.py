"""Path and input safety: every route that takes a name or an id, fed traversal, absolute paths,
symlinks leading out of a model root, NUL bytes, huge bodies and unknown fields. Each case
asserts the exact status and error code, and that nothing on disk changed."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from apiclient import file_tree, write_presets
from security_support import auth_settings, settled, standalone_client

OUTSIDE = "outside"
TRAVERSAL_PRESETS = """\
    schema: 1
    presets:
      - id: escape-preset
        name: Tries to write outside its folder
        category: image
        files:
          - folder: checkpoints
            name: ../../../outside/planted.safetensors
            url: http://127.0.0.1:9/x.safetensors
      - id: absolute-preset
        name: Absolute file name
        category: image
        files:
          - folder: checkpoints
            name: /tmp/planted.safetensors
            url: http://127.0.0.1:9/x.safetensors
"""


@pytest.fixture
async def app(workspace_dir: Path, tmp_path: Path, aiohttp_client: Any) -> SimpleNamespace:
    outside = tmp_path / OUTSIDE
    (outside / "dir").mkdir(parents=True)
    (outside / "secret.safetensors").write_bytes(b"s" * 8)
    (outside / "dir" / "evil.safetensors").write_bytes(b"e" * 8)
    models = workspace_dir / "models"
    (models / "checkpoints").mkdir(parents=True)
    (models / "loras").mkdir(parents=True)
    (models / "checkpoints" / "real.safetensors").write_bytes(b"r" * 8)
    os.symlink(outside / "secret.safetensors", models / "checkpoints" / "link.safetensors")
    os.symlink(outside / "dir", models / "loras" / "escape")
    write_presets(workspace_dir, TRAVERSAL_PRESETS, "traversal.yaml")
    client = await standalone_client(aiohttp_client, auth_settings(workspace_dir, tmp_path, enable_auth=False))
    await settled(client)
    listing = await (await client.get("/launchpad/models?limit=1000")).json()
    ids = {m["name"]: m["id"] for m in listing["models"]}
    return SimpleNamespace(client=client, root=tmp_path, ids=ids, models=models, outside=outside)


async def expect(app: SimpleNamespace, method: str, path: str, status: int, code: str | None, **kwargs: Any) -> None:
    before = file_tree(app.root)
    response = await app.client.request(method, path, **kwargs)
    body = await response.json()
    assert (response.status, body.get("error", {}).get("code")) == (status, code), body
    assert "Traceback" not in str(body)
    assert file_tree(app.root) == before


HEX_ZERO = "0" * 24
CASES = [
    # model ids: only ids from our own listing, 24 hex characters
    ("DELETE", "/launchpad/models/..%2F..%2F..%2Foutside%2Fsecret.safetensors", 400, "invalid_input"),
    ("DELETE", "/launchpad/models/%2Fetc%2Fpasswd", 400, "invalid_input"),
    ("DELETE", "/launchpad/models/abc%00def", 400, "invalid_input"),
    ("DELETE", "/launchpad/models/" + "a" * 5000, 400, "invalid_input"),
    ("DELETE", f"/launchpad/models/{HEX_ZERO}", 404, "not_found"),
    ("DELETE", f"/api/launchpad/models/{'A' * 24}", 400, "invalid_input"),
    # preset ids are looked up in the catalog, never used as paths
    ("GET", "/launchpad/presets/..%2F..%2Fetc%2Fpasswd", 404, "not_found"),
    ("GET", "/launchpad/presets/%2Fetc%2Fpasswd", 404, "not_found"),
    ("GET", "/launchpad/presets/sec-test%00", 404, "not_found"),
    ("POST", "/launchpad/presets/..%2Fsec-test/uninstall", 404, "not_found"),
    ("POST", "/launchpad/presets/%2Fsec-test/cancel", 404, "not_found"),
    # job and lease ids likewise
    ("POST", "/launchpad/downloads/..%2F..%2Fjournal/cancel", 404, "not_found"),
    ("POST", "/launchpad/downloads/%00/retry", 404, "not_found"),
    # a watch lease id is only a key in memory; giving back an unknown one is a no-op
    ("DELETE", "/launchpad/system/watch/..%2F..%2Fx", 200, None),
]


@pytest.mark.parametrize(("method", "path", "status", "code"), CASES, ids=[f"{m} {p[:60]}" for m, p, *_ in CASES])
async def test_ids_in_paths(app: SimpleNamespace, method: str, path: str, status: int, code: str | None) -> None:
    kwargs = {"json": {}} if method == "POST" else {}
    await expect(app, method, path, status, code, **kwargs)


@pytest.mark.parametrize(
    ("raw_path", "status", "code"),
    [
        ("/launchpad/models/../../../outside/secret.safetensors", 404, "route_not_found"),
        ("/launchpad/models/%2e%2e/%2e%2e/outside", 404, "route_not_found"),
        ("/api/launchpad/presets/../../../etc/passwd", 404, "route_not_found"),
        ("/launchpad/models/..\\..\\outside", 400, "invalid_input"),
    ],
)
async def test_dot_segments_sent_raw(app: SimpleNamespace, raw_path: str, status: int, code: str) -> None:
    """Sent byte for byte (a client library would normalise them): an id never spans segments."""
    before = file_tree(app.root)
    reader, writer = await asyncio.open_connection(app.client.server.host, app.client.server.port)
    writer.write(f"DELETE {raw_path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    status_line = (await reader.readline()).decode()
    rest = (await reader.read()).decode()
    writer.close()
    assert int(status_line.split()[1]) == status, status_line
    assert f'"code": "{code}"' in rest
    assert file_tree(app.root) == before


BODY_CASES = [
    ({"presets": ["../../outside/secret"]}, 400, "invalid_input"),
    ({"presets": ["/etc/passwd"]}, 400, "invalid_input"),
    ({"presets": ["sec-test\u0000"]}, 400, "invalid_input"),
    ({"presets": ["sec-test"], "folder": "/etc"}, 400, "invalid_input"),  # unknown field
    ({"presets": ["sec-test"], "name": "../x"}, 400, "invalid_input"),
    ({"presets": "sec-test"}, 400, "invalid_input"),
    ({"presets": []}, 400, "invalid_input"),
    ({"presets": ["escape-preset"]}, 404, "not_found"),  # invalid in the catalog, so never installable
    ({"presets": ["absolute-preset"]}, 404, "not_found"),
]


@pytest.mark.parametrize(("body", "status", "code"), BODY_CASES, ids=[str(b)[:60] for b, *_ in BODY_CASES])
async def test_install_bodies(app: SimpleNamespace, body: dict, status: int, code: str) -> None:
    await expect(app, "POST", "/launchpad/presets/install", status, code, json=body)


async def test_huge_bodies(app: SimpleNamespace) -> None:
    huge = '{"presets": ["' + "a" * (70 * 1024) + '"]}'
    headers = {"Content-Type": "application/json"}
    await expect(app, "POST", "/launchpad/presets/install", 413, "payload_too_large", data=huge, headers=headers)

    async def chunks():  # no Content-Length: the limit still holds while reading
        for _ in range(80):
            yield b"[" * 1024

    await expect(app, "POST", "/launchpad/presets/install", 413, "payload_too_large", data=chunks(), headers=headers)


async def test_traversal_names_in_presets_are_refused_at_load(app: SimpleNamespace) -> None:
    warnings = await (await app.client.get("/launchpad/catalog/warnings")).json()
    text = str(warnings["warnings"])
    assert "escape-preset" in text and "absolute-preset" in text
    assert not (app.root / OUTSIDE / "planted.safetensors").exists()


async def test_symlink_out_of_a_model_root_is_never_deleted(app: SimpleNamespace) -> None:
    assert {"real.safetensors", "link.safetensors", "escape/evil.safetensors"} <= set(app.ids)
    await expect(app, "DELETE", f"/launchpad/models/{app.ids['link.safetensors']}", 403, "forbidden")
    await expect(app, "DELETE", f"/launchpad/models/{app.ids['escape/evil.safetensors']}", 403, "forbidden")
    assert (app.outside / "secret.safetensors").read_bytes() == b"s" * 8
    assert (app.outside / "dir" / "evil.safetensors").read_bytes() == b"e" * 8


async def test_a_real_model_is_deleted_and_nothing_else(app: SimpleNamespace) -> None:
    before = file_tree(app.root)
    response = await app.client.delete(f"/launchpad/models/{app.ids['real.safetensors']}")
    assert response.status == 200
    after = file_tree(app.root)
    assert set(before) - set(after) == {"workspace/models/checkpoints/real.safetensors"}
    assert set(after) - set(before) <= {p for p in after if p.startswith("workspace/.launchpad/")}


@pytest.mark.parametrize(
    "query", ["folder=../../outside", "folder=%2Fetc", "folder=%00", "folder=checkpoints%2F..%2F.."]
)
async def test_model_listing_folder_must_be_a_known_folder(app: SimpleNamespace, query: str) -> None:
    await expect(app, "GET", f"/launchpad/models?{query}", 404, "not_found")  # no such folder


async def test_model_listing_search_is_only_text(app: SimpleNamespace) -> None:
    response = await app.client.get("/launchpad/models?search=%00..%2F")
    assert response.status == 200 and (await response.json())["models"] == []
