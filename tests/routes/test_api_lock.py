"""The lock routes the dashboard downloads from: what is installed, and what the open workflow needs
(a real aiohttp server over the service, the fake Hub as Hugging Face; answers checked against the
route table's schemas by apiclient.Api)."""

from __future__ import annotations

from pathlib import Path

import pytest
from apiclient import Api

from fakehub import COMMIT, random_bytes, sha256_of, write_presets
from lp.launchpad.config import Settings
from lp.launchpad.lock import parse
from lp.launchpad.service import LaunchpadService
from lp.server_routes.standalone import create_app


@pytest.fixture
async def api(workspace_dir: Path, tmp_path: Path, fakehub, aiohttp_client):
    templates = tmp_path / "no-templates"
    templates.mkdir()
    settings = Settings.from_env({"HF_ENDPOINT": fakehub.url}, workspace=workspace_dir, templates_dir=templates)
    service = LaunchpadService(settings)
    client = await aiohttp_client(create_app(service))
    await service.ready()
    yield Api(client)
    await service.close()


@pytest.fixture
def models(workspace_dir: Path, fakehub) -> dict[str, bytes]:
    data = {"checkpoints/base.safetensors": random_bytes(3000), "loras/style.safetensors": random_bytes(2000)}
    fakehub.add_hf_file("acme/base", "base.safetensors", data["checkpoints/base.safetensors"])
    fakehub.add_hf_file("acme/base", "style.safetensors", data["loras/style.safetensors"])
    write_presets(workspace_dir, {"B": [
        {"folder": "checkpoints", "name": "base.safetensors", "hf": "acme/base", "path": "base.safetensors"},
        {"folder": "loras", "name": "style.safetensors", "hf": "acme/base", "path": "style.safetensors"},
    ]})
    installed = workspace_dir / "models" / "checkpoints" / "base.safetensors"
    installed.parent.mkdir(parents=True, exist_ok=True)
    installed.write_bytes(data["checkpoints/base.safetensors"])
    own = workspace_dir / "models" / "vae" / "own.safetensors"
    own.parent.mkdir(parents=True, exist_ok=True)
    own.write_bytes(b"mine")
    return data


async def test_the_lock_of_what_is_installed(api, models):
    status, body = await api.get("/launchpad/lock/installed")

    assert status == 200 and body["filename"] == "models.lock.json"
    lock = parse(body["lock"])  # what the dashboard saves is a lock `launchpad provision` reads
    [locked] = lock.files
    assert (locked.key, locked.commit, locked.size) == ("checkpoints/base.safetensors", COMMIT, 3000)
    assert locked.sha256 == sha256_of(models["checkpoints/base.safetensors"])
    assert body["lock"]["made_from"]["installed"] is True
    assert body["warnings"] == ["vae/own.safetensors: left out, no source is known (no catalog preset lists it "
                                "and Launchpad did not download it)"]


async def test_the_lock_of_a_workflow(api, models):
    workflow = {"nodes": [{"id": 1, "type": "CheckpointLoaderSimple", "widgets_values": ["base.safetensors"]},
                          {"id": 2, "type": "LoraLoader", "widgets_values": ["style.safetensors", 1, 1]},
                          {"id": 3, "type": "VAELoader", "widgets_values": ["nowhere.safetensors"]}]}

    status, body = await api.post("/launchpad/workflow/lock", {"workflow": workflow, "name": "My flow.json"})

    assert status == 200 and body["filename"] == "My_flow.lock.json"
    lock = parse(body["lock"])
    assert {f.key for f in lock.files} == {"checkpoints/base.safetensors", "loras/style.safetensors"}
    assert {f.commit for f in lock.files} == {COMMIT}
    assert lock.workflows == ("My_flow",)
    assert any(w.startswith("vae/nowhere.safetensors: left out") for w in body["warnings"])

    status, body = await api.post("/launchpad/workflow/lock", {"workflow": {"nodes": "no"}})
    assert status == 400


async def test_the_model_listing_says_which_pods_use_a_file(api, models, workspace_dir):
    status, body = await api.get("/launchpad/models")
    assert status == 200 and all(m["pods"] == [] for m in body["models"])  # this pod serves no lock or preset


async def test_another_pods_lease_keeps_its_files_from_delete_and_uninstall(api, models, workspace_dir):
    import json
    import os

    lease = workspace_dir / ".launchpad" / "leases" / "gpu-2-99-x.json"
    lease.parent.mkdir(parents=True, exist_ok=True)
    lease.write_text(json.dumps({"pod": "gpu-2", "host": "other-host", "pid": 99, "kind": "comfyui",
                                 "started_at": 1.0, "ttl": 60, "locks": {}, "presets": {"B": [
                                     "checkpoints/base.safetensors", "loras/style.safetensors"]}}))
    os.utime(lease)
    installed = workspace_dir / "models" / "checkpoints" / "base.safetensors"

    status, body = await api.get("/launchpad/models")
    [model] = [m for m in body["models"] if m["name"] == "base.safetensors"]
    assert [(p["pod"], p["serves"], p["this_pod"]) for p in model["pods"]] == [("gpu-2", ["preset B"], False)]

    status, body = await api.delete(f"/launchpad/models/{model['id']}")
    assert status == 409 and body["error"]["code"] == "in_use"
    assert body["error"]["details"]["pods"][0]["pod"] == "gpu-2"
    status, body = await api.post("/launchpad/presets/B/uninstall")
    assert status == 409 and "cannot uninstall checkpoints/base.safetensors" in body["error"]["message"]
    assert installed.exists()

    lease.unlink()  # that pod stopped
    status, _ = await api.delete(f"/launchpad/models/{model['id']}")
    assert status == 200 and not installed.exists()
