"""The image's start script (docker/scripts/start.sh), run for real outside Docker.

WORKSPACE_ROOT is a temp directory, `launchpad` is this checkout's CLI (a shim on PATH), and
the ComfyUI command is a stand-in that records its argv and environment and serves
/launchpad/health, the way ComfyUI with Launchpad loaded does. With COMFYUI_DIR set (a ComfyUI
checkout, COMFYUI_PYTHON its interpreter) one test starts the real ComfyUI instead.
Stand-ins are used only for what the image provides and this machine does not: ComfyUI itself,
sshd, code-server and JupyterLab.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from integration.real_comfyui import ComfyUIInstall
from test_docker_files import installed, make_venv, uv_bin, wheel

from conftest import RUN_CLI, cli_argv, missing

ROOT = Path(__file__).resolve().parents[2]
START = ROOT / "docker" / "scripts" / "start.sh"
PHASES = ("volume", "paths", "downloads", "services", "custom-nodes", "comfyui")

FAKE_COMFYUI = r'''
import http.server, json, os, signal, sys, time
argv = sys.argv[1:]
port = int(argv[argv.index("--port") + 1])
record = os.environ["FAKE_COMFY_RECORD"]
keep = ("WORKSPACE_ROOT", "PYTHONUNBUFFERED", "ACCESS_PASSWORD", "CODE_SERVER_PASSWORD",
        "JUPYTER_PASSWORD", "PUBLIC_KEY", "HF_ENDPOINT")
with open(record, "a") as fh:
    fh.write(json.dumps({"event": "start", "argv": argv, "cwd": os.getcwd(), "pid": os.getpid(),
                         "env": {k: os.environ[k] for k in keep if k in os.environ}}) + "\n")

def stop(*_):
    with open(record, "a") as fh:
        fh.write(json.dumps({"event": "sigterm", "pid": os.getpid()}) + "\n")
    print("fake ComfyUI: stopping on SIGTERM", flush=True)
    os._exit(0)

signal.signal(signal.SIGTERM, stop)
print("fake ComfyUI: starting", flush=True)
if os.environ.get("FAKE_COMFY_EXIT"):
    sys.exit(int(os.environ["FAKE_COMFY_EXIT"]))

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path == "/launchpad/health"
        body = b'{"status": "ok"}' if ok else b"{}"
        self.send_response(200 if ok else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
'''

# sshd, code-server, jupyter: record how they were started (argv, and whether the secret
# arrived through the environment), then wait to be stopped
FAKE_SERVICE = r'''#!{python}
import json, os, signal, sys, time
name = os.path.basename(sys.argv[0])
with open(os.environ["FAKE_SERVICE_RECORD"], "a") as fh:
    fh.write(json.dumps({{"service": name, "argv": sys.argv[1:], "pid": os.getpid(),
                         "PASSWORD": os.environ.get("PASSWORD"),
                         "JUPYTER_TOKEN": os.environ.get("JUPYTER_TOKEN")}}) + "\n")
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
while True:
    time.sleep(1)
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture(scope="module")
def standins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bin/launchpad (this checkout's CLI), fake_comfyui.py, and service stand-ins in services/."""
    root = tmp_path_factory.mktemp("standins")
    (root / "bin").mkdir()
    write_executable(root / "bin" / "launchpad", f'#!/bin/sh\nexec "{sys.executable}" "{RUN_CLI}" "$@"\n')
    (root / "fake_comfyui.py").write_text(FAKE_COMFYUI)
    (root / "services").mkdir()
    for name in ("sshd", "code-server", "jupyter"):
        write_executable(root / "services" / name, FAKE_SERVICE.format(python=sys.executable))
    return root


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Stands for the image's /opt/venv: custom-node requirements go here, logtee runs on it."""
    return make_venv(tmp_path_factory.mktemp("venv") / "venv")


