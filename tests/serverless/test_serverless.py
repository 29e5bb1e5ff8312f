"""The serverless worker without ComfyUI: a job's input checked as a client sees it, the settings,
which volume holds the models, and the cold start failing fast (the image's real entry point,
docker/serverless/handler.py, run through tests/support/run_serverless.py). The jobs themselves run on a
real ComfyUI in tests/integration/test_serverless.py.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import RUN_CLI
from lp.launchpad.config import ServerlessSettings, Settings
from lp.launchpad.errors import InvalidSetting
from lp.launchpad.serverless import coldstart, job_input
from lp.launchpad.serverless.coldstart import ColdStartFailed
from lp.launchpad.serverless.job_input import JobError

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}}}


# --- the job's input ---------------------------------------------------------------------------


def refused(raw: object) -> str:
    with pytest.raises(JobError) as caught:
        job_input.parse(raw)
    return caught.value.message


def test_input_in_worker_comfyuis_shape_is_accepted() -> None:
    image = b"\x89PNG fake bytes"
    encoded = base64.b64encode(image).decode()
    wrapped = "\n".join(encoded[i:i + 8] for i in range(0, len(encoded), 8))  # as `base64` writes it
    parsed = job_input.parse({
        "workflow": WORKFLOW,
        "images": [{"name": "a.png", "image": encoded}, {"name": "b.png", "image": "data:image/png;base64," + wrapped}],
        "api_key_comfy_org": "key",
    })
    assert parsed.workflow == WORKFLOW
    assert [(i.name, i.data) for i in parsed.images] == [("a.png", image), ("b.png", image)]
    assert parsed.api_key_comfy_org == "key"
    # the whole input as a JSON string, and the workflow as one, are taken too
    as_text = '{"workflow": "{\\"1\\": {\\"class_type\\": \\"X\\"}}"}'
    assert job_input.parse(as_text).workflow == {"1": {"class_type": "X"}}


def test_bad_input_is_refused_with_what_to_send() -> None:
    assert refused(None).startswith("Please provide input")
    assert refused("{not json").startswith("Invalid JSON format in input")
    assert refused({"images": []}).startswith("Missing 'workflow' parameter")
    assert "Export (API)" in refused({"workflow": {"nodes": [], "links": []}})
    assert "node 2 has no class_type" in refused({"workflow": {"1": {"class_type": "A"}, "2": {"inputs": {}}}})
    assert refused({"workflow": {}}).startswith("'workflow' must be a non-empty JSON object")
    shape = "'images' must be a list of objects with 'name' and 'image' keys"
    assert refused({"workflow": WORKFLOW, "images": {"name": "a"}}) == shape
    assert refused({"workflow": WORKFLOW, "images": [{"name": "a.png"}]}) == shape
    assert "give a plain file name" in refused({"workflow": WORKFLOW, "images": [{"name": "../a.png", "image": ""}]})
    assert "give a plain file name" in refused({"workflow": WORKFLOW, "images": [{"name": "d/a.png", "image": ""}]})
    message = refused({"workflow": WORKFLOW, "images": [{"name": "a.png", "image": "not*base64"}]})
    assert message.startswith("input image 'a.png' is not valid base64")


def test_a_job_error_is_what_the_sdk_reports() -> None:
    error = JobError("it failed", ["node 1: why"], output={"missing_models": []}, refresh_worker=True)
    assert error.result() == {"error": "it failed", "details": ["node 1: why"], "missing_models": [],
                              "refresh_worker": True}
    assert JobError("plain").result() == {"error": "plain"}


# --- settings and the volume -------------------------------------------------------------------


def test_serverless_settings_from_the_environment() -> None:
    config = ServerlessSettings.from_env({})
    assert config.models_locks == () and config.launchpad_cli == ("launchpad",)
    assert config.comfyui_dir == Path("/opt/ComfyUI") and config.comfyui_args == ()
    assert config.local_workspace == Path("/var/lib/launchpad/workspace")
    config = ServerlessSettings.from_env({
        "MODELS_LOCK": "config/models.lock.json, /opt/launchpad/base.lock.json",
        "COMFYUI_ARGS": "--cpu --preview-method 'auto'",
        "LAUNCHPAD_BIN": "python3 /x/run_cli.py",
        "REFRESH_WORKER": "true",
        "COMFYUI_PORT": "8190",
    })
    assert config.models_locks == (Path("config/models.lock.json"), Path("/opt/launchpad/base.lock.json"))
    assert config.comfyui_args == ("--cpu", "--preview-method", "auto")
    assert config.launchpad_cli == ("python3", "/x/run_cli.py")
    assert config.refresh_worker and config.settings.comfyui_port == 8190
    for env, said in (({"COMFYUI_ARGS": "--cpu 'open"}, "cannot be split into words"),
                      ({"REFRESH_WORKER": "sometimes"}, "REFRESH_WORKER='sometimes' is not understood"),
                      ({"MODELS_LOCK": "a.json,,b.json"}, "has an empty entry"),
                      ({"COMFYUI_START_TIMEOUT": "0"}, "from 5 to")):
        with pytest.raises(InvalidSetting, match=said):
            ServerlessSettings.from_env(env)


def test_the_models_come_from_runpod_volume_then_workspace(tmp_path: Path) -> None:
    serverless, pod = tmp_path / "runpod-volume", tmp_path / "workspace"
    unset = Settings.from_env({})
    assert coldstart.models_root(unset, serverless, pod) is None
    pod.mkdir()
    assert coldstart.models_root(unset, serverless, pod) == pod
    serverless.mkdir()
    assert coldstart.models_root(unset, serverless, pod) == serverless  # a worker's volume wins
    configured = Settings.from_env({"WORKSPACE_ROOT": str(tmp_path / "mine")})
    assert coldstart.models_root(configured, serverless, pod) == tmp_path / "mine"


def test_locks_are_read_from_the_volume_or_an_absolute_path(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "models.lock.json").write_text("{}")
    baked = tmp_path / "baked.lock.json"
    baked.write_text("{}")
    assert coldstart.resolve_locks([Path("config/models.lock.json"), baked], tmp_path) == (
        tmp_path / "config" / "models.lock.json", baked)
    with pytest.raises(ColdStartFailed, match=r"a relative name is read from the volume"):
        coldstart.resolve_locks([Path("config/other.lock.json")], tmp_path)
    assert coldstart.provision_argv(["launchpad"], tmp_path, baked) == [
        "launchpad", "provision", str(baked), "--workspace", str(tmp_path)]


# --- the cold start fails fast, and says why ------------------------------------------------------


def start_worker(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("RUNPOD_")}
    base.update(WORKSPACE_ROOT=str(tmp_path / "volume"), LOCAL_WORKSPACE=str(tmp_path / "var" / "lib" / "local"),
                COMFYUI_DATABASE_DIR=str(tmp_path / "db"), COMFYUI_DIR=str(tmp_path / "no-comfyui"),
                COMFYUI_PYTHON=sys.executable, LAUNCHPAD_BIN=f"{sys.executable} {RUN_CLI}")
    base.update(env)
    argv = [sys.executable, str(ROOT / "tests" / "support" / "run_serverless.py"), "--test_input", '{"input": {}}']
    return subprocess.run(argv, cwd=tmp_path, env=base, capture_output=True, text=True, timeout=120)


def test_a_lock_that_is_not_there_stops_the_worker(tmp_path: Path) -> None:
    (tmp_path / "volume").mkdir()
    done = start_worker(tmp_path, MODELS_LOCK="config/models.lock.json")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the worker cannot take jobs: MODELS_LOCK names config/models.lock.json, but " \
           f"{tmp_path / 'volume' / 'config' / 'models.lock.json'} is not a file" in done.stdout
    assert "Starting Serverless Worker" not in done.stdout  # no job is taken


def test_a_lock_that_does_not_provision_stops_the_worker_before_comfyui(tmp_path: Path) -> None:
    (tmp_path / "volume").mkdir()
    lock = tmp_path / "broken.lock.json"
    lock.write_text("this is not a models lock")
    done = start_worker(tmp_path, MODELS_LOCK=str(lock))
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert f"provisioning {tmp_path / 'volume'} from the models lock {lock} (writable)" in out
    assert f"`launchpad provision {lock}` exited with status " in out
    assert "it stops rather than take jobs it cannot run" in out
    assert "ComfyUI ready" not in out and "Starting Serverless Worker" not in out


def test_a_comfyui_that_exits_at_start_stops_the_worker(tmp_path: Path) -> None:
    (tmp_path / "volume").mkdir()
    (tmp_path / "no-comfyui").mkdir()
    (tmp_path / "no-comfyui" / "main.py").write_text("import sys\nprint('ComfyUI stand-in exits')\nsys.exit(3)\n")
    done = start_worker(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "ComfyUI exited with status 3 while starting" in done.stdout


def test_bad_settings_stop_the_worker_with_their_name(tmp_path: Path) -> None:
    done = start_worker(tmp_path, COMFYUI_ARGS="--cpu 'open")
    assert done.returncode == 2
    assert "COMFYUI_ARGS=\"--cpu 'open\" cannot be split into words" in done.stdout
    done = start_worker(tmp_path, WORKSPACE_ROOT=str(tmp_path / "nowhere"))
    assert done.returncode == 1
    assert f"WORKSPACE_ROOT={tmp_path / 'nowhere'} is not a directory" in done.stdout
