"""The HTTP API on the standalone app (`launchpad serve`), through a real aiohttp server.

Every answer is checked against the route's declared schema (apiclient.Api). Requests that
must be refused are checked on the disk too: nothing changes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from apiclient import Api, file_tree, write_presets

from lp.launchpad.config import Settings
from lp.launchpad.service import LaunchpadService
from lp.server_routes.standalone import create_app

PRESETS = """\
    schema: 1
    presets:
      - id: test-image
        name: Test image model
        category: image
        description: A checkpoint and a LoRA for the API tests.
        tags: [sdxl, zebrafixture]
        files:
          - folder: checkpoints
            name: test/base.safetensors
            url: https://example.invalid/base.safetensors
            size: 12
          - folder: loras
            name: style.safetensors
            url: https://example.invalid/style.safetensors
      - id: test-video
        name: Test video model
        category: video
        tags: [zebrafixture]
        files:
          - folder: diffusion_models
            name: video.safetensors
            url: https://example.invalid/video.safetensors
          - folder: loras
            name: style.safetensors
            url: https://example.invalid/style.safetensors
"""


def settings_for(workspace: Path, tmp_path: Path) -> Settings:
    no_templates = tmp_path / "no-templates"
    no_templates.mkdir(exist_ok=True)
    return Settings.from_env({}, workspace=workspace, templates_dir=no_templates)


@pytest.fixture
async def app(workspace_dir: Path, tmp_path: Path, aiohttp_client) -> SimpleNamespace:
    write_presets(workspace_dir, PRESETS)
    service = LaunchpadService(settings_for(workspace_dir, tmp_path))
    client = await aiohttp_client(create_app(service))
    await service.ready()
    return SimpleNamespace(service=service, client=client, api=Api(client), ws=workspace_dir,
                           models=workspace_dir / "models")


def put(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"m" * size)
    return path


# --- meta ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["", "/api"])
async def test_health_at_both_prefixes(app: SimpleNamespace, prefix: str) -> None:
    status, body = await Api(app.client, prefix).get("/launchpad/health")
    assert status == 200
    assert body["status"] == "ok" and body["state"] == "ready" and body["mode"] == "standalone"
    assert body["workspace"] == str(app.ws)


async def test_standalone_start_creates_the_workspace_layout(app: SimpleNamespace) -> None:
    assert (app.ws / "models" / "checkpoints").is_dir() and (app.ws / "logs").is_dir()


async def test_unknown_route_and_method_answer_json(app: SimpleNamespace) -> None:
    response = await app.client.get("/launchpad/nope")
    assert response.status == 404 and (await response.json())["error"]["code"] == "route_not_found"
    response = await app.client.put("/api/launchpad/presets")
    assert response.status == 405 and (await response.json())["error"]["code"] == "method_not_allowed"


async def test_dashboard_page_at_root(app: SimpleNamespace) -> None:
    response = await app.client.get("/")
    assert response.status == 200 and "Launchpad" in await response.text()
    response = await app.client.get("/extensions/launchpad/js/launchpad.js")
    assert response.status == 200


# --- presets -------------------------------------------------------------------------------------


async def test_presets_list_with_filters_and_installed_state(app: SimpleNamespace) -> None:
    status, body = await app.api.get("/launchpad/presets?search=zebrafixture")
    assert status == 200
    rows = {p["id"]: p for p in body["presets"]}
    assert set(rows) == {"test-image", "test-video"}
    assert rows["test-image"]["state"] == "missing" and rows["test-image"]["file_count"] == 2
    assert {"image", "video"} <= set(body["categories"])

    _, body = await app.api.get("/launchpad/presets?category=video&search=zebrafixture")
    assert [p["id"] for p in body["presets"]] == ["test-video"]
    _, body = await app.api.get("/launchpad/presets?search=sdxl+zebrafixture")
    assert [p["id"] for p in body["presets"]] == ["test-image"]

    put(app.models / "loras" / "style.safetensors", 5)
    _, body = await app.api.get("/launchpad/presets?search=zebrafixture")
    assert {p["id"]: p["state"] for p in body["presets"]} == {"test-image": "partial", "test-video": "partial"}
    put(app.models / "checkpoints" / "test" / "base.safetensors", 12)
    _, body = await app.api.get("/launchpad/presets?installed=true&search=zebrafixture")
    assert [p["id"] for p in body["presets"]] == ["test-image"]
    assert body["presets"][0]["bytes_installed"] == 17
    _, body = await app.api.get("/launchpad/presets?installed=false&search=zebrafixture")
    assert [p["id"] for p in body["presets"]] == ["test-video"]


async def test_presets_bad_query_is_400(app: SimpleNamespace) -> None:
    status, body = await app.api.get("/launchpad/presets?installed=maybe")
    assert status == 400 and "installed" in body["error"]["message"]


async def test_preset_detail_has_per_file_state(app: SimpleNamespace) -> None:
    put(app.models / "checkpoints" / "test" / "base.safetensors", 3)  # wrong size
    put(app.models / "loras" / "style.safetensors.part", 4)
    status, body = await app.api.get("/launchpad/presets/test-image")
    assert status == 200
    files = {f["key"]: f for f in body["files"]}
    base, style = files["checkpoints/test/base.safetensors"], files["loras/style.safetensors"]
    assert base["state"] == "wrong_size" and base["bytes_on_disk"] == 3 and base["model_id"]
    assert style["state"] == "partial" and style["bytes_on_disk"] == 4
    assert style["path"] == str(app.models / "loras" / "style.safetensors")
    assert style["used_by"] == ["test-video"]
    assert body["state"] == "partial"


async def test_unknown_preset_is_404_json(app: SimpleNamespace) -> None:
    for path in ("/launchpad/presets/does-not-exist", "/launchpad/presets/..%2F..%2Fetc"):
        status, body = await app.api.get(path)
        assert status == 404 and body["error"]["code"] == "not_found"


# --- install: what is refused --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"presets": ["test-image"], "url": "https://evil.example/x.safetensors"}, "unknown field"),
        ({"url": "https://evil.example/x.safetensors"}, "body.url"),
        ({"presets": "test-image"}, "must be array"),
        ({"presets": []}, "at least 1"),
        ({"presets": ["../../etc/passwd"]}, "must match"),
        ({"presets": ["https://evil.example/x.safetensors"]}, "must match"),
        ({"presets": [{"folder": "checkpoints", "url": "https://x"}]}, "must be string"),
        ([], "must be object"),
    ],
)
async def test_install_rejects_malformed_bodies(app: SimpleNamespace, body: object, fragment: str) -> None:
    before = file_tree(app.ws)
    status, answer = await app.api.post("/launchpad/presets/install", json=body)
    assert status == 400, answer
    assert answer["error"]["code"] == "invalid_input" and fragment in answer["error"]["message"]
    assert file_tree(app.ws) == before
    assert (await app.service.downloads_snapshot())["jobs"] == []


async def test_install_rejects_non_json(app: SimpleNamespace) -> None:
    before = file_tree(app.ws)
    status, answer = await app.api.call("POST", "/launchpad/presets/install", data="presets=test-image",
                                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 415 and answer["error"]["code"] == "unsupported_media_type"
    status, answer = await app.api.call("POST", "/launchpad/presets/install", data="{not json",
                                        headers={"Content-Type": "application/json"})
    assert status == 400 and "not valid JSON" in answer["error"]["message"]
    assert file_tree(app.ws) == before


async def test_install_unknown_preset_is_404_and_queues_nothing(app: SimpleNamespace) -> None:
    status, answer = await app.api.post("/launchpad/presets/install", json={"presets": ["test-image", "nope"]})
    assert status == 404 and "nope" in answer["error"]["message"]
    assert (await app.service.downloads_snapshot())["jobs"] == []


async def test_unknown_job_ids_are_404(app: SimpleNamespace) -> None:
    for action in ("cancel", "retry"):
        status, answer = await app.api.post(f"/launchpad/downloads/no-such-job/{action}")
        assert status == 404, answer


async def test_action_routes_reject_unknown_fields(app: SimpleNamespace) -> None:
    status, answer = await app.api.post("/launchpad/presets/test-image/uninstall", json={"force": True})
    assert status == 400 and "unknown field" in answer["error"]["message"]


# --- models --------------------------------------------------------------------------------------


async def test_models_list_filter_and_paging(app: SimpleNamespace) -> None:
    for index in range(5):
        put(app.models / "loras" / f"lora-{index}.safetensors", index + 1)
    put(app.models / "checkpoints" / "test" / "base.safetensors", 12)
    put(app.models / "clip" / "t5.safetensors", 9)  # a second directory of text_encoders

    status, body = await app.api.get("/launchpad/models")
    assert status == 200 and body["total"] == 7
    names = {(m["folder"], m["name"]) for m in body["models"]}
    assert ("text_encoders", "t5.safetensors") in names and ("checkpoints", "test/base.safetensors") in names
    base = next(m for m in body["models"] if m["name"] == "test/base.safetensors")
    assert base["presets"] == ["test-image"] and base["size"] == 12

    _, body = await app.api.get("/launchpad/models?folder=loras&offset=1&limit=2")
    assert [m["name"] for m in body["models"]] == ["lora-1.safetensors", "lora-2.safetensors"]
    assert (body["total"], body["offset"], body["limit"], body["total_bytes"]) == (5, 1, 2, 15)
    _, body = await app.api.get("/launchpad/models?search=LORA-4")
    assert [m["name"] for m in body["models"]] == ["lora-4.safetensors"]


async def test_models_list_says_the_free_space_of_each_folder(app: SimpleNamespace) -> None:
    free = shutil.disk_usage(app.models).free
    _, body = await app.api.get("/launchpad/models")
    assert set(body["space"]) == set(body["folders"])
    loras = body["space"]["loras"]
    assert loras["total"] == shutil.disk_usage(app.models).total
    assert abs(loras["free"] - free) < 100 * 2**20  # the same disk, give or take other writers
    _, body = await app.api.get("/launchpad/models?folder=vae")
    assert list(body["space"]) == ["vae"]


@pytest.mark.parametrize("query", ["limit=0", "limit=5000", "offset=-1", "limit=ten"])
async def test_models_bad_query_is_400(app: SimpleNamespace, query: str) -> None:
    status, body = await app.api.get(f"/launchpad/models?{query}")
    assert status == 400 and body["error"]["code"] == "invalid_input"


async def test_models_of_an_unknown_folder_are_not_found(app: SimpleNamespace) -> None:
    status, body = await app.api.get("/launchpad/models?folder=nope")
    assert status == 404 and "known folders: checkpoints" in body["error"]["message"]


async def test_delete_model_by_id(app: SimpleNamespace) -> None:
    put(app.models / "loras" / "keep.safetensors", 3)
    put(app.models / "loras" / "gone.safetensors", 4)
    _, body = await app.api.get("/launchpad/models?search=gone")
    model = body["models"][0]
    before = file_tree(app.ws)
    status, answer = await app.api.delete(f"/launchpad/models/{model['id']}")
    assert status == 200 and answer["deleted"]["name"] == "gone.safetensors"
    after = file_tree(app.ws)
    assert set(before) - set(after) == {"models/loras/gone.safetensors"}
    status, answer = await app.api.delete(f"/launchpad/models/{model['id']}")
    assert status == 404


@pytest.mark.parametrize(
    "model_id", ["..%2F..%2Fetc%2Fpasswd", "%00" * 3, "0123456789abcdef0123456%00", "ZZZZ", "a" * 64]
)
async def test_delete_malformed_id_is_400_and_touches_nothing(app: SimpleNamespace, model_id: str) -> None:
    put(app.models / "loras" / "keep.safetensors", 3)
    before = file_tree(app.ws)
    status, answer = await app.api.delete(f"/launchpad/models/{model_id}")
    assert status == 400, answer
    assert file_tree(app.ws) == before


async def test_delete_outside_a_model_root_is_refused(app: SimpleNamespace, tmp_path: Path) -> None:
    precious = put(tmp_path / "elsewhere" / "precious.safetensors", 8)
    (app.models / "loras" / "link.safetensors").symlink_to(precious)
    (app.models / "checkpoints" / "external").symlink_to(precious.parent, target_is_directory=True)
    _, body = await app.api.get("/launchpad/models?limit=1000")
    ids = [m["id"] for m in body["models"] if m["name"] in ("link.safetensors", "external/precious.safetensors")]
    assert len(ids) == 2
    before, outside = file_tree(app.ws), file_tree(tmp_path / "elsewhere")
    for model_id in ids:
        status, answer = await app.api.delete(f"/launchpad/models/{model_id}")
        assert status == 403 and answer["error"]["code"] == "forbidden"
    # an id made from a real path outside every root is simply unknown
    from lp.launchpad.model_library import model_id as id_of

    status, _ = await app.api.delete(f"/launchpad/models/{id_of(str(precious))}")
    assert status == 404
    assert file_tree(app.ws) == before and file_tree(tmp_path / "elsewhere") == outside


# --- queue, catalog, system, metrics -------------------------------------------------------------


async def test_queue_is_empty_standalone(app: SimpleNamespace) -> None:
    status, body = await app.api.get("/launchpad/queue")
    assert status == 200 and body == {"running": [], "pending": [], "remaining": 0, "available": False,
                                      "cancel": None, "now": body["now"]}


async def test_catalog_warnings_and_user_presets_reload(app: SimpleNamespace) -> None:
    _, body = await app.api.get("/launchpad/catalog/warnings")
    assert body["warnings"] == []
    write_presets(app.ws, """\
        schema: 1
        presets:
          - id: broken
            name: Broken
            category: image
            files: [{folder: nowhere, name: x.safetensors, url: "https://example.invalid/x"}]
          - id: added-later
            name: Added later
            category: audio
            files: [{folder: checkpoints, name: later.safetensors, url: "https://example.invalid/l"}]
        """, name="more.yaml")
    status, body = await app.api.post("/launchpad/catalog/reload")
    assert status == 200
    (warning,) = body["warnings"]
    assert warning["preset"] == "broken" and warning["field"] == "files[0].folder"
    assert warning["file"].endswith("more.yaml")
    _, body = await app.api.get("/launchpad/presets?category=audio")
    assert "added-later" in [p["id"] for p in body["presets"]]


async def test_system_reading(app: SimpleNamespace) -> None:
    status, body = await app.api.get("/launchpad/system")
    assert status == 200
    assert body["versions"]["launchpad"] and isinstance(body["gpu"]["devices"], list)
    assert {d["name"] for d in body["disks"]} >= {"workspace", "models", "output"}


async def test_system_watch_lease(app: SimpleNamespace) -> None:
    status, body = await app.api.post("/launchpad/system/watch", json={"client_id": "tab-1", "ttl": 5})
    assert status == 200 and body["client_id"] == "tab-1" and body["reading"]["cpu"] is not None
    assert app.service.system.watchers == 1
    status, body = await app.api.delete("/launchpad/system/watch/tab-1")
    assert status == 200 and body["watchers"] == 0
    status, body = await app.api.post("/launchpad/system/watch", json={"ttl": 5})
    assert status == 400 and "client_id" in body["error"]["message"]


async def test_system_events_flow_over_the_websocket_only_while_watched(app: SimpleNamespace) -> None:
    async with app.client.ws_connect("/ws?clientId=panel") as ws:
        assert (await ws.receive_json(timeout=10))["type"] == "status"
        assert not app.service.system.sampling  # nobody watches: nothing is sampled
        status, _ = await app.api.post("/launchpad/system/watch", json={"client_id": "panel", "ttl": 30})
        assert status == 200
        while True:
            message = await ws.receive_json(timeout=30)
            if message["type"] == "launchpad.system":
                break
        assert message["data"]["cpu"] is not None and message["data"]["watchers"] == 1
        await app.api.delete("/launchpad/system/watch/panel")


async def test_metrics_are_prometheus_text(app: SimpleNamespace) -> None:
    response = await app.client.get("/launchpad/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = await response.text()
    for name in ("launchpad_download_jobs", "launchpad_downloaded_bytes_total", "launchpad_download_failures_total",
                 "launchpad_disk_free_bytes", "launchpad_gpus"):
        assert f"# TYPE {name} " in text
    assert 'launchpad_disk_free_bytes{name="workspace"' in text
    assert "launchpad_comfyui_queue_depth" not in text  # standalone has no ComfyUI queue


# --- a real install, watched over the WebSocket ----------------------------------------------------


async def collect_until(ws, done) -> list[dict]:  # type: ignore[no-untyped-def]
    """Messages from ``ws`` until ``done(message)``; fails after 60 s without one."""
    messages = []
    while True:
        message = await ws.receive_json(timeout=60)
        messages.append(message)
        if done(message):
            return messages


@pytest.mark.parametrize("ws_path", ["/ws", "/api/ws"])
async def test_websocket_receives_download_events_while_a_preset_installs(
    workspace_dir: Path, tmp_path: Path, fakehub, aiohttp_client, ws_path: str
) -> None:
    weights = os.urandom(400_000)
    lora = os.urandom(50_000)
    sha = fakehub.add_hf_file("acme/model", "weights/model.safetensors", weights)
    fakehub.behave("acme/model/weights/model.safetensors", rate=800_000)  # ~0.5 s: progress on the way
    lora_url = fakehub.add_file("lora.safetensors", lora)
    write_presets(workspace_dir, f"""\
        schema: 1
        presets:
          - id: hub-preset
            name: From the fake hub
            category: image
            files:
              - folder: checkpoints
                name: model.safetensors
                hf: acme/model
                path: weights/model.safetensors
                size: {len(weights)}
                sha256: {sha}
              - folder: loras
                name: lora.safetensors
                url: {lora_url}
        """)
    settings = settings_for(workspace_dir, tmp_path)
    settings = replace(settings, hf_endpoint=fakehub.url, retry_backoff=0.02, free_space_margin=0)
    service = LaunchpadService(settings)
    client = await aiohttp_client(create_app(service))
    await service.ready()
    api = Api(client)

    async with client.ws_connect(ws_path + "?clientId=watcher") as ws:
        hello = await ws.receive_json(timeout=10)
        assert hello["type"] == "status" and hello["data"]["sid"] == "watcher"
        status, body = await api.post("/launchpad/presets/install", json={"presets": ["hub-preset"]})
        assert status == 202 and {j["key"] for j in body["jobs"]} == {
            "checkpoints/model.safetensors", "loras/lora.safetensors"
        }
        messages = await collect_until(
            ws, lambda m: m["type"] == "launchpad.preset" and m["data"]["state"] in ("done", "failed")
        )

    downloads = [m["data"] for m in messages if m["type"] == "launchpad.download"]
    big = [d for d in downloads if d["key"] == "checkpoints/model.safetensors"]
    assert big[-1]["state"] == "done" and big[-1]["error"] is None
    assert any(d["state"] == "downloading" and 0 < d["bytes_done"] < len(weights) for d in big)
    assert [d["bytes_done"] for d in big] == sorted(d["bytes_done"] for d in big)
    assert {d["key"] for d in downloads if d["state"] == "done"} == {"checkpoints/model.safetensors",
                                                                    "loras/lora.safetensors"}
    assert messages[-1]["data"]["files_done"] == 2

    assert (workspace_dir / "models" / "checkpoints" / "model.safetensors").read_bytes() == weights
    assert (workspace_dir / "models" / "loras" / "lora.safetensors").read_bytes() == lora
    _, detail = await api.get("/launchpad/presets/hub-preset")
    assert detail["state"] == "installed" and all(f["state"] == "installed" for f in detail["files"])
    _, models = await api.get("/launchpad/models?search=model.safetensors")
    assert models["models"][0]["presets"] == ["hub-preset"]
    _, snapshot = await api.get("/launchpad/downloads")
    assert {j["state"] for j in snapshot["jobs"]} == {"done"}
    assert snapshot["presets"]["hub-preset"]["state"] == "done"
    response = await client.get("/launchpad/metrics")
    assert 'launchpad_download_jobs{state="done"} 2' in await response.text()

    # installing again skips what is on disk; uninstall deletes both files
    status, body = await api.post("/launchpad/presets/install", json={"presets": ["hub-preset"]})
    assert status == 202 and body["jobs"] == [] and len(body["skipped"]) == 2
    status, body = await api.post("/launchpad/presets/hub-preset/uninstall")
    assert status == 200 and sorted(body["deleted"]) == [
        str(workspace_dir / "models" / "checkpoints" / "model.safetensors"),
        str(workspace_dir / "models" / "loras" / "lora.safetensors"),
    ]
    assert not (workspace_dir / "models" / "loras" / "lora.safetensors").exists()


async def test_cancel_and_retry_through_the_api(workspace_dir: Path, tmp_path: Path, fakehub, aiohttp_client) -> None:
    data = os.urandom(300_000)
    url = fakehub.add_file("slow.safetensors", data)
    fakehub.behave("slow.safetensors", rate=50_000)  # six seconds: long enough to cancel
    write_presets(workspace_dir, f"""\
        schema: 1
        presets:
          - id: slow
            name: Slow
            category: image
            files: [{{folder: checkpoints, name: slow.safetensors, url: "{url}", size: {len(data)}}}]
        """)
    settings = replace(settings_for(workspace_dir, tmp_path), retry_backoff=0.02, free_space_margin=0)
    service = LaunchpadService(settings)
    client = await aiohttp_client(create_app(service))
    await service.ready()
    api = Api(client)
    _, body = await api.post("/launchpad/presets/install", json={"presets": ["slow"]})
    job_id = body["jobs"][0]["id"]
    status, body = await api.post(f"/launchpad/downloads/{job_id}/retry")
    assert status == 409 and body["error"]["code"] == "conflict"  # still running
    status, body = await api.post("/launchpad/presets/slow/cancel")
    assert status == 200 and [j["id"] for j in body["cancelled"]] == [job_id]
    assert body["cancelled"][0]["state"] == "cancelled"
    status, body = await api.post(f"/launchpad/downloads/{job_id}/cancel")
    assert status == 409
    fakehub.behave("slow.safetensors")  # full speed from now on
    status, body = await api.post(f"/launchpad/downloads/{job_id}/retry")
    assert status == 200 and body["state"] == "queued"
    await service.wait_downloads([job_id])
    assert (workspace_dir / "models" / "checkpoints" / "slow.safetensors").read_bytes() == data


async def test_preset_download_installs_at_boot(
    workspace_dir: Path, tmp_path: Path, fakehub, caplog: pytest.LogCaptureFixture
) -> None:
    data = os.urandom(20_000)
    url = fakehub.add_file("boot.safetensors", data)
    write_presets(workspace_dir, f"""\
        schema: 1
        presets:
          - id: at-boot
            name: At boot
            category: image
            files: [{{folder: vae, name: boot.safetensors, url: "{url}"}}]
        """)
    settings = replace(settings_for(workspace_dir, tmp_path), free_space_margin=0,
                       preset_download=("at-boot", "no-such-preset"))
    service = LaunchpadService(settings)
    with caplog.at_level(logging.INFO):
        await service.start()
        try:
            while not (await service.downloads_snapshot())["jobs"]:
                await asyncio.sleep(0.02)
            await service.wait_downloads()
        finally:
            await service.close()
    assert (workspace_dir / "models" / "vae" / "boot.safetensors").read_bytes() == data
    assert "PRESET_DOWNLOAD names unknown preset 'no-such-preset'" in caplog.text


async def test_downloads_drop_deleted_files_and_clear_finished_jobs(
    workspace_dir: Path, tmp_path: Path, fakehub, aiohttp_client
) -> None:
    kept, deleted, slow = os.urandom(20_000), os.urandom(30_000), os.urandom(400_000)
    urls = {name: fakehub.add_file(f"{name}.safetensors", data)
            for name, data in (("kept", kept), ("deleted", deleted), ("slow", slow))}
    fakehub.behave("slow.safetensors", rate=40_000)  # ten seconds: still running at the end
    missing = fakehub.url + "/files/no-such-file.safetensors"
    entries = {**urls, "broken": missing}
    write_presets(workspace_dir, "schema: 1\npresets:\n" + "".join(
        f"  - {{id: {name}, name: {name}, category: image, files: [{{folder: checkpoints, "
        f"name: {name}.safetensors, url: \"{url}\"}}]}}\n" for name, url in entries.items()))
    settings = replace(settings_for(workspace_dir, tmp_path), retry_backoff=0.02, free_space_margin=0, retries=0)
    service = LaunchpadService(settings)
    client = await aiohttp_client(create_app(service))
    await service.ready()
    api = Api(client)
    _, body = await api.post("/launchpad/presets/install", json={"presets": ["kept", "deleted", "broken", "slow"]})
    ids = {job["name"].split(".")[0]: job["id"] for job in body["jobs"]}
    await service.wait_downloads([ids["kept"], ids["deleted"], ids["broken"]])
    checkpoints = workspace_dir / "models" / "checkpoints"

    (checkpoints / "deleted.safetensors").unlink()  # by hand, outside Launchpad
    status, snapshot = await api.get("/launchpad/downloads")
    assert status == 200
    states = {job["id"]: job["state"] for job in snapshot["jobs"]}
    assert states == {ids["kept"]: "done", ids["broken"]: "failed", ids["slow"]: states[ids["slow"]]}
    assert states[ids["slow"]] in ("queued", "resolving", "downloading")
    assert "deleted" not in snapshot["presets"]  # nor its preset's progress

    status, body = await api.post("/launchpad/downloads/clear")
    assert status == 200 and sorted(body["cleared"]) == sorted([ids["kept"], ids["broken"]])
    _, snapshot = await api.get("/launchpad/downloads")
    assert [job["id"] for job in snapshot["jobs"]] == [ids["slow"]]
    assert set(snapshot["presets"]) == {"slow"}
    assert (checkpoints / "kept.safetensors").read_bytes() == kept  # the files stay

    await service.close()  # the journal forgot them too: a restart does not bring them back
    again = LaunchpadService(settings)
    client = await aiohttp_client(create_app(again))
    await again.ready()
    try:
        _, snapshot = await Api(client).get("/launchpad/downloads")
        assert [job["id"] for job in snapshot["jobs"]] == [ids["slow"]]
    finally:
        await again.close()


async def test_metrics_count_each_downloaded_byte_once(
    workspace_dir: Path, tmp_path: Path, fakehub, aiohttp_client
) -> None:
    """A download reports its progress many times; the bytes counter grows by what is new each time,
    so after a 600 kB download (two of them, one failing half way) it says 600 kB and 1 failure."""
    data = os.urandom(600_000)
    url = fakehub.add_file("counted.safetensors", data)
    fakehub.behave("counted.safetensors", rate=400_000)  # 1.5 s: several progress events
    broken = fakehub.add_file("broken.safetensors", os.urandom(1000))
    fakehub.behave("broken.safetensors", status=404)
    write_presets(workspace_dir, f"""\
        schema: 1
        presets:
          - id: counted
            name: Counted
            category: image
            files: [{{folder: loras, name: counted.safetensors, url: "{url}", size: {len(data)}}}]
          - id: broken
            name: Broken
            category: image
            files: [{{folder: loras, name: broken.safetensors, url: "{broken}"}}]
        """)
    settings = replace(settings_for(workspace_dir, tmp_path), retry_backoff=0.02, free_space_margin=0)
    service = LaunchpadService(settings)
    client = await aiohttp_client(create_app(service))
    await service.ready()
    api = Api(client)
    status, body = await api.post("/launchpad/presets/install", {"presets": ["counted", "broken"]})
    assert status == 202
    await service.wait_downloads([job["id"] for job in body["jobs"]])
    _, downloads = await api.get("/launchpad/downloads")
    assert {job["name"]: job["state"] for job in downloads["jobs"]} == {
        "counted.safetensors": "done", "broken.safetensors": "failed"}
    response = await client.get("/launchpad/metrics")
    text = await response.text()
    assert "launchpad_downloaded_bytes_total 600000\n" in text
    assert "launchpad_download_failures_total 1\n" in text
