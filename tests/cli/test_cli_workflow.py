"""`launchpad workflow FILE` as a user runs it: real subprocesses against the fake Hub and Civitai."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cli_env import cli_env
from resolve_helpers import CIVITAI_LORA, HUB_LORA, MANAGER_ENTRIES, MANAGER_VAE, SURE, manager_list, stage

from conftest import cli_argv
from fakehub import FakeHub


@pytest.fixture
def env(fakehub: FakeHub, tmp_path: Path) -> dict[str, str]:
    return cli_env(fakehub.url, tmp_path, LAUNCHPAD_MODEL_LOOKUP="1")  # Civitai and the Hub: the fakes


def run(env: dict[str, str], workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli_argv(*args, "--workspace", str(workspace)), env=env, capture_output=True, text=True,
                          timeout=180)


def test_it_names_each_models_source_and_installs_the_sure_ones(
    env: dict[str, str], fakehub: FakeHub, workspace_dir: Path, tmp_path: Path
) -> None:
    sources = stage(fakehub, workspace_dir)
    shared = tmp_path / "Shared Workflow.json"
    shared.write_text(json.dumps(sources.workflow))

    shown = run(env, workspace_dir, "workflow", str(shared))

    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert f"missing  loras/{CIVITAI_LORA}  (~50.0 KB)" in lines  # Civitai's sizeKB: an estimate
    assert ("         from Civitai: Paper Cut v1.0 · same hash · ~50.0 KB: "
            "https://civitai.com/api/download/models/5150") in lines
    assert any(line.startswith(f"missing  loras/{HUB_LORA}") for line in lines)
    assert any("from acme/known-repackaged · same file name · 60.0 KB" in line for line in lines)
    assert "         --accept checkpoints/Known-Base.safetensors takes it" in lines
    assert "github.com is not an allowed download host" in shown.stdout
    assert "--install downloads 3" in shown.stderr
    assert not (workspace_dir / "models").exists()  # looking changes nothing

    as_json = run(env, workspace_dir, "workflow", str(shared), "--json")
    body = json.loads(as_json.stdout)
    assert body["summary"]["installable"] == 3 and body["summary"]["to_confirm"] == 1
    assert len(fakehub.civitai_hash_calls()) == 1  # the second run answered from the workspace

    installed = run(env, workspace_dir, "workflow", str(shared), "--install", "--accept",
                    "checkpoints/Known-Base.safetensors")

    assert installed.returncode == 0, installed.stderr
    for key in (*SURE, "checkpoints/Known-Base.safetensors"):
        assert (workspace_dir / "models" / key).read_bytes() == sources.served[key]
    assert "skipped vae/elsewhere.safetensors: github.com is not an allowed download host" in installed.stderr
    again = run(env, workspace_dir, "workflow", str(shared))
    assert f"present  vae/{MANAGER_VAE}  (70.0 KB)" in again.stdout.splitlines()


def test_refresh_fetches_the_managers_newest_list(
    env: dict[str, str], fakehub: FakeHub, workspace_dir: Path, tmp_path: Path
) -> None:
    newer = [{**MANAGER_ENTRIES[0], "filename": "brand-new.safetensors"}]
    url = fakehub.add_file("model-list.json", manager_list(newer).encode())
    shared = tmp_path / "new.json"
    loader = {"id": 1, "type": "VAELoader", "widgets_values": ["brand-new.safetensors"]}
    shared.write_text(json.dumps({"nodes": [loader]}))

    before = run(env, workspace_dir, "workflow", str(shared))
    assert "unknown  vae/brand-new.safetensors" in before.stdout
    refreshed = run({**env, "MANAGER_MODEL_LIST_URL": url}, workspace_dir, "workflow", str(shared), "--refresh")
    assert refreshed.returncode == 0, refreshed.stderr
    assert "ComfyUI-Manager's model list: brand-new.safetensors · same file name" in refreshed.stdout
    assert (workspace_dir / ".launchpad" / "resolve" / "manager-model-list.json").is_file()

    broken = fakehub.add_file("not-a-list.json", b"<html>rate limited</html>")
    failed = run({**env, "MANAGER_MODEL_LIST_URL": broken}, workspace_dir, "workflow", str(shared), "--refresh")
    assert failed.returncode == 0 and "was not refreshed" in failed.stderr and "not valid JSON" in failed.stderr
    assert "brand-new.safetensors · same file name" in failed.stdout  # the copy from before still counts


def test_a_file_that_is_no_workflow_is_a_usage_error(env: dict[str, str], workspace_dir: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    done = run(env, workspace_dir, "workflow", str(junk))
    assert done.returncode == 2 and "is not a workflow file" in done.stderr and "Traceback" not in done.stderr
    done = run(env, workspace_dir, "workflow", str(tmp_path / "absent.json"))
    assert done.returncode == 2 and "cannot read" in done.stderr


def test_a_templates_file_says_which_comfyui_it_needs(env: dict[str, str], workspace_dir: Path, tmp_path: Path) -> None:
    saved = tmp_path / "video_ltx2_3_t2v.json"  # named as the template LTX_23_22B_FP8 lists
    saved.write_text(json.dumps({"nodes": []}))
    shown = run(env, workspace_dir, "workflow", str(saved))
    assert shown.returncode == 0, shown.stderr
    assert "; needs ComfyUI 0.16.4+" in shown.stderr  # standalone: the running ComfyUI is unknown
    body = json.loads(run(env, workspace_dir, "workflow", str(saved), "--json").stdout)
    assert body["summary"]["min_comfyui"] == "0.16.4" and body["summary"]["comfyui_ok"] is None
