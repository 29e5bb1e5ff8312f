"""The RunPod image, built and run for real: ComfyUI on CPU in the container, a temporary host
directory as the network volume, the fake Hub (tests/support/fakehub.py) on the host as Hugging Face.

Opt-in, because it builds a 9 GB image: LAUNCHPAD_IMAGE_SMOKE=1. It builds the minimal variant
with docker/build-local.sh (offline: package registries only), or uses the image named by
LAUNCHPAD_IMAGE. Without a reachable Docker engine it skips, unless LAUNCHPAD_REQUIRE (a comma
list) names `docker`: then it fails. CI starts an engine with docker/engine.sh and exports
DOCKER_HOST; WHEELS_DIR is passed on to the build.

The offline build has no custom-node bundles (they come from GitHub), so this is also the image
without ComfyUI-Manager: whatever ComfyUI imports must be in the image itself (`requests` was
not, once). Containers share the host's network (ComfyUI on a free port, the fake Hub on
127.0.0.1) and are few: each ComfyUI start on CPU costs seconds.

The serverless variant (docs/serverless.md) is built after it the same way, on the minimal
image's layers (or LAUNCHPAD_SERVERLESS_IMAGE is used), and runs jobs in the runpod SDK's local
test mode with a host directory as /runpod-volume.

Timings and sizes are printed; run with `-s` to see them.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from test_docker_files import wheel
from test_docker_start import PHASES, phase_lines

from conftest import missing
from fakehub import FakeHub, write_presets

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "smoke test password, long enough"
STOP_TIMEOUT = 10  # docker stop's default
SIDEBAR = "/extensions/ComfyUI-Launchpad/js/launchpad.js"

pytestmark = pytest.mark.skipif(
    os.environ.get("LAUNCHPAD_IMAGE_SMOKE") != "1",
    reason="builds and runs the 9 GB RunPod image: set LAUNCHPAD_IMAGE_SMOKE=1 (and a Docker engine)",
)


def docker_client() -> str:
    # Debian's client has BuildKit built in; another `docker` earlier on PATH may not
    return os.environ.get("DOCKER") or ("/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker")


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([docker_client(), *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def engine() -> None:
    problem = ""
    if not shutil.which(docker_client()):
        problem = "no docker client (apt-get install -y docker.io)"
    else:
        version = subprocess.run([docker_client(), "version", "--format", "{{.Server.Version}}"],
                                 capture_output=True, text=True, timeout=30)
        if version.returncode != 0:
            said = version.stderr.strip().splitlines()[-1:] or ["no answer"]
            problem = ("no Docker engine is reachable: start one with `docker/engine.sh start /var/tmp/lp-docker-data` "
                       f"and export the DOCKER_HOST it prints ({said[0]})")
    if problem:
        missing("docker", problem)


def built_image(variant: str, given: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The image named by the environment variable ``given``, else docker/build-local.sh VARIANT's."""
    if os.environ.get(given):
        tag = os.environ[given]
        docker("image", "inspect", tag)
        print(f"\nimage: {tag} ({given}, not built here)")
        return tag
    log = tmp_path_factory.mktemp("build") / "build.log"
    started = time.monotonic()
    with open(log, "w") as err:
        result = subprocess.run(["bash", str(ROOT / "docker" / "build-local.sh"), variant],
                                stdout=subprocess.PIPE, stderr=err, text=True, timeout=3600)
    if result.returncode != 0:
        pytest.fail(f"docker/build-local.sh failed ({result.returncode}):\n{log.read_text()[-6000:]}")
    tag = result.stdout.strip().splitlines()[-1]
    print(f"\nimage: built {tag} in {time.monotonic() - started:.0f} s (docker/build-local.sh {variant})")
    return tag


@pytest.fixture(scope="module")
def image(engine: None, tmp_path_factory: pytest.TempPathFactory) -> str:
    return built_image("minimal", "LAUNCHPAD_IMAGE", tmp_path_factory)


