"""The RunPod Serverless worker on a real ComfyUI (CPU, no model weights).

Two ways, both real: the image's entry point (docker/serverless/handler.py, through
tests/support/run_serverless.py) in the runpod SDK's local test mode, `--test_input '{...}'`, which cold
starts the worker, runs the one job and exits 0 or 1, as a user tries a worker before deploying
it; and, for the error cases, the same cold start once per module in this process with the
handler called job after job. The SDK is this Python's (the test extra); ComfyUI runs on its
own venv (COMFYUI_PYTHON), as in the image.
"""

from __future__ import annotations

import ast
import base64
import functools
import json
import os
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from conftest import RUN_CLI, cli_argv
from fakehub import FakeHub, sha256_of
from lp.launchpad.config import ServerlessSettings
from lp.launchpad.serverless import coldstart
from lp.launchpad.serverless.handler import Worker, run_job

from .real_comfyui import SECRETS, UNREACHABLE, ComfyUIInstall, free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
RUN_WORKER = REPO / "tests" / "support" / "run_serverless.py"

FAILING_NODE = '''
class LaunchpadTestFails:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",)}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "run"
    CATEGORY = "testing"

    def run(self, image):
        raise RuntimeError("this node fails on purpose")


NODE_CLASS_MAPPINGS = {"LaunchpadTestFails": LaunchpadTestFails}
'''


# --- PNG, by hand: the test Python has no imaging library ------------------------------------


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:16]
    return struct.unpack(">II", data[16:24])


# --- the worker's environment ---------------------------------------------------------------


def worker_env(install: ComfyUIInstall, run_dir: Path, **more: str) -> dict[str, str]:
    """What the image sets, pointed at this run: the volume, the container disk, ComfyUI, our CLI."""
    env = {k: v for k, v in os.environ.items() if k not in SECRETS and not k.startswith("RUNPOD_")}
    env.update(
        WORKSPACE_ROOT=str(run_dir / "volume"),
        LOCAL_WORKSPACE=str(run_dir / "local"),
        COMFYUI_DATABASE_DIR=str(run_dir / "db"),
        COMFYUI_DIR=str(install.root),
        COMFYUI_PYTHON=str(install.python),
        COMFYUI_PORT=str(free_port()),
        COMFYUI_ARGS="--cpu",
        COMFYUI_START_TIMEOUT="180",
        LAUNCHPAD_BIN=f"{sys.executable} {RUN_CLI}",
        HF_ENDPOINT=UNREACHABLE,
        CIVITAI_ENDPOINT=UNREACHABLE,
        HF_HOME=str(run_dir / "hf-home"),
        PYTHONUNBUFFERED="1",
    )
    env.update(more)
    (run_dir / "volume").mkdir(parents=True, exist_ok=True)
    return env


def run_worker(env: dict[str, str], job: dict, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The entry point in the SDK's local test mode: one job, then it exits."""
    return subprocess.run([sys.executable, str(RUN_WORKER), "--test_input", json.dumps(job)], cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)


def sdk_line(output: str, prefix: str) -> str:
    """The text after ``prefix`` on the SDK's log line that has it (`INFO   | Job result: {...}`)."""
    for line in output.splitlines():
        _, _, message = line.partition("| ")
        if message.startswith(prefix):
            return message[len(prefix):]
    raise AssertionError(f"no {prefix!r} line in the worker's output:\n{output[-6000:]}")


def empty_then_save(node: str, width: int, height: int, prefix: str) -> dict:
    return {
        node: {"class_type": "EmptyImage", "inputs": {"width": width, "height": height, "batch_size": 1,
                                                       "color": 0xFF0000}},
        f"{node}0": {"class_type": "SaveImage", "inputs": {"images": [node, 0], "filename_prefix": prefix}},
    }


MISSING_CHECKPOINT = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_missing.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
    "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["4", 2]}},
    "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "never"}},
}


# --- the SDK's local test mode ----------------------------------------------------------------