class Boot:
    """One run of start.sh: its output, the stand-in's records, and a clean stop."""

    def __init__(self, env: dict[str, str], workdir: Path, argv: list[str]) -> None:
        self.out_path = workdir / "start.out"
        self.record = Path(env["FAKE_COMFY_RECORD"])
        self.services = Path(env["FAKE_SERVICE_RECORD"])
        self.out = open(self.out_path, "w")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(argv, env=env, stdout=self.out, stderr=subprocess.STDOUT)
        self.returncode: int | None = None

    @property
    def output(self) -> str:
        return self.out_path.read_text()

    def wait_for(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            output = self.output
            if text in output:
                return output
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{text!r} did not appear; start.sh said:\n{self.output}")

    def comfy_records(self) -> list[dict]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]

    def service_records(self) -> dict[str, dict]:
        if not self.services.exists():
            return {}
        return {r["service"]: r for r in map(json.loads, self.services.read_text().splitlines())}

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.returncode = self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.out.close()
        return self.returncode


@pytest.fixture
def boot(standins: Path, venv: Path, tmp_path: Path) -> Iterator:
    """boot(**env) starts start.sh with test defaults; every boot is stopped at the end."""
    boots: list[Boot] = []
    counter = iter(range(100))

    def start(argv: list[str] | None = None, **overrides: str | None) -> Boot:
        workdir = tmp_path / f"boot{next(counter)}"
        workdir.mkdir()
        env = {
            "PATH": f"{standins / 'bin'}:{os.environ['PATH']}",
            "HOME": str(tmp_path / "home"),
            "LANG": "C.UTF-8",
            "TMPDIR": str(tmp_path),
            "WORKSPACE_ROOT": str(tmp_path / "workspace"),
            "LOCAL_WORKSPACE": str(tmp_path / "local-workspace"),
            "VENV": str(venv),
            "COMFYUI_DIR": str(tmp_path / "no-comfyui-here"),
            "COMFYUI_CMD": f"{sys.executable} {standins / 'fake_comfyui.py'}",
            "COMFYUI_PORT": str(free_port()),
            "FAKE_COMFY_RECORD": str(workdir / "comfy.jsonl"),
            "FAKE_SERVICE_RECORD": str(workdir / "services.jsonl"),
            "UV_BIN": uv_bin(),
            "UV_OFFLINE": "1",
            "LAUNCHPAD_CONSTRAINTS": str(tmp_path / "no-constraints.txt"),
            "CUSTOM_NODES_STATE": str(venv / f".state-{tmp_path.name}"),
            "SSHD_BIN": str(tmp_path / "no-sshd"),
            "SSH_DIR": str(tmp_path / "home" / ".ssh"),
            "COMFYUI_RESTART_DELAY": "0",
        }
        env.update(overrides)
        env = {k: v for k, v in env.items() if v is not None}
        b = Boot(env, workdir, argv or ["bash", str(START)])
        boots.append(b)
        return b

    yield start
    for b in boots:
        if b.returncode is None:
            b.stop(signal.SIGKILL)