@pytest.fixture(scope="module")
def serverless_image(engine: None, tmp_path_factory: pytest.TempPathFactory) -> str:
    # after the minimal build on the same engine, only the worker's layers are new
    return built_image("serverless", "LAUNCHPAD_SERVERLESS_IMAGE", tmp_path_factory)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(url: str, headers: dict[str, str] | None = None, data: bytes | None = None,
         timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one request; redirects are not followed."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    request = urllib.request.Request(url, data=data, headers=headers or {})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@dataclass
class Container:
    """One `docker run` of the image, on the host's network; stopped and removed at the end."""

    name: str
    port: int
    started: float = 0.0
    created: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        result = docker("logs", self.name, check=False)
        return result.stdout + result.stderr

    def state(self, item: str) -> str:
        return docker("inspect", "--format", "{{json ." + item + "}}", self.name).stdout.strip()

    def running(self) -> bool:
        return json.loads(self.state("State"))["Running"]

    def wait_log(self, text: str, timeout: float = 180, since: int = 0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            logs = self.logs()
            if text in logs[since:]:
                return logs
            if not self.running():
                break
            time.sleep(0.5)
        raise AssertionError(f"{text!r} did not appear in the container's log:\n{self.logs()[-8000:]}")

    def wait_ready(self, timeout: float = 240) -> float:
        """Seconds from `docker run` (or `docker start`) until /launchpad/health answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if http(self.base + "/launchpad/health", timeout=2)[0] == 200:
                    return time.monotonic() - self.started
            except OSError:
                pass
            if not self.running():
                break
            time.sleep(0.25)
        raise AssertionError(f"ComfyUI did not become ready:\n{self.logs()[-8000:]}")

    def start(self) -> None:
        self.started = time.monotonic()
        docker("start", self.name)

    def stop(self) -> float:
        """`docker stop`; returns how long it took and checks the exit was clean."""
        started = time.monotonic()
        docker("stop", "-t", str(STOP_TIMEOUT), self.name, timeout=STOP_TIMEOUT + 30)
        took = time.monotonic() - started
        state = json.loads(self.state("State"))
        killed = "(137: killed at the stop timeout)"
        assert state["ExitCode"] == 0, f"exit code {state['ExitCode']} {killed}\n{self.logs()[-4000:]}"
        return took


@pytest.fixture
def run(image: str) -> Iterator:
    """run(env, volume=path|None) -> a started Container; all are removed at the end."""
    names: list[str] = []

    def start(env: dict[str, str], volume: Path | None) -> Container:
        container = Container(f"lp-smoke-{os.getpid()}-{len(names)}", free_port())
        names.append(container.name)
        argv = ["run", "-d", "--name", container.name, "--network", "host", "--health-interval", "1s",
                "-e", f"COMFYUI_PORT={container.port}", "-e", "COMFYUI_ARGS=--cpu"]
        for key, value in env.items():
            argv += ["-e", f"{key}={value}"]
        if volume is not None:
            argv += ["-v", f"{volume}:/workspace"]
        container.started = time.monotonic()
        docker(*argv, image)
        return container

    yield start
    for name in names:
        docker("rm", "-f", name, check=False)


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub() as server:
        yield server


def script_seconds(logs: str, text: str) -> float:
    """The start script's own clock (`[launchpad +1.234s] ...`) on the last line with `text`."""
    times = re.findall(r"\[launchpad \+([0-9.]+)s\] " + re.escape(text), logs)
    assert times, f"no {text!r} line in:\n{logs[-4000:]}"
    return float(times[-1])


def login(base: str) -> str:
    status, headers, body = http(base + "/launchpad/login", {"Content-Type": "application/json"},
                                 json.dumps({"password": PASSWORD}).encode())
    assert status == 200, body
    cookie = headers.get("Set-Cookie", "")
    match = re.search(r"launchpad_session=([^;]+)", cookie)
    assert match, f"no session cookie in {cookie!r}"
    return f"launchpad_session={match.group(1)}"


async def websocket_status(url: str, headers: dict[str, str]) -> int | str:
    """101 -> the first message's type; a refused upgrade -> its status."""
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(url, headers=headers) as ws:
                return (await ws.receive_json(timeout=10))["type"]
        except aiohttp.WSServerHandshakeError as refused:
            return refused.status


def wait_for(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


# --- the scenario on one volume -----------------------------------------------------------------


def test_a_pod_on_a_volume_first_start_stop_restart_and_a_new_container(run, hub: FakeHub, tmp_path: Path) -> None:
    ws = tmp_path / "workspace"
    checkpoints = ws / "models" / "checkpoints"
    # two presets: a small one that finishes while ComfyUI serves, a big one that is still
    # downloading when the container is stopped
    tiny, big = os.urandom(2_000_000), os.urandom(12_000_000)
    hub.add_hf_file("acme/tiny", "tiny.safetensors", tiny)
    hub.add_hf_file("acme/big", "big.safetensors", big)
    tiny_blob, big_blob = "acme/tiny/tiny.safetensors", "acme/big/big.safetensors"
    held = hub.behave(tiny_blob, rate=20_000)  # released once ComfyUI answers
    hub.behave(big_blob, rate=20_000)
    write_presets(ws, {
        f"SMOKE_{name.upper()}": [{"folder": "checkpoints", "name": f"{name}.safetensors", "hf": f"acme/{name}",
                                   "path": f"{name}.safetensors"}]
        for name in ("tiny", "big")
    })
    # custom nodes installed by the user on the volume, each needing a package the image lacks
    wheels = ws / "wheels"
    wheels.mkdir()
    for node, dep in (("SmokeNodeA", "smokedepa"), ("SmokeNodeB", "smokedepb")):
        (ws / "custom_nodes" / node).mkdir(parents=True)
        (ws / "custom_nodes" / node / "__init__.py").write_text(f"import {dep}\nNODE_CLASS_MAPPINGS = {{}}\n")
        path = wheel(wheels, dep)
        (ws / "custom_nodes" / node / "requirements.txt").write_text(f"/workspace/wheels/{path.name}\n")
    env = {"PRESET_DOWNLOAD": "SMOKE_TINY,SMOKE_BIG", "HF_ENDPOINT": hub.url,
           "ENABLE_AUTH": "1", "ACCESS_PASSWORD": PASSWORD}

    # 1. first start ------------------------------------------------------------------------------
    pod = run(env, ws)
    ready = pod.wait_ready()
    logs = pod.wait_log("ComfyUI is ready")
    assert list(phase_lines(logs)) == list(PHASES), logs[-6000:]
    own = script_seconds(logs, "start-up done")
    print(f"\nfirst start: ready {ready:.1f} s after docker run; the start script's own share "
          f"{own:.2f} s, ComfyUI ready at +{script_seconds(logs, 'ComfyUI is ready'):.1f} s on its clock")
    assert "is not a mount point" not in logs and "No network volume" not in logs
    assert "phase custom-nodes: 2 with requirements, 2 installed (0 failed), 0 unchanged" in logs
    assert "IMPORT FAILED" not in logs, logs[-6000:]
    # ComfyUI 0.33's assets database: on the container's disk, one per pod, never on the volume
    assert not list(ws.rglob("*.db")), list(ws.rglob("*.db"))
    databases = docker("exec", pod.name, "ls", "/root/.local/state/comfyui-launchpad").stdout.split()
    assert [name for name in databases if name.endswith(f"-{pod.port}.db")], databases

    wait_for(lambda: json.loads(pod.state("State")).get("Health", {}).get("Status") == "healthy", 30,
             "Docker's HEALTHCHECK to say healthy")

    # auth: ComfyUI's own routes, the sidebar and the WebSocket are closed to anonymous callers
    assert http(pod.base + "/launchpad/health")[0] == 200  # the HEALTHCHECK needs no login
    api = {"Accept": "application/json"}
    for path in ("/system_stats", "/api/system_stats", "/prompt", "/object_info", SIDEBAR):
        assert http(pod.base + path, api)[0] == 401, path
    ws_url = f"ws://127.0.0.1:{pod.port}/ws"
    assert asyncio.run(websocket_status(ws_url, {})) == 401
    cookie = login(pod.base)
    status, _, body = http(pod.base + "/system_stats", {**api, "Cookie": cookie})
    assert status == 200 and "comfyui_version" in json.loads(body)["system"]
    status, headers, body = http(pod.base + SIDEBAR, {"Cookie": cookie})
    assert status == 200 and "javascript" in headers.get("Content-Type", ""), headers
    assert b"launchpad" in body.lower()
    assert asyncio.run(websocket_status(ws_url, {"Cookie": cookie})) == "status"

    # ComfyUI-Manager, the package with --enable-manager, behind our login; ENABLE_AUTH lets it install
    # from git and pip on this 0.0.0.0 listener (personal_cloud), its settings on the volume
    assert "--enable-manager" in logs
    assert http(pod.base + "/api/v2/manager/version", api)[0] == 401
    assert http(pod.base + "/api/v2/manager/version", {**api, "Cookie": cookie})[0] == 200
    assert "network_mode = personal_cloud" in (ws / "user" / "__manager" / "config.ini").read_text()
    assert "[START] ComfyUI-Manager" in (ws / "logs" / "comfyui.log").read_text()

    # the small preset lands on the volume, verified, while ComfyUI is already serving
    assert not (checkpoints / "tiny.safetensors").exists(), "finished before ComfyUI answered: nothing shown"
    held.rate = None  # the transfer in flight speeds up
    wait_for(lambda: (checkpoints / "tiny.safetensors").exists(), 60, "tiny.safetensors")
    assert (checkpoints / "tiny.safetensors").read_bytes() == tiny
    wait_for(lambda: hub.bytes_sent(big_blob) >= 100_000, 60, "the big download to be under way")
    assert (checkpoints / "big.safetensors.part").exists() and not (checkpoints / "big.safetensors").exists()

    # docker stop while the big one downloads: a clean exit, the partial file kept
    took = pod.stop()
    print(f"docker stop: {took:.1f} s (limit {STOP_TIMEOUT} s)")
    assert took < STOP_TIMEOUT - 2
    assert "stopped cleanly" in pod.logs()
    assert (checkpoints / "big.safetensors.part").exists() and not (checkpoints / "big.safetensors").exists()
    received = hub.bytes_sent(big_blob)

    # 2. the same container started again -----------------------------------------------------------
    (ws / "custom_nodes" / "SmokeNodeB" / "requirements.txt").write_text(
        f"# changed\n/workspace/wheels/{wheel(wheels, 'smokedepb').name}\n")
    hub.clear_log()
    hub.behave(big_blob)  # full speed now
    since = len(pod.logs())
    pod.start()
    logs = pod.wait_log("preset downloads finished", since=since)
    assert "phase custom-nodes: 2 with requirements, 1 installed (0 failed), 1 unchanged" in logs[since:]
    assert "SmokeNodeB: requirements.txt is new or changed" in logs[since:]
    assert (checkpoints / "big.safetensors").read_bytes() == big
    assert hub.requests_for(tiny_blob) == [], "a finished file was downloaded again"
    resumed = hub.bytes_sent(big_blob)
    print(f"restart: big.safetensors resumed from {received} bytes already received, {resumed} more fetched")
    # what arrived before the stop is not fetched again (less what was still in flight, unwritten)
    assert resumed <= len(big) - received + 64 * 1024, "the partial file was not resumed"
    pod.stop()

    # 3. a new container (a new pod) on the same volume -------------------------------------------------
    hub.clear_log()
    second = run(env, ws)
    ready = second.wait_ready()
    logs = second.wait_log("preset downloads finished")
    print(f"second docker run on the volume: ready {ready:.1f} s after docker run")
    assert hub.requests_for(tiny_blob) == [] and hub.requests_for(big_blob) == []
    assert hub.bytes_sent(tiny_blob) == 0 and hub.bytes_sent(big_blob) == 0
    # a new container has a fresh venv: the volume's nodes get their packages again
    assert "phase custom-nodes: 2 with requirements, 2 installed (0 failed), 0 unchanged" in logs
    assert "IMPORT FAILED" not in logs
    second.stop()
    assert (ws / "logs" / "startup.log").read_text().count("=== container start") == 3


def test_without_a_volume_the_banner_and_the_fallback_and_comfyui_starts(run, image: str) -> None:
    pod = run({}, None)
    ready = pod.wait_ready()
    logs = pod.wait_log("ComfyUI is ready")
    print(f"\nno volume: ready {ready:.1f} s after docker run")
    assert "No network volume: /workspace does not exist." in logs
    assert "LOST when the pod is stopped or deleted" in logs
    assert "workspace /var/lib/launchpad/workspace (missing, local fallback" in logs
    assert list(phase_lines(logs)) == list(PHASES)
    files = docker("exec", pod.name, "ls", "/var/lib/launchpad/workspace/config").stdout.split()
    assert "extra_model_paths.yaml" in files
    took = pod.stop()
    assert took < STOP_TIMEOUT - 2


def test_the_image_without_bundles_has_only_launchpad_and_its_pins(image: str) -> None:
    """What ComfyUI needs is in the image itself, not brought by a bundled custom node."""
    labels = json.loads(docker("image", "inspect", "--format", "{{json .Config.Labels}}", image).stdout)
    script = ("import torch, torchvision, torchaudio, requests; "
              "print(torch.__version__, torchvision.__version__, torchaudio.__version__, torch.version.cuda)")
    out = docker("run", "--rm", "--entrypoint", "/opt/venv/bin/python", image, "-c", script).stdout.split()
    assert [v.split("+")[0] for v in out[:3]] == [labels["io.comfyui-launchpad.torch"],
                                                  labels["io.comfyui-launchpad.torchvision"],
                                                  labels["io.comfyui-launchpad.torchaudio"]]
    assert out[3] == ".".join(labels["io.comfyui-launchpad.cuda"].split(".")[:2])
    nodes = docker("run", "--rm", "--entrypoint", "find", image, "/opt/ComfyUI/custom_nodes", "-mindepth", "1",
                   "-maxdepth", "1", "-type", "d", "-not", "-name", "__pycache__", "-printf", "%f\\n").stdout.split()
    if labels.get("io.comfyui-launchpad.bundles") == "none":
        assert nodes == ["ComfyUI-Launchpad"]
    version = docker("run", "--rm", "--entrypoint", "cat", image, "/opt/ComfyUI/comfyui_version.py").stdout
    assert labels["io.comfyui-launchpad.comfyui"].lstrip("v") in version

    size = int(docker("image", "inspect", "--format", "{{.Size}}", image).stdout)
    layers = []
    for line in docker("history", "--no-trunc", "--human=false", "--format", "{{.Size}}\t{{.CreatedBy}}", image
                       ).stdout.splitlines():
        layer_size, created_by = line.split("\t", 1)
        layers.append((int(layer_size), created_by))
    largest = max(layers)
    print(f"\nimage {image}: {size / 1e9:.2f} GB; largest layer {largest[0] / 1e9:.2f} GB: {largest[1][:120]}")
    print(f"custom nodes baked in: {nodes}")


# --- the serverless variant: one job per container, the SDK's local test mode ---------------------------


def worker_run(image: str, volume: Path, *args: str, read_only: bool = False,
               env: dict[str, str] | None = None) -> tuple[int, str, float]:
    """`docker run` of the serverless image until the worker exits: (status, its log, seconds)."""
    name = f"lp-serverless-{os.getpid()}-{time.monotonic_ns()}"
    mount = f"{volume}:/runpod-volume" + (":ro" if read_only else "")
    argv = ["run", "--name", name, "--network", "host", "-v", mount,
            "-e", f"COMFYUI_PORT={free_port()}", "-e", "COMFYUI_ARGS=--cpu"]
    for key, value in (env or {}).items():
        argv += ["-e", f"{key}={value}"]
    started = time.monotonic()
    try:
        result = docker(*argv, image, *args, timeout=600, check=False)
    finally:
        docker("rm", "-f", name, check=False)
    return result.returncode, result.stdout + result.stderr, time.monotonic() - started


def job_result(logs: str) -> dict:
    """The SDK's `Job result: {...}` line, as the local test mode prints it."""
    for line in logs.splitlines():
        _, _, message = line.partition("| ")
        if message.startswith("Job result: "):
            return ast.literal_eval(message[len("Job result: "):])
    raise AssertionError(f"no job result in the worker's log:\n{logs[-6000:]}")


def test_serverless_worker_runs_its_test_job_with_models_from_the_volume(serverless_image: str,
                                                                        tmp_path: Path) -> None:
    volume = tmp_path / "runpod-volume"
    volume.mkdir()
    labels = json.loads(docker("image", "inspect", "--format", "{{json .Config.Labels}}", serverless_image).stdout)
    assert labels["io.comfyui-launchpad.variant"] == "serverless"
    # no --test_input: the SDK runs the test_input.json baked beside the handler
    status, logs, took = worker_run(serverless_image, volume)
    assert status == 0, logs[-8000:]
    print(f"\nserverless: one job, from docker run to exit, in {took:.1f} s; "
          f"{re.findall(r'cold start took [0-9.]+ s', logs)}")
    assert "models from /runpod-volume/models (writable)" in logs
    assert "Job local_test completed successfully." in logs
    assert "IMPORT FAILED" not in logs, logs[-8000:]
    (image,) = job_result(logs)["output"]["images"]
    assert image["filename"] == "launchpad_serverless_test_00001_.png" and image["type"] == "base64"
    data = base64.b64decode(image["data"])
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", data[16:24]) == (64, 64)
    # outputs stay on the container's disk; Launchpad inside ComfyUI keeps its state on the volume
    assert not list(volume.rglob("*.png"))
    assert (volume / ".launchpad").is_dir()


def test_serverless_worker_names_a_missing_model_on_a_read_only_volume(serverless_image: str,
                                                                      tmp_path: Path) -> None:
    volume = tmp_path / "runpod-volume"
    (volume / "models" / "checkpoints").mkdir(parents=True)
    job = {"input": {"workflow": {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_missing.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["4", 2]}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "never"}},
    }}}
    status, logs, _ = worker_run(serverless_image, volume, "--test_input", json.dumps(job), read_only=True)
    assert status == 1, logs[-8000:]
    assert "models from /runpod-volume/models (read-only)" in logs
    assert ("Job local_test failed with error: Missing models: checkpoints/sd_missing.safetensors "
            "(wanted by node 4 (CheckpointLoaderSimple)). Put them on the network volume under "
            "/runpod-volume/models/<folder>/") in logs, logs[-8000:]