def test_local_test_mode_returns_the_workflows_images(comfyui_install: ComfyUIInstall, tmp_path: Path) -> None:
    photo = png(5, 3, (0, 128, 255))
    workflow = {
        **empty_then_save("1", 16, 8, "empty"),
        "2": {"class_type": "LoadImage", "inputs": {"image": "photo.png"}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "loaded"}},
    }
    data_uri = "data:image/png;base64," + base64.b64encode(photo).decode()
    job = {"input": {"workflow": workflow, "images": [{"name": "photo.png", "image": data_uri}]}}
    env = worker_env(comfyui_install, tmp_path)
    done = run_worker(env, job, tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    assert "Job local_test completed successfully." in output

    result = ast.literal_eval(sdk_line(output, "Job result: "))
    images = {image["filename"]: image for image in result["output"]["images"]}
    assert set(images) == {"empty_00001_.png", "loaded_00001_.png"}, result
    local = tmp_path / "local"
    for name, image in images.items():
        assert image["type"] == "base64"
        # exactly the file ComfyUI saved, on the container disk, not on the volume
        assert base64.b64decode(image["data"]) == (local / "output" / name).read_bytes()
    assert png_size(base64.b64decode(images["empty_00001_.png"]["data"])) == (16, 8)
    assert png_size(base64.b64decode(images["loaded_00001_.png"]["data"])) == (5, 3)
    assert (local / "input" / "photo.png").read_bytes() == photo
    assert not list((tmp_path / "volume").rglob("*.png"))
    assert "models from " + str(tmp_path / "volume" / "models") in output
    # every model folder on the volume, the newer ones included, in ComfyUI's extra paths
    config = yaml.safe_load((local / "config" / "extra_model_paths.yaml").read_text())["launchpad_workspace"]
    assert config["base_path"] == str(tmp_path / "volume" / "models")
    assert {"checkpoints", "latent_upscale_models", "frame_interpolation", "ipadapter"} <= set(config)


def test_local_test_mode_names_a_missing_model(comfyui_install: ComfyUIInstall, tmp_path: Path) -> None:
    env = worker_env(comfyui_install, tmp_path)
    done = run_worker(env, {"input": {"workflow": MISSING_CHECKPOINT}}, tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-6000:]
    error = sdk_line(output, "Job local_test failed with error: ")
    assert error.startswith(
        "Missing models: checkpoints/sd_missing.safetensors (wanted by node 4 (CheckpointLoaderSimple)). "
    ), error
    assert f"Put them on the network volume under {tmp_path / 'volume' / 'models'}/<folder>/" in error
    assert "MODELS_LOCK" in error
    assert "got prompt" not in output  # refused before ComfyUI was asked to run it


# --- one worker, many jobs ------------------------------------------------------------------


@pytest.fixture(scope="module")
def worker(comfyui_install: ComfyUIInstall, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """A cold-started worker (its ComfyUI on CPU) with a node that fails and a checkpoint that is junk."""
    run_dir = tmp_path_factory.mktemp("serverless")
    nodes = run_dir / "custom_nodes" / "launchpad_test_fails"
    nodes.mkdir(parents=True)
    (nodes / "__init__.py").write_text(FAILING_NODE)
    extra = run_dir / "test_nodes.yaml"
    extra.write_text(yaml.safe_dump({"test_nodes": {"custom_nodes": str(run_dir / "custom_nodes")}}))
    checkpoints = run_dir / "volume" / "models" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "junk.safetensors").write_bytes(b"not a checkpoint at all")
    env = worker_env(comfyui_install, run_dir, COMFYUI_ARGS=f"--cpu --extra-model-paths-config {extra}")
    config = ServerlessSettings.from_env(env)
    plan = coldstart.prepare(config, env)
    with open(run_dir / "comfyui.log", "wb") as log:
        comfy = coldstart.ComfyUI(plan, cwd=run_dir, output=log)
    try:
        comfy.wait_ready(180)
        yield Worker(plan.url, comfy.exited, plan.models,
                     provision=functools.partial(coldstart.provision_again, config, plan.models, env))
    finally:
        comfy.stop()


async def test_a_refused_workflow_names_the_node_and_the_reason(worker: Worker) -> None:
    workflow = empty_then_save("1", 0, 8, "zero")
    result = await run_job(worker, {"id": "v", "input": {"workflow": workflow}})
    # ComfyUI's own words for it differ between versions ("Value 0 smaller than min of 1: width")
    assert result["error"].startswith("Workflow validation failed: node 1 (EmptyImage): Value "), result
    assert "smaller than min" in result["error"] and "width" in result["error"]
    assert result["details"][0].startswith("node 1 (EmptyImage): ")


async def test_an_unknown_node_type_is_named(worker: Worker) -> None:
    workflow = {"9": {"class_type": "NoSuchNodeAnywhere", "inputs": {}},
                **empty_then_save("1", 8, 8, "fine")}
    result = await run_job(worker, {"id": "u", "input": {"workflow": workflow}})
    assert result["error"].startswith("Workflow validation failed: node 9 (NoSuchNodeAnywhere): "), result
    assert "not found" in result["error"] or "does not exist" in result["error"]  # 0.33 / 0.3.64


async def test_a_node_that_fails_while_running_is_named_with_its_exception(worker: Worker) -> None:
    workflow = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "LaunchpadTestFails", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "never"}},
    }
    result = await run_job(worker, {"id": "e", "input": {"workflow": workflow}})
    assert result["error"] == (
        "Workflow execution failed: node 2 (LaunchpadTestFails): RuntimeError: this node fails on purpose"
    ), result


async def test_a_model_on_the_volume_passes_the_check_and_comfyuis_own_failure_is_named(worker: Worker) -> None:
    workflow = {**MISSING_CHECKPOINT, "4": {"class_type": "CheckpointLoaderSimple",
                                            "inputs": {"ckpt_name": "junk.safetensors"}}}
    result = await run_job(worker, {"id": "j", "input": {"workflow": workflow}})
    assert "missing_models" not in result
    assert result["error"].startswith("Workflow execution failed: node 4 (CheckpointLoaderSimple): "), result