def phase_lines(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        for name in PHASES:
            if f"] phase {name}: " in line and "(took " in line:
                found[name] = line
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_gone(pid: int, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


# --- the normal start -------------------------------------------------------------------------


def test_every_phase_runs_is_timed_and_comfyui_gets_the_workspace_flags(boot, tmp_path: Path) -> None:
    ws = tmp_path / "workspace"
    ws.mkdir()
    b = boot()
    out = b.wait_for("ComfyUI is ready")

    phases = phase_lines(out)
    assert list(phases) == list(PHASES), out
    startup_log = (ws / "logs" / "startup.log").read_text()
    assert list(phase_lines(startup_log)) == list(PHASES)
    assert "ComfyUI is ready" in startup_log
    assert "is not a mount point" in out  # a temp dir is no volume: said loudly, but used

    config = ws / "config" / "extra_model_paths.yaml"
    section = yaml.safe_load(config.read_text())["launchpad_workspace"]
    assert section["custom_nodes"] == str(ws / "custom_nodes")  # user nodes live on the volume
    assert (ws / "custom_nodes").is_dir()

    (start,) = [r for r in b.comfy_records() if r["event"] == "start"]
    argv = start["argv"]
    port = argv[argv.index("--port") + 1]
    assert argv[argv.index("--listen") + 1] == "0.0.0.0"
    assert argv[argv.index("--extra-model-paths-config") + 1] == str(config)
    assert argv[argv.index("--output-directory") + 1] == str(ws / "output")
    assert argv[argv.index("--input-directory") + 1] == str(ws / "input")
    assert Path(argv[argv.index("--user-directory") + 1]).is_dir()  # ComfyUI refuses a missing one
    # the database on the container's disk, named for the port (a second pod on the volume has its own)
    database = Path(argv[argv.index("--database-url") + 1].removeprefix("sqlite:///"))
    assert database.parent == tmp_path / "home" / ".local" / "state" / "comfyui-launchpad"
    assert database.name.endswith(f"-{argv[argv.index('--port') + 1]}.db")
    assert "--enable-cors-header" not in argv  # not behind RunPod's proxy here
    assert start["env"]["WORKSPACE_ROOT"] == str(ws)
    assert start["env"]["PYTHONUNBUFFERED"] == "1"

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/launchpad/health", timeout=5) as response:
        assert response.status == 200
    assert "fake ComfyUI: starting" in (ws / "logs" / "comfyui.log").read_text()  # the rotated log file
    assert "fake ComfyUI: starting" in out  # and the container log

    assert b.stop() == 0
    assert "stopped cleanly" in b.output
    assert [r["event"] for r in b.comfy_records()] == ["start", "sigterm"]
    assert not alive(start["pid"])
    assert "fake ComfyUI: stopping on SIGTERM" in (ws / "logs" / "comfyui.log").read_text()


def test_a_second_start_rotates_the_comfyui_log(boot, tmp_path: Path) -> None:
    (tmp_path / "workspace").mkdir()
    logs = tmp_path / "workspace" / "logs"
    for _ in range(2):
        b = boot()
        b.wait_for("ComfyUI is ready")
        assert b.stop() == 0
    assert "fake ComfyUI: starting" in (logs / "comfyui.log").read_text()
    assert "fake ComfyUI: starting" in (logs / "comfyui.log.1").read_text()
    assert (logs / "startup.log").read_text().count("=== container start") == 2


def test_behind_runpods_proxy_the_origin_check_is_replaced_by_the_proxy_origin(boot, tmp_path: Path) -> None:
    (tmp_path / "workspace").mkdir()
    b = boot(RUNPOD_POD_ID="abc123xyz", COMFYUI_ARGS="--lowvram --preview-method auto")
    b.wait_for("ComfyUI is ready")
    argv = b.comfy_records()[0]["argv"]
    port = argv[argv.index("--port") + 1]
    assert argv[argv.index("--enable-cors-header") + 1] == f"https://abc123xyz-{port}.proxy.runpod.net"
    assert argv[-3:] == ["--lowvram", "--preview-method", "auto"]
    assert b.stop() == 0

    b = boot(RUNPOD_POD_ID="abc123xyz", COMFYUI_CORS_ORIGIN="off")
    b.wait_for("ComfyUI is ready")
    assert "--enable-cors-header" not in b.comfy_records()[0]["argv"]
    assert b.stop() == 0


# --- volume problems ------------------------------------------------------------------------------


def test_a_missing_volume_gives_the_message_and_the_local_fallback(boot, tmp_path: Path) -> None:
    b = boot(WORKSPACE_ROOT=str(tmp_path / "not-mounted"))
    out = b.wait_for("ComfyUI is ready")
    local = tmp_path / "local-workspace"
    assert f"No network volume: {tmp_path / 'not-mounted'} does not exist." in out
    assert "LOST when the pod is stopped or deleted" in out
    assert not (tmp_path / "not-mounted").exists()  # nothing grows where the volume should be
    assert (local / "config" / "extra_model_paths.yaml").is_file()
    assert "No network volume" in (local / "logs" / "startup.log").read_text()
    start = b.comfy_records()[0]
    assert start["argv"][start["argv"].index("--output-directory") + 1] == str(local / "output")
    assert start["env"]["WORKSPACE_ROOT"] == str(local)
    assert b.stop() == 0


def can_mount_read_only(path: Path) -> bool:
    probe = subprocess.run(
        ["unshare", "--mount", "sh", "-c", f"mount --bind -o ro '{path}' '{path}' && ! touch '{path}/x'"],
        capture_output=True,
    )
    return probe.returncode == 0


def test_a_read_only_volume_gives_the_message_and_the_local_fallback(boot, tmp_path: Path) -> None:
    ws = tmp_path / "workspace"
    ws.mkdir()
    (ws / "models").mkdir()
    if not can_mount_read_only(ws):
        pytest.skip("needs unshare and a read-only bind mount (root in a mount namespace)")
    # the script runs in its own mount namespace where the workspace is a read-only mount
    wrapper = tmp_path / "ro-wrapper.sh"
    write_executable(wrapper, f"#!/bin/sh\nmount --bind -o ro '{ws}' '{ws}' && exec bash '{START}'\n")
    b = boot(argv=["unshare", "--mount", str(wrapper)])
    out = b.wait_for("ComfyUI is ready")
    assert f"The workspace {ws} cannot be used" in out
    assert "[FAIL] writable" in out  # launchpad doctor's report says why
    local = tmp_path / "local-workspace"
    assert (local / "config" / "extra_model_paths.yaml").is_file()
    start = b.comfy_records()[0]
    assert start["argv"][start["argv"].index("--extra-model-paths-config") + 1].startswith(str(local))
    assert b.stop() == 0
    assert list(ws.iterdir()) == [ws / "models"]


# --- services -----------------------------------------------------------------------------------


def test_services_without_a_password_are_not_started(boot, standins: Path, tmp_path: Path) -> None:
    (tmp_path / "workspace").mkdir()
    path = f"{standins / 'services'}:{standins / 'bin'}:{os.environ['PATH']}"
    b = boot(PATH=path, SSHD_BIN=str(standins / "services" / "sshd"))
    out = b.wait_for("ComfyUI is ready")
    assert "sshd: not started (set PUBLIC_KEY" in out
    assert "code-server: NOT started: it needs a password. Set ACCESS_PASSWORD" in out
    assert "jupyterlab: NOT started: it needs a password. Set ACCESS_PASSWORD" in out
    assert b.service_records() == {}
    assert "phase services: sshd off, code-server off, jupyterlab off" in out
    assert b.stop() == 0


def test_an_unreadable_setting_starts_nothing_and_says_why(boot, standins: Path, tmp_path: Path) -> None:
    """Issue 15, finding 1: ENABLE_AUTH=enabled must not leave ComfyUI (or sshd, Jupyter) open."""
    (tmp_path / "workspace").mkdir()
    path = f"{standins / 'services'}:{standins / 'bin'}:{os.environ['PATH']}"
    b = boot(PATH=path, SSHD_BIN=str(standins / "services" / "sshd"), PUBLIC_KEY="ssh-ed25519 AAAA test",
             ENABLE_AUTH="enabled", ACCESS_PASSWORD="a long enough test password")
    out = b.wait_for("NOTHING is started")
    assert "ENABLE_AUTH='enabled' is not understood" in out and "a long enough test password" not in out
    time.sleep(1)
    assert b.comfy_records() == [] and b.service_records() == {}
    assert "phase volume" not in b.output
    assert b.stop() == 0


def test_services_start_with_their_secrets_and_stop_with_the_container(boot, standins: Path, tmp_path: Path) -> None:
    (tmp_path / "workspace").mkdir()
    password = "correct horse battery staple"
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBmBXkU2pVkyK7v0example user@laptop"
    path = f"{standins / 'services'}:{standins / 'bin'}:{os.environ['PATH']}"
    b = boot(
        PATH=path,
        SSHD_BIN=str(standins / "services" / "sshd"),
        SSH_HOST_KEY_PREFIX=str(tmp_path / "sshroot"),
        SSH_PORT="2222",
        PUBLIC_KEY=key,
        ACCESS_PASSWORD=password,
        JUPYTER_PASSWORD="jupyter only",
    )
    out = b.wait_for("ComfyUI is ready")
    services = b.service_records()
    assert set(services) == {"sshd", "code-server", "jupyter"}
    assert services["sshd"]["argv"] == ["-D", "-e", "-p", "2222"]
    assert (tmp_path / "home" / ".ssh" / "authorized_keys").read_text() == key + "\n"
    assert oct((tmp_path / "home" / ".ssh").stat().st_mode & 0o777) == "0o700"
    if subprocess.run(["sh", "-c", "command -v ssh-keygen"], capture_output=True).returncode == 0:
        assert list((tmp_path / "sshroot" / "etc" / "ssh").glob("ssh_host_*_key")), "host keys made per container"
    assert services["code-server"]["PASSWORD"] == password  # ACCESS_PASSWORD serves both ...
    assert services["jupyter"]["JUPYTER_TOKEN"] == "jupyter only"  # ... unless a service has its own
    assert "--auth" in services["code-server"]["argv"]
    for secret in (password, "jupyter only"):
        assert secret not in out, "a password reached the log"
        assert all(secret not in arg for r in services.values() for arg in r["argv"]), "a password on a command line"
    env = b.comfy_records()[0]["env"]
    assert "PUBLIC_KEY" not in env and "JUPYTER_PASSWORD" not in env  # ComfyUI doesn't need them
    assert env["ACCESS_PASSWORD"] == password  # Launchpad's own auth does

    assert b.stop() == 0
    for record in services.values():
        assert wait_gone(record["pid"]), f"{record['service']} still running after the container stopped"
    # a second start does not add the key twice
    b = boot(PATH=path, SSHD_BIN=str(standins / "services" / "sshd"), SSH_HOST_KEY_PREFIX=str(tmp_path / "sshroot"),
             PUBLIC_KEY=key)
    b.wait_for("ComfyUI is ready")
    assert (tmp_path / "home" / ".ssh" / "authorized_keys").read_text() == key + "\n"
    assert b.stop() == 0


# --- custom nodes on the volume ---------------------------------------------------------------------


def test_custom_node_requirements_are_installed_only_when_they_change(boot, venv: Path, tmp_path: Path) -> None:
    ws = tmp_path / "workspace"
    nodes = ws / "custom_nodes"
    (nodes / "MyNode").mkdir(parents=True)
    (nodes / "Disabled.disabled").mkdir()
    (nodes / "NoRequirements").mkdir()
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    dep = wheel(wheels, "volumenodedep")
    (nodes / "MyNode" / "requirements.txt").write_text(f"{dep}\n")
    (nodes / "Disabled.disabled" / "requirements.txt").write_text("no-such-package-anywhere\n")

    b = boot()
    out = b.wait_for("ComfyUI is ready")
    assert "MyNode: requirements.txt is new or changed" in out
    assert "Disabled" not in out
    assert "phase custom-nodes: 1 with requirements, 1 installed (0 failed), 0 unchanged" in out
    assert installed(venv, "volumenodedep")
    assert b.stop() == 0

    b = boot()  # the same container restarted: nothing to do
    out = b.wait_for("ComfyUI is ready")
    assert "is new or changed" not in out
    assert "phase custom-nodes: 1 with requirements, 0 installed (0 failed), 1 unchanged" in out
    assert b.stop() == 0

    (nodes / "MyNode" / "requirements.txt").write_text(f"# pinned\n{dep}\n")
    b = boot()
    out = b.wait_for("ComfyUI is ready")
    assert "MyNode: requirements.txt is new or changed" in out
    assert b.stop() == 0

    b = boot(CUSTOM_NODES_STATE=str(tmp_path / "fresh-container-state"))  # a new container: reinstall
    out = b.wait_for("ComfyUI is ready")
    assert "MyNode: requirements.txt is new or changed" in out
    assert b.stop() == 0


def test_custom_nodes_moved_by_migrate_get_their_requirements_at_the_next_start(
    boot, venv: Path, tmp_path: Path
) -> None:
    from migrate_volumes import age, write

    ws = tmp_path / "workspace"
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    dep = wheel(wheels, "migratednodedep")
    old_nodes = ws / "ComfyUI" / "custom_nodes"
    write(old_nodes / "OldNode" / "__init__.py", "NODE_CLASS_MAPPINGS = {}\n")
    write(old_nodes / "OldNode" / "requirements.txt", f"{dep}\n")
    write(ws / "ComfyUI" / "models" / "checkpoints" / "old.safetensors", "old")
    age(ws)
    moved = subprocess.run(cli_argv("migrate", "--move", "--workspace", str(ws)), capture_output=True, text=True)
    assert moved.returncode == 0, moved.stderr
    assert "restart the pod" in moved.stdout

    b = boot()
    out = b.wait_for("ComfyUI is ready")
    assert "OldNode: requirements.txt is new or changed" in out
    assert installed(venv, "migratednodedep")
    argv = b.comfy_records()[0]["argv"]
    config = yaml.safe_load(Path(argv[argv.index("--extra-model-paths-config") + 1]).read_text())
    assert config["launchpad_workspace"]["custom_nodes"] == str(ws / "custom_nodes")  # ComfyUI loads OldNode
    assert b.stop() == 0


def test_a_failing_requirement_is_reported_retried_and_never_blocks_comfyui(boot, venv: Path, tmp_path: Path) -> None:
    nodes = tmp_path / "workspace" / "custom_nodes"
    (nodes / "Broken").mkdir(parents=True)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    good = wheel(wheels, "goodlinedep")
    (nodes / "Broken" / "requirements.txt").write_text(f"no-such-package-anywhere==9.9\n{good}\n")
    for _ in range(2):
        b = boot()
        out = b.wait_for("ComfyUI is ready")
        assert "Broken: installing requirements.txt as a whole failed, trying line by line" in out
        assert "could not install 'no-such-package-anywhere==9.9'" in out
        assert "1 custom node(s) on the volume have requirements that did not install" in out
        assert installed(venv, "goodlinedep")  # the other line still went in
        assert (tmp_path / "workspace" / "logs" / "custom-nodes.log").is_file()
        assert b.stop() == 0


def test_node_requirements_cannot_replace_the_images_pinned_packages(boot, venv: Path, tmp_path: Path) -> None:
    """The image's constraints (its CUDA torch, in production) hold for custom nodes too."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    pinned = wheel(wheels, "pinnedbyimage", "1.0")
    newer = wheel(wheels, "pinnedbyimage", "2.0")
    subprocess.run([uv_bin(), "pip", "install", "-q", "--python", str(venv / "bin" / "python"), str(pinned)],
                   check=True, env={**os.environ, "UV_OFFLINE": "1"})
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("pinnedbyimage==1.0\n")
    nodes = tmp_path / "workspace" / "custom_nodes"
    (nodes / "Greedy").mkdir(parents=True)
    (nodes / "Greedy" / "requirements.txt").write_text(f"{newer}\n")

    b = boot(LAUNCHPAD_CONSTRAINTS=str(constraints))
    out = b.wait_for("ComfyUI is ready")
    assert "Greedy: installing requirements.txt as a whole failed" in out
    assert "1 custom node(s) on the volume have requirements that did not install" in out
    version = subprocess.run([str(venv / "bin" / "python"), "-c", "import pinnedbyimage; print(pinnedbyimage.VERSION)"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert version == "1.0"
    assert b.stop() == 0


# --- supervision ------------------------------------------------------------------------------------


def test_a_crashing_comfyui_is_restarted_then_left_alone_and_the_container_stays_up(boot, tmp_path: Path) -> None:
    (tmp_path / "workspace").mkdir()
    b = boot(FAKE_COMFY_EXIT="3", COMFYUI_MAX_QUICK_EXITS="3")
    out = b.wait_for("not restarting it")
    assert out.count("ComfyUI exited with status 3") == 3
    assert out.count("restarting ComfyUI in 0 s") == 2
    assert "The container stays up so you can connect" in out
    assert b.proc.poll() is None  # still running: a broken ComfyUI never kills the pod
    assert b.stop() == 0


def test_sigterm_during_a_slow_start_stops_at_once(boot, tmp_path: Path) -> None:
    """SIGTERM while a start-up step runs (here a hanging `launchpad`) is handled right away."""
    (tmp_path / "workspace").mkdir()
    slow = tmp_path / "slowbin"
    slow.mkdir()
    write_executable(slow / "launchpad", "#!/bin/sh\nexec sleep 600\n")
    b = boot(PATH=f"{slow}:{os.environ['PATH']}")
    b.wait_for("[launchpad")  # it started; the doctor step hangs
    time.sleep(0.3)
    assert b.stop() == 0
    assert "received SIGTERM" in b.output and "stopped cleanly" in b.output
    assert b.comfy_records() == []


# --- preset downloads ---------------------------------------------------------------------------------


def test_preset_downloads_run_in_the_background_from_a_fake_hub(boot, standins: Path, tmp_path: Path) -> None:
    try:
        from fakehub import FakeHub
    except ImportError:
        pytest.fail(
            "needs tests/support/fakehub.py and `launchpad install --from-env` from branch `downloads`: "
            "merge it, then this test runs PRESET_DOWNLOAD against the fake Hub"
        )
    helped = subprocess.run([str(standins / "bin" / "launchpad"), "install", "--help"], capture_output=True, text=True)
    if helped.returncode != 0 or "--from-env" not in helped.stdout:
        pytest.fail("`launchpad install --from-env` is missing: merge branch `downloads`")

    ws = tmp_path / "workspace"
    (ws / "config" / "presets").mkdir(parents=True)
    data = os.urandom(3_000_000)
    hub = FakeHub().start()
    try:
        hub.add_hf_file("acme/tiny", "weights/tiny.safetensors", data)
        hub.behave("acme/tiny/weights/tiny.safetensors", rate=1_000_000)  # a few seconds: ComfyUI must not wait
        (ws / "config" / "presets" / "mine.yaml").write_text(
            "schema: 1\npresets:\n  - id: TINY_TEST\n    name: Tiny\n    category: image\n    files:\n"
            "      - folder: checkpoints\n        name: tiny.safetensors\n        hf: acme/tiny\n"
            "        path: weights/tiny.safetensors\n"
        )
        b = boot(PRESET_DOWNLOAD="TINY_TEST", HF_ENDPOINT=hub.url)
        out = b.wait_for("preset downloads finished", timeout=120)
        assert out.index("phase downloads: installing TINY_TEST in the background") < out.index("phase comfyui:")
        assert out.index("phase comfyui:") < out.index("preset downloads finished")
        assert (ws / "models" / "checkpoints" / "tiny.safetensors").read_bytes() == data
        assert (ws / "logs" / "downloads.log").is_file()
        assert b.stop() == 0
    finally:
        hub.stop()


# --- real ComfyUI ---------------------------------------------------------------------------------


@pytest.mark.integration
def test_real_comfyui_starts_with_launchpad_and_answers_through_the_proxy(boot, tmp_path: Path) -> None:
    install = ComfyUIInstall.from_env()
    if install is None:
        missing("comfyui", "set COMFYUI_DIR (and COMFYUI_PYTHON) to a ComfyUI")
    comfy_dir, python = install.root, str(install.python)
    ws = tmp_path / "workspace"
    (ws / "custom_nodes").mkdir(parents=True)
    (ws / "custom_nodes" / "ComfyUI-Launchpad").symlink_to(ROOT)  # user nodes on the volume are loaded
    origin = "https://pod123-8188.proxy.runpod.net"
    b = boot(
        COMFYUI_CMD=None,
        COMFYUI_DIR=str(comfy_dir),
        COMFYUI_PYTHON=python,
        COMFYUI_ARGS="--cpu",
        COMFYUI_CORS_ORIGIN=origin,
        CUSTOM_NODE_REQUIREMENTS="off",  # never touch the shared ComfyUI venv
    )
    out = b.wait_for("ComfyUI is ready", timeout=180)
    port = out.split("--port ", 1)[1].split()[0]

    # what RunPod's proxy sends: Host rewritten to the container, Origin the public proxy URL
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/launchpad/health", headers={"Host": f"127.0.0.1:{port}", "Origin": origin}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == origin
        assert json.loads(response.read())["status"] == "ok"
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/internal/folder_paths", timeout=10) as response:
        folders = json.loads(response.read())
    assert folders["checkpoints"][0] == str(ws / "models" / "checkpoints")  # the workspace is the default
    assert str(ws / "custom_nodes") in folders["custom_nodes"]
    # ComfyUI's database is on the container's own disk, one per process, never on the shared volume
    assert not list(ws.rglob("*.db")), list(ws.rglob("*.db"))
    assert list((tmp_path / "home" / ".local" / "state" / "comfyui-launchpad").glob(f"comfyui-*-{port}.db"))
    log = (ws / "logs" / "comfyui.log").read_text()
    assert "IMPORT FAILED" not in log.split("Import times for custom nodes:")[-1].split("\n\n")[0]
    # ComfyUI-Manager as the package where this ComfyUI loads it so (0.33 and on), open to
    # installs only behind a login: no ENABLE_AUTH here, so its network_mode is not personal_cloud
    manager = install.supports("--enable-manager") and install.has_module("comfyui_manager")
    assert ("--enable-manager" in out) == manager, out
    if manager:
        assert "[START] ComfyUI-Manager" in log
        config = ws / "user" / "__manager" / "config.ini"  # the Manager's settings, on the volume
        assert not config.exists() or "personal_cloud" not in config.read_text()

    assert b.stop() == 0
    assert "stopped cleanly" in b.output
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/launchpad/health", timeout=2)
