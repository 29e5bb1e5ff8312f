"""`launchpad lock` and `launchpad provision` as a user and an init container run them: real
subprocesses, real files, the fake Hub (tests/fakehub.py) counting every request and byte."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from cli_env import cli_env

from conftest import cli_argv
from fakehub import COMMIT, random_bytes, sha256_of, write_presets


@pytest.fixture
def env(fakehub, tmp_path):
    # a provisioner waiting on another's download looks every 0.5 s
    return cli_env(fakehub.url, tmp_path, DOWNLOAD_LOCK_TTL="5")


def argv(workspace: Path, *args: str) -> list[str]:
    return cli_argv(*args, "--workspace", str(workspace))


def run(env: dict, workspace: Path, *args: str, wrap: list[str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*(wrap or []), *argv(workspace, *args)], env=env, capture_output=True, text=True,
                          timeout=120)


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "models").rglob("*")) if p.is_file()}


@pytest.fixture
def installed(env, fakehub, tmp_path):
    """A workspace where preset P (Hugging Face LFS and plain files, Civitai, a plain URL) is installed."""
    workspace = tmp_path / "pod-a"
    workspace.mkdir()
    data = {
        "model": random_bytes(1_500_000), "small": random_bytes(40_000), "lora": random_bytes(300_000),
        "upscale": random_bytes(200_000),
    }
    model_sha = fakehub.add_hf_file("acme/model", "split/model.safetensors", data["model"])
    fakehub.add_hf_file("acme/model", "config/small.safetensors", data["small"], lfs=False)
    fakehub.add_civitai(4242, data["lora"], "style.safetensors", require_token=False)
    write_presets(workspace, {"P": [
        {"folder": "checkpoints", "name": "model.safetensors", "hf": "acme/model", "path": "split/model.safetensors",
         "sha256": model_sha, "size": len(data["model"])},
        {"folder": "vae", "name": "small.safetensors", "hf": "acme/model", "path": "config/small.safetensors"},
        {"folder": "loras", "name": "style.safetensors", "civitai": 4242},
        {"folder": "upscale_models", "name": "x4.safetensors", "url": fakehub.add_file("x4.bin", data["upscale"])},
    ]})
    result = run(env, workspace, "install", "P")
    assert result.returncode == 0, result.stderr
    return workspace, data


def test_a_lock_of_an_installed_preset_provisions_an_empty_workspace_and_a_rerun_fetches_nothing(
        env, fakehub, installed, tmp_path):
    workspace, data = installed
    lock_path = tmp_path / "models.lock.json"

    made = run(env, workspace, "lock", "--installed", "-o", str(lock_path))

    assert made.returncode == 0, made.stderr
    assert "warning" not in made.stderr  # everything is known: commits, sizes, hashes
    lock = json.loads(lock_path.read_text())
    files = {f"{f['folder']}/{f['name']}": f for f in lock["files"]}
    assert files["checkpoints/model.safetensors"]["source"] == {
        "hf": "acme/model", "revision": "main", "commit": COMMIT, "path": "split/model.safetensors"}
    assert files["loras/style.safetensors"]["source"] == {"civitai": 4242}
    assert files["upscale_models/x4.safetensors"]["sha256"] == sha256_of(data["upscale"])  # hashed from disk
    assert files["vae/small.safetensors"]["sha256"] == sha256_of(data["small"])  # from the source
    assert {key: f["size"] for key, f in files.items()} == {
        "checkpoints/model.safetensors": 1_500_000, "vae/small.safetensors": 40_000,
        "loras/style.safetensors": 300_000, "upscale_models/x4.safetensors": 200_000}

    empty = tmp_path / "pod-b"  # no presets, no journal: only the lock
    fakehub.clear_log()
    first = run(env, empty, "provision", str(lock_path), "--json")

    assert first.returncode == 0, first.stderr
    assert tree(empty) == tree(workspace)
    resolved = [r.path for r in fakehub.requests if "/resolve/" in r.path]
    assert resolved and all(f"/resolve/{COMMIT}/" in path for path in resolved)  # pinned to the lock's commit
    lines = events(first.stdout)
    assert {e["key"] for e in lines if e["event"] == "missing"} == set(files)
    assert {e["job"]["state"] for e in lines if e["event"] == "download"} >= {"downloading", "done"}
    summary = lines[-1]
    assert summary["event"] == "summary" and summary["complete"] and summary["downloaded"] == 4

    fakehub.clear_log()
    started = time.monotonic()
    again = run(env, empty, "provision", str(lock_path), "--json")
    wall = time.monotonic() - started

    assert again.returncode == 0, again.stderr
    assert fakehub.requests == []  # nothing fetched, nothing even asked
    summary = events(again.stdout)[-1]
    assert summary["present"] == 4 and summary["downloaded"] == 0
    print(f"provision with nothing to do: {summary['seconds'] * 1000:.1f} ms inside, {wall:.2f} s as a process")
    assert summary["seconds"] < 1.0  # loose: benchmarks/bench_provision_noop.py measures it

    verified = run(env, empty, "provision", str(lock_path))
    assert verified.returncode == 0 and "complete: 4 files: 4 present" in verified.stdout


def test_two_provisioners_at_once_fetch_each_byte_once(env, fakehub, tmp_path):
    blobs = {f"m{i}.safetensors": random_bytes(1_000_000) for i in range(3)}
    lock_files = []
    for name, data in blobs.items():
        fakehub.add_hf_file("acme/many", name, data)
        fakehub.behave(f"acme/many/{name}", rate=1_500_000)  # slow enough for both to be at it together
        lock_files.append({"folder": "checkpoints", "name": name, "size": len(data), "sha256": sha256_of(data),
                           "source": {"hf": "acme/many", "revision": "main", "commit": COMMIT, "path": name}})
    lock_path = tmp_path / "many.lock.json"
    lock_path.write_text(json.dumps({"format": "launchpad.models-lock", "version": 1, "files": lock_files}))
    volume = tmp_path / "volume"

    procs = [subprocess.Popen(argv(volume, "provision", str(lock_path), "--json"), env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [proc.communicate(timeout=120) for proc in procs]

    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    summaries = [events(out)[-1] for out, _ in outputs]
    assert sum(s["downloaded"] for s in summaries) == 3
    assert sum(s["downloaded_by_others"] + s["present"] for s in summaries) == 3
    for name, data in blobs.items():
        assert (volume / "models" / "checkpoints" / name).read_bytes() == data
        assert fakehub.bytes_sent(f"acme/many/{name}") <= len(data) + 2  # one body (and a 1-byte probe)
    assert not list((volume / ".launchpad" / "leases").glob("*.json"))  # both leases ended with them


def read_only_mount(path: Path) -> list[str]:
    """argv prefix that runs a command with ``path`` mounted read-only over itself (a user namespace)."""
    wrap = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
            'mount --bind -o ro "$0" "$0" && exec "$@"', str(path)]
    probe = subprocess.run([*wrap, "sh", "-c", f"! touch {path}/.probe 2>/dev/null"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("no user namespaces here to mount a read-only volume (unshare)")
    return wrap


def test_on_a_read_only_volume_a_complete_workspace_verifies_and_a_missing_file_fails_fast(
        env, fakehub, installed, tmp_path):
    workspace, _ = installed
    lock_path = tmp_path / "models.lock.json"
    assert run(env, workspace, "lock", "--preset", "P", "-o", str(lock_path)).returncode == 0
    wrap = read_only_mount(workspace)
    before = tree(workspace)
    fakehub.clear_log()

    complete = run(env, workspace, "provision", str(lock_path), "--verify", wrap=wrap)

    assert complete.returncode == 0, complete.stderr
    assert "complete: 4 files: 4 present, sha256 verified" in complete.stdout
    assert fakehub.requests == [] and tree(workspace) == before

    (workspace / "models" / "loras" / "style.safetensors").unlink()
    started = time.monotonic()
    incomplete = run(env, workspace, "provision", str(lock_path), wrap=wrap)

    assert incomplete.returncode == 3  # the workspace cannot be used as it is
    assert "not writable (Read-only file system)" in incomplete.stderr
    assert "lacks 1 file of the lock: loras/style.safetensors" in incomplete.stderr
    assert "read-write" in incomplete.stderr  # what to do
    assert fakehub.requests == [] and time.monotonic() - started < 30


def test_a_file_that_differs_from_the_lock_is_reported_and_left_alone(env, fakehub, installed, tmp_path):
    workspace, data = installed
    lock_path = tmp_path / "models.lock.json"
    assert run(env, workspace, "lock", "--installed", "-o", str(lock_path)).returncode == 0
    other = tmp_path / "other"
    shutil.copytree(workspace / "models", other / "models")
    wrong = other / "models" / "vae" / "small.safetensors"
    wrong.write_bytes(b"an older file of another size")
    same_size = other / "models" / "loras" / "style.safetensors"
    same_size.write_bytes(bytes(len(data["lora"])))
    (other / "models" / "checkpoints" / "model.safetensors").unlink()

    result = run(env, other, "provision", str(lock_path), "--verify")

    assert result.returncode == 1
    assert "CONFLICT vae/small.safetensors: is 29 bytes, the lock says 40000" in result.stdout
    assert "CONFLICT loras/style.safetensors: sha256" in result.stdout
    assert "delete it" in result.stderr
    assert wrong.read_bytes() == b"an older file of another size"  # another pod may be using it
    assert same_size.read_bytes() == bytes(len(data["lora"]))
    assert (other / "models" / "checkpoints" / "model.safetensors").read_bytes() == data["model"]  # the rest came


def test_a_workflow_lock_takes_its_models_from_the_same_analysis_as_the_workflow_view(env, fakehub, tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    ckpt = random_bytes(5000)
    fakehub.add_hf_file("acme/flow", "ckpt.safetensors", ckpt)
    fakehub.add_hf_file("acme/flow", "lora.safetensors", b"l" * 300)
    write_presets(workspace, {"Q": [{"folder": "checkpoints", "name": "ckpt.safetensors", "hf": "acme/flow",
                                     "path": "ckpt.safetensors"}]})
    (workspace / "models" / "loras").mkdir(parents=True)
    (workspace / "models" / "loras" / "mine.safetensors").write_bytes(b"own")
    workflow = {"nodes": [
        {"id": 1, "type": "CheckpointLoaderSimple", "widgets_values": ["ckpt.safetensors"]},
        {"id": 2, "type": "LoraLoader", "widgets_values": ["linked.safetensors", 1, 1], "properties": {"models": [
            {"name": "linked.safetensors", "directory": "loras",
             "url": "https://huggingface.co/acme/flow/resolve/main/lora.safetensors"}]}},
        {"id": 3, "type": "LoraLoader", "widgets_values": ["mine.safetensors", 1, 1]},
        {"id": 4, "type": "VAELoader", "widgets_values": ["nowhere.safetensors"]},
    ], "links": []}
    path = tmp_path / "my flow.json"
    path.write_text(json.dumps(workflow))

    result = run(env, workspace, "lock", "--workflow", str(path))

    assert result.returncode == 0, result.stderr
    lock = json.loads(result.stdout)
    assert lock["made_from"]["workflows"] == ["my flow"]
    files = {f"{f['folder']}/{f['name']}": f for f in lock["files"]}
    assert set(files) == {"checkpoints/ckpt.safetensors", "loras/linked.safetensors"}
    assert files["checkpoints/ckpt.safetensors"]["sha256"] == sha256_of(ckpt)
    assert files["loras/linked.safetensors"]["source"]["commit"] == COMMIT
    assert "vae/nowhere.safetensors: left out, no source is known" in result.stderr
    assert "loras/mine.safetensors: left out" in result.stderr


def test_what_nobody_knows_is_null_with_a_warning_that_says_what_provision_will_do(env, fakehub, tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    write_presets(workspace, {"U": [{"folder": "vae", "name": "v.safetensors",
                                     "url": fakehub.add_file("v.bin", b"v" * 1000)}]})
    fakehub.behave("v.bin", fail_first=10, fail_status=503)  # the source does not answer now

    result = run(env, workspace, "lock", "--preset", "U", "--json")

    assert result.returncode == 0
    answer = json.loads(result.stdout)
    assert answer["lock"]["files"][0]["size"] is None and answer["lock"]["files"][0]["sha256"] is None
    assert any("size unknown" in w for w in answer["warnings"])
    assert any("no sha256 known" in w and "by size only" in w for w in answer["warnings"])
    assert "warning: vae/v.safetensors: the source could not be asked" in result.stderr


def test_usage_errors_say_what_to_do(env, tmp_path):
    workspace = tmp_path / "ws"
    nothing = run(env, workspace, "lock")
    assert nothing.returncode == 2 and "--preset ID..., --workflow FILE or --installed" in nothing.stderr
    absent = run(env, workspace, "provision", str(tmp_path / "none.json"))
    assert absent.returncode == 2 and "make one with `launchpad lock`" in absent.stderr
    (tmp_path / "new.json").write_text(json.dumps({"format": "launchpad.models-lock", "version": 9, "files": []}))
    newer = run(env, workspace, "provision", str(tmp_path / "new.json"))
    assert newer.returncode == 2 and "newer Launchpad" in newer.stderr
