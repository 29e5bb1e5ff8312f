"""Pod leases in real ComfyUI: two ComfyUIs with the pack on one workspace (two pods on one
volume); the one that serves a lock keeps the other from deleting its files."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import cli_argv
from lp.launchpad import leases
from lp.launchpad.workspace import Workspace

from .real_comfyui import ComfyUI, ComfyUIInstall, LaunchOptions, prepare, running, same_workspace

pytestmark = pytest.mark.integration
NAME = "served.safetensors"


def put_lock_and_model(workspace: Path) -> None:
    model = workspace / "models" / "checkpoints" / NAME
    model.parent.mkdir(parents=True)
    model.write_bytes(b"\0" * 64)
    lock = workspace / "config" / "prod.lock.json"
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({"format": "launchpad.models-lock", "version": 1, "files": [
        {"folder": "checkpoints", "name": NAME, "source": {"url": "https://example.com/s"}, "size": 64,
         "sha256": None}]}))


@pytest.fixture(scope="module")
def pair(comfyui_install: ComfyUIInstall, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ComfyUI]]:
    first_dir = tmp_path_factory.mktemp("pod-a")
    lock = first_dir / "workspace" / "config" / "prod.lock.json"
    first = prepare(first_dir, cli_argv, LaunchOptions(
        env={"RUNPOD_POD_ID": "pod-a", "MODELS_LOCK": str(lock)}, prepare=put_lock_and_model))
    second = same_workspace(first, tmp_path_factory.mktemp("pod-b"))
    second = dataclasses.replace(second, options=LaunchOptions(env={"RUNPOD_POD_ID": "pod-b"}))
    with running(comfyui_install, first, second) as servers:
        yield servers


def test_each_comfyui_holds_a_lease_and_the_other_cannot_delete_what_it_serves(pair: list[ComfyUI]) -> None:
    a, b = pair
    for server in pair:  # ComfyUI answers before Launchpad's core has started in the background
        deadline = time.monotonic() + 60
        while server.get("/launchpad/health").json()["state"] != "ready":  # type: ignore[index]
            assert time.monotonic() < deadline, server.log_text()[-2000:]
            time.sleep(0.2)
    found = {lease.pod: lease for lease in leases.live(Workspace(a.workspace))}
    assert set(found) == {"pod-a", "pod-b"} and {lease.kind for lease in found.values()} == {"comfyui"}
    assert found["pod-a"].serves(f"checkpoints/{NAME}") == ["lock prod.lock.json"]

    listing = b.get("/api/launchpad/models").json()["models"]  # type: ignore[index]
    [model] = [m for m in listing if m["name"] == NAME]
    assert [pod["pod"] for pod in model["pods"]] == ["pod-a"]
    refused = b.request("DELETE", f"/api/launchpad/models/{model['id']}")
    assert refused.status == 409 and refused.json()["error"]["code"] == "in_use"  # type: ignore[index]
    assert "pod pod-a" in refused.text and (a.workspace / "models" / "checkpoints" / NAME).exists()

    a.stop()  # its lease ends with it (removed on a clean stop; on this host a gone process counts as dead)
    assert [lease.pod for lease in leases.live(Workspace(a.workspace))] == ["pod-b"]
    assert b.request("DELETE", f"/api/launchpad/models/{model['id']}").status == 200
