"""`launchpad install` / `uninstall` as a user runs them: real subprocesses against the fake Hub."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from cli_env import cli_env

from conftest import cli_argv
from fakehub import random_bytes, write_presets


@pytest.fixture
def env(fakehub, tmp_path):
    return cli_env(fakehub.url, tmp_path)


def run(env: dict, workspace: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        cli_argv(*args, "--workspace", str(workspace)), env={**env, **extra_env}, capture_output=True, text=True,
        timeout=120,
    )


def start(env: dict, workspace: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        cli_argv(*args, "--workspace", str(workspace)), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(predicate, what: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def recorded(sidecar: Path) -> int:
    try:
        return sum(end - start for start, end in json.loads(sidecar.read_text())["done"])
    except (OSError, ValueError, KeyError):
        return 0


def test_install_shows_each_file_then_reinstall_skips_and_uninstall_deletes(env, fakehub, workspace_dir):
    model, vae = random_bytes(1_500_000), random_bytes(500_000)
    sha = fakehub.add_hf_file("acme/model", "split/model.safetensors", model)
    write_presets(workspace_dir, {"P": [
        {"folder": "checkpoints", "name": "model.safetensors", "hf": "acme/model", "path": "split/model.safetensors",
         "sha256": sha, "size": len(model)},
        {"folder": "vae", "name": "vae.safetensors", "url": fakehub.add_file("vae.bin", vae)},
    ]})

    first = run(env, workspace_dir, "install", "P")

    assert first.returncode == 0, first.stderr
    assert "done    checkpoints/model.safetensors  1.5 MB" in first.stdout
    assert "done    vae/vae.safetensors" in first.stdout
    assert (workspace_dir / "models/checkpoints/model.safetensors").read_bytes() == model

    again = run(env, workspace_dir, "install", "P")
    assert again.returncode == 0
    assert "present checkpoints/model.safetensors" in again.stdout and "already installed" in again.stdout

    gone = run(env, workspace_dir, "uninstall", "P")
    assert gone.returncode == 0, gone.stderr
    assert f"deleted {workspace_dir / 'models/checkpoints/model.safetensors'}" in gone.stdout
    assert not (workspace_dir / "models/vae/vae.safetensors").exists()


def test_a_failed_download_exits_1_and_says_why(env, fakehub, workspace_dir):
    fakehub.add_hf_file("acme/gated", "model.safetensors", b"x" * 100, gated=True)
    write_presets(workspace_dir, {"P": [
        {"folder": "checkpoints", "name": "model.safetensors", "hf": "acme/gated", "path": "model.safetensors"},
    ]})

    result = run(env, workspace_dir, "install", "P")

    assert result.returncode == 1
    assert "FAILED  checkpoints/model.safetensors: Model acme/gated is gated" in result.stdout
    assert "HF_TOKEN" in result.stdout and "1 of 1 file failed" in result.stderr


def test_json_output_lists_the_final_jobs(env, fakehub, workspace_dir):
    write_presets(workspace_dir, {"P": [{"folder": "loras", "name": "a.bin", "url": fakehub.add_file("a", b"a" * 10)}]})
    result = run(env, workspace_dir, "install", "P", "--json")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert [(j["key"], j["state"]) for j in data["jobs"]] == [("loras/a.bin", "done")]


def test_workspace_and_json_before_install_download_into_that_workspace(env, fakehub, workspace_dir, tmp_path):
    """`launchpad --workspace /mnt/vol install P` once downloaded into /workspace without a word."""
    write_presets(workspace_dir, {"P": [{"folder": "loras", "name": "a.bin", "url": fakehub.add_file("a", b"a" * 10)}]})
    elsewhere = tmp_path / "the-default"
    result = subprocess.run(
        cli_argv("--workspace", str(workspace_dir), "--json", "install", "P"),
        env={**env, "WORKSPACE_ROOT": str(elsewhere)}, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert [(j["key"], j["state"]) for j in json.loads(result.stdout)["jobs"]] == [("loras/a.bin", "done")]
    assert (workspace_dir / "models/loras/a.bin").read_bytes() == b"a" * 10
    assert not elsewhere.exists()


def test_unknown_preset_exits_5_and_no_preset_at_all_is_a_usage_error(env, workspace_dir):
    result = run(env, workspace_dir, "install", "NOPE")
    assert result.returncode == 5 and "unknown preset 'NOPE'" in result.stderr
    result = run(env, workspace_dir, "install")
    assert result.returncode == 2 and "at least one preset id" in result.stderr


def test_from_env_without_preset_download_is_a_quiet_success(env, workspace_dir):
    result = run(env, workspace_dir, "install", "--from-env")
    assert result.returncode == 0 and "PRESET_DOWNLOAD is not set" in result.stdout


def test_from_env_installs_the_known_ids_and_reports_unknown_ones(env, fakehub, workspace_dir):
    write_presets(workspace_dir, {"P": [{"folder": "loras", "name": "a.bin", "url": fakehub.add_file("a", b"a" * 10)}]})
    result = run(env, workspace_dir, "install", "--from-env", PRESET_DOWNLOAD="P, TYPO")
    assert result.returncode == 5
    assert "unknown preset 'TYPO'" in result.stderr
    assert (workspace_dir / "models/loras/a.bin").read_bytes() == b"a" * 10


def test_kill_9_in_the_middle_of_a_file_then_rerun_resumes(env, fakehub, workspace_dir):
    data = random_bytes(8_000_000)
    url = fakehub.add_file("big.bin", data)
    fakehub.behave("big.bin", rate=2_000_000)
    sha = hashlib.sha256(data).hexdigest()
    write_presets(workspace_dir, {"P": [{"folder": "checkpoints", "name": "big.bin", "url": url, "sha256": sha}]})
    sidecar = workspace_dir / "models/checkpoints/big.bin.part.json"

    process = start(env, workspace_dir, "install", "P")
    wait_for(lambda: recorded(sidecar) >= 2_000_000, "2 MB on disk")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    on_disk = recorded(sidecar)
    assert 0 < on_disk < len(data)
    sent_before = fakehub.bytes_sent("big.bin")
    fakehub.behave("big.bin")

    rerun = run(env, workspace_dir, "install", "P")

    assert rerun.returncode == 0, rerun.stderr
    target = workspace_dir / "models/checkpoints/big.bin"
    assert hashlib.sha256(target.read_bytes()).hexdigest() == sha
    resent = fakehub.bytes_sent("big.bin") - sent_before
    assert resent < len(data), f"the rerun downloaded {resent} bytes of {len(data)}: it did not resume"
    assert resent <= len(data) - on_disk + 1
    assert not sidecar.exists()


def test_ctrl_c_stops_cleanly_keeping_the_partial_for_a_rerun(env, fakehub, workspace_dir):
    data = random_bytes(6_000_000)
    write_presets(workspace_dir, {"P": [{"folder": "checkpoints", "name": "big.bin",
                                         "url": fakehub.add_file("big.bin", data)}]})
    fakehub.behave("big.bin", rate=2_000_000)
    partial = workspace_dir / "models/checkpoints/big.bin.part"

    process = start(env, workspace_dir, "install", "P")
    wait_for(lambda: fakehub.bytes_sent("big.bin") >= 1_000_000, "1 MB sent")
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)

    assert process.returncode == 130, err
    assert "partial files are kept" in err
    assert partial.exists() and recorded(partial.with_name("big.bin.part.json")) > 0
    fakehub.behave("big.bin")
    rerun = run(env, workspace_dir, "install", "P")
    assert rerun.returncode == 0
    assert (workspace_dir / "models/checkpoints/big.bin").read_bytes() == data
    assert fakehub.bytes_sent("big.bin") < 2 * len(data)


def test_two_processes_installing_one_preset_download_each_file_once(env, fakehub, workspace_dir):
    files = {f"f{i}.bin": random_bytes(1_500_000) for i in range(3)}
    entries = []
    for name, data in files.items():
        entries.append({"folder": "checkpoints", "name": name, "url": fakehub.add_file(name, data)})
        fakehub.behave(name, rate=1_500_000)
    write_presets(workspace_dir, {"P": entries})

    processes = [start(env, workspace_dir, "install", "P") for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in processes]

    assert [p.returncode for p in processes] == [0, 0], outputs
    for name, data in files.items():
        assert (workspace_dir / "models/checkpoints" / name).read_bytes() == data
        assert fakehub.bytes_sent(name) <= len(data) + 2, f"{name} was downloaded more than once"
    assert "downloaded by another process" in outputs[0][0] + outputs[1][0]


def test_install_says_first_which_comfyui_a_preset_needs(env, fakehub, workspace_dir):
    fakehub.add_hf_file("acme/new", "model.safetensors", random_bytes(10_000))
    directory = workspace_dir / "config" / "presets"
    directory.mkdir(parents=True)
    (directory / "new.yaml").write_text(
        "schema: 1\npresets:\n  - id: NEW\n    name: Needs a newer ComfyUI\n    category: image\n"
        "    min_comfyui: 0.99.0\n    files:\n      - folder: checkpoints\n        name: new.safetensors\n"
        "        hf: acme/new\n        path: model.safetensors\n"
    )

    result = run(env, workspace_dir, "install", "NEW")

    assert result.returncode == 0, result.stderr
    assert "note: NEW: its workflows need ComfyUI 0.99.0 or newer" in result.stderr  # the files download anyway
    assert (workspace_dir / "models" / "checkpoints" / "new.safetensors").stat().st_size == 10_000