def test_serverless_worker_with_a_lock_a_read_only_volume_lacks_stops_before_comfyui(serverless_image: str,
                                                                                  tmp_path: Path) -> None:
    volume = tmp_path / "runpod-volume"
    (volume / "config").mkdir(parents=True)
    lock = {"format": "launchpad.models-lock", "version": 1, "files": [{
        "folder": "checkpoints", "name": "locked.safetensors",
        "source": {"hf": "acme/locked", "revision": "main", "commit": None, "path": "locked.safetensors"},
        "size": 1234, "sha256": None}]}
    (volume / "config" / "models.lock.json").write_text(json.dumps(lock))
    status, logs, took = worker_run(serverless_image, volume, read_only=True,
                                    env={"MODELS_LOCK": "config/models.lock.json"})
    assert status == 1, logs[-8000:]
    print(f"\nserverless: a read-only volume that lacks locked files stops the worker in {took:.1f} s")
    assert "provisioning /runpod-volume from the models lock /runpod-volume/config/models.lock.json" in logs
    assert "The volume /runpod-volume is read-only, so the files the lock lists and the volume lacks" in logs
    assert "the worker cannot take jobs" in logs
    assert "Starting server" not in logs and "Starting Serverless Worker" not in logs  # ComfyUI never started
    if "invalid choice: 'provision'" not in logs:  # the CLI has the models lock (docs/lockfile.md)
        assert "checkpoints/locked.safetensors" in logs, logs[-8000:]
