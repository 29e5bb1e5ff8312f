"""Pod leases on a shared volume: what each pod serves, expiry when it dies, and deletes refused
while another live pod serves the file (two real `launchpad serve` processes on one workspace)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest
from serving import get_json, serving

from lp.launchpad import leases
from lp.launchpad.catalog import Catalog, ModelFile, Preset, UrlSource
from lp.launchpad.config import Settings
from lp.launchpad.errors import InUse
from lp.launchpad.workspace import Workspace

KEY = "checkpoints/shared.safetensors"


def settings(root: Path, **changes: object) -> Settings:
    return replace(Settings.from_env({}), workspace=root, **changes)


def write_lease(root: Path, name: str, *, host: str, pid: int, age: float, files: list[str]) -> Path:
    path = root / ".launchpad" / "leases" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pod": name, "host": host, "pid": pid, "kind": "comfyui", "started_at": 1.0,
                                "ttl": 60, "presets": {}, "locks": {"prod.lock.json": files}}))
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return path


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_a_lease_lives_while_its_heartbeat_does_and_goes_with_a_clean_stop(tmp_path):
    workspace = Workspace(tmp_path)
    lease = leases.Lease(settings(tmp_path, pod_id="pod-1", lock_ttl=2.0), workspace, "standalone",
                         presets={"P": [KEY]})
    assert lease.start()
    try:
        [found] = leases.live(workspace)
        assert (found.pod, found.pid, found.kind) == ("pod-1", os.getpid(), "standalone")
        assert found.serves(KEY) == ["preset P"] and found.describe() == f"pod pod-1 (standalone, process " \
            f"{os.getpid()} on host {socket.gethostname()})"
        old = time.time() - 30
        os.utime(lease.path, (old, old))
        time.sleep(1.2)  # the heartbeat (every ttl / 4) touches it again
        assert leases.live(workspace) and lease.path.stat().st_mtime > old + 20
    finally:
        lease.stop()
    assert leases.live(workspace) == [] and not lease.path.exists()


def test_a_lease_whose_pod_died_expires(tmp_path):
    workspace = Workspace(tmp_path)
    write_lease(tmp_path, "fresh-elsewhere", host="other-host", pid=4242, age=1, files=[KEY])
    write_lease(tmp_path, "silent-elsewhere", host="other-host", pid=4242, age=61, files=[KEY])
    write_lease(tmp_path, "dead-here", host=socket.gethostname(), pid=dead_pid(), age=0, files=[KEY])

    assert [lease.pod for lease in leases.live(workspace)] == ["fresh-elsewhere"]
    assert list(leases.users(workspace, ["clip/x", KEY])) == [KEY]


def test_refusal_names_the_pod_and_why_and_spares_our_own_lease(tmp_path):
    workspace = Workspace(tmp_path)
    write_lease(tmp_path, "pod-b", host="other-host", pid=7, age=0, files=[KEY, "text_encoders/t5.safetensors"])

    with pytest.raises(InUse) as caught:
        leases.refuse_if_served(workspace, [KEY], own=None)
    assert "cannot delete checkpoints/shared.safetensors: pod pod-b (comfyui, process 7 on host other-host) " \
        "uses it (lock prod.lock.json)" in caught.value.message
    assert "Stop that pod" in caught.value.message
    assert caught.value.details["pods"][0]["pod"] == "pod-b"
    with pytest.raises(InUse):  # a file reached through a folder alias is the same file
        leases.refuse_if_served(workspace, ["clip/t5.safetensors"], own=None)
    leases.refuse_if_served(workspace, [KEY], own="pod-b")  # a pod may delete what only it serves
    leases.refuse_if_served(workspace, ["vae/other.safetensors"], own=None)


def test_a_serving_pod_names_the_presets_and_locks_it_serves(tmp_path):
    lock = tmp_path / "prod.lock.json"
    lock.write_text(json.dumps({"format": "launchpad.models-lock", "version": 1, "files": [
        {"folder": "vae", "name": "v.safetensors", "source": {"url": "https://example.com/v"}, "size": 1,
         "sha256": None}]}))
    catalog = Catalog({"P": Preset("P", "P", "image", (ModelFile("loras", "l.safetensors",
                                                                 UrlSource("https://example.com/l")),))})
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "on-volume.lock.json").write_text(lock.read_text())
    config = settings(tmp_path, preset_download=("P", "UNKNOWN"),
                      models_locks=(lock, tmp_path / "missing.json", Path("config/on-volume.lock.json")))

    lease = leases.for_pod(config, Workspace(tmp_path), catalog, "comfyui")

    assert lease.presets == {"P": ["loras/l.safetensors"]}
    # the unreadable one is logged and left out; a relative one is read from the workspace
    assert lease.locks == {"prod.lock.json": ["vae/v.safetensors"], "on-volume.lock.json": ["vae/v.safetensors"]}
    assert lease.pod == socket.gethostname()  # without RUNPOD_POD_ID
    assert Settings.from_env({"RUNPOD_POD_ID": "abc123", "MODELS_LOCK": "/a.json,/b.json"}).pod_id == "abc123"
    assert Settings.from_env({"MODELS_LOCK": "/a.json,/b.json"}).models_locks == (Path("/a.json"), Path("/b.json"))


def delete(url: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, method="DELETE")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_two_pods_on_one_volume_a_file_the_other_serves_cannot_be_deleted_until_it_dies(tmp_path):
    root = tmp_path / "volume"
    model = root / "models" / "checkpoints" / "shared.safetensors"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"weights" * 100)
    mine = root / "models" / "checkpoints" / "mine.safetensors"
    mine.write_bytes(b"mine")
    lock = root / "config" / "prod.lock.json"
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({"format": "launchpad.models-lock", "version": 1, "files": [
        {"folder": "checkpoints", "name": "shared.safetensors", "source": {"url": "https://example.com/s"},
         "size": 700, "sha256": None}]}))
    templates = tmp_path / "no-templates"
    templates.mkdir()
    common = {"LAUNCHPAD_TEMPLATES_DIR": str(templates), "WORKSPACE_ROOT": str(root)}
    pod_a = serving(tmp_path, "--workspace", str(root),
                    env={**common, "RUNPOD_POD_ID": "pod-a", "MODELS_LOCK": str(lock)})
    with pod_a as base_a, serving(tmp_path, "--workspace", str(root),
                                  env={**common, "RUNPOD_POD_ID": "pod-b"}) as base_b:
        listing = get_json(f"{base_b}/launchpad/models")["models"]
        by_name = {m["name"]: m for m in listing}
        [pod] = by_name["shared.safetensors"]["pods"]
        assert (pod["pod"], pod["serves"], pod["this_pod"]) == ("pod-a", ["lock prod.lock.json"], False)
        assert by_name["mine.safetensors"]["pods"] == []
        assert get_json(f"{base_a}/launchpad/models")["models"][1]["pods"][0]["this_pod"] is True

        status, body = delete(f"{base_b}/launchpad/models/{by_name['shared.safetensors']['id']}")

        assert status == 409 and body["error"]["code"] == "in_use"
        assert "pod pod-a" in body["error"]["message"] and "lock prod.lock.json" in body["error"]["message"]
        assert model.exists()
        assert delete(f"{base_b}/launchpad/models/{by_name['mine.safetensors']['id']}")[0] == 200

        pid = next(lease["pid"] for lease in map(json.loads, map(Path.read_text, (
            root / ".launchpad" / "leases").glob("*.json"))) if lease["pod"] == "pod-a")
        os.kill(pid, signal.SIGKILL)  # the pod dies without a word: its lease is dead at once on this host
        os.waitpid(pid, 0)  # (reaped, as a container's init does; a zombie still answers kill(pid, 0))
        status, body = delete(f"{base_b}/launchpad/models/{by_name['shared.safetensors']['id']}")
        assert status == 200 and not model.exists()