async def test_a_missing_model_is_reported_for_machines_too(worker: Worker) -> None:
    result = await run_job(worker, {"id": "m", "input": {"workflow": MISSING_CHECKPOINT}})
    assert result["missing_models"] == [{"folder": "checkpoints", "name": "sd_missing.safetensors",
                                         "nodes": [{"id": "4", "type": "CheckpointLoaderSimple"}]}]
    assert result["details"] == ["checkpoints/sd_missing.safetensors: wanted by node 4 (CheckpointLoaderSimple)"]


async def test_previews_only_is_a_success_without_images(worker: Worker) -> None:
    workflow = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }
    result = await run_job(worker, {"id": "p", "input": {"workflow": workflow}})
    assert result == {"images": [], "status": "success_no_images"}


async def test_a_job_after_errors_still_returns_its_image(worker: Worker) -> None:
    result = await run_job(worker, {"id": "ok", "input": {"workflow": empty_then_save("1", 4, 2, "after")}})
    assert [image["filename"] for image in result["images"]] == ["after_00001_.png"], result
    assert png_size(base64.b64decode(result["images"][0]["data"])) == (4, 2)


# --- a models lock: fetched at cold start, and again when a job finds a file gone -------------------


def has_provision() -> bool:
    return subprocess.run(cli_argv("provision", "--help"), capture_output=True, timeout=60).returncode == 0


@pytest.fixture(scope="module")
def hub() -> Iterator[FakeHub]:
    with FakeHub() as server:
        yield server


@pytest.fixture(scope="module")
def locked_worker(comfyui_install: ComfyUIInstall, hub: FakeHub,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Worker, Path, bytes]]:
    """A worker whose volume's lock lists one checkpoint on the (fake) Hub."""
    if not has_provision():
        pytest.skip("this checkout's CLI has no `launchpad provision` yet (the models lock, docs/lockfile.md)")
    run_dir = tmp_path_factory.mktemp("serverless-lock")
    junk = b"locked, not a real checkpoint " * 100
    hub.add_hf_file("acme/locked", "locked.safetensors", junk)
    lock = {"format": "launchpad.models-lock", "version": 1, "files": [{
        "folder": "checkpoints", "name": "locked.safetensors",
        "source": {"hf": "acme/locked", "revision": "main", "commit": None, "path": "locked.safetensors"},
        "size": len(junk), "sha256": sha256_of(junk)}]}
    (run_dir / "volume" / "config").mkdir(parents=True)
    (run_dir / "volume" / "config" / "models.lock.json").write_text(json.dumps(lock))
    env = worker_env(comfyui_install, run_dir, MODELS_LOCK="config/models.lock.json", HF_ENDPOINT=hub.url)
    config = ServerlessSettings.from_env(env)
    plan = coldstart.prepare(config, env)  # provisions: the checkpoint is downloaded here
    with open(run_dir / "comfyui.log", "wb") as log:
        comfy = coldstart.ComfyUI(plan, cwd=run_dir, output=log)
    try:
        comfy.wait_ready(180)
        worker = Worker(plan.url, comfy.exited, plan.models,
                        provision=functools.partial(coldstart.provision_again, config, plan.models, env))
        yield worker, run_dir / "volume" / "models" / "checkpoints" / "locked.safetensors", junk
    finally:
        comfy.stop()


async def test_the_lock_provisions_at_cold_start_and_refetches_a_file_a_job_misses(
        locked_worker: tuple[Worker, Path, bytes], hub: FakeHub) -> None:
    worker, path, junk = locked_worker
    assert path.read_bytes() == junk  # the cold start fetched it
    path.unlink()  # e.g. a pod deleted it meanwhile
    hub.clear_log()
    workflow = {**MISSING_CHECKPOINT, "4": {"class_type": "CheckpointLoaderSimple",
                                            "inputs": {"ckpt_name": "locked.safetensors"}}}
    result = await run_job(worker, {"id": "l", "input": {"workflow": workflow}})
    assert path.read_bytes() == junk
    assert hub.bytes_sent("acme/locked/locked.safetensors") >= len(junk)  # fetched again (and a probe)
    # fetched first, so it gets as far as ComfyUI loading it (junk: the loader fails, by name)
    assert "missing_models" not in result
    assert result["error"].startswith("Workflow execution failed: node 4 (CheckpointLoaderSimple): "), result


async def test_a_model_the_lock_does_not_list_is_named(locked_worker: tuple[Worker, Path, bytes]) -> None:
    worker, _, _ = locked_worker
    result = await run_job(worker, {"id": "n", "input": {"workflow": MISSING_CHECKPOINT}})
    assert result["error"].startswith("Missing models: checkpoints/sd_missing.safetensors (wanted by node 4 "), result
    assert f"The models lock ({worker.models.locks[0]}) does not list them" in result["error"]
