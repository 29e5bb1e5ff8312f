"""Run a real ComfyUI with this checkout loaded as a custom node, for integration tests.

Nothing of ComfyUI is copied or changed: its tracked files stay as they are. Each run gets a
private directory holding

    workspace/            WORKSPACE_ROOT, laid out and configured by OUR CLI
                          (`launchpad paths`, `launchpad comfy-args`)
    custom_nodes/ComfyUI-Launchpad -> this repository (a symlink)
    custom_nodes.yaml     an extra-paths file whose `custom_nodes:` entry adds the directory
                          above as a custom-node root (docs/comfyui-facts.md, Loading), so the
                          real custom_nodes/ of the ComfyUI install is never touched
    comfyui.log           ComfyUI's stdout and stderr together
    cwd/                  ComfyUI's working directory, so stray files land here
    local/                COMFYUI_DATABASE_DIR: ComfyUI's database, off the workspace as on a pod

The steps are separate so a test can change files between them: :func:`prepare` builds the
directory, then :func:`start` runs a server (returns :class:`ComfyUI`) or :func:`run_once`
runs ComfyUI to completion (e.g. with ``--quick-test-for-ci``). ``conftest.py`` wraps them in
pytest fixtures; ``README.md`` beside this file shows both ways.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
PACK_NAME = "ComfyUI-Launchpad"
# A closed local port: any Hub or Civitai call that a test did not point at a fake fails fast
# instead of reaching the internet.
UNREACHABLE = "http://127.0.0.1:9"
SECRETS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "CIVITAI_TOKEN")
BASE_ARGS = ("--cpu", "--disable-auto-launch")

CliArgv = Callable[..., list[str]]


class ComfyUIStartError(RuntimeError):
    """ComfyUI exited or never answered while starting; the message ends with its log."""


# --- locating the install -------------------------------------------------------------


@dataclass(frozen=True)
class ComfyUIInstall:
    """A ComfyUI checkout and the Python that runs it."""

    root: Path
    python: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ComfyUIInstall | None:
        """COMFYUI_DIR (and COMFYUI_PYTHON, default ``<COMFYUI_DIR>/../venv/bin/python``); None if unset."""
        env = os.environ if env is None else env
        raw = env.get("COMFYUI_DIR", "").strip()
        if not raw:
            return None
        root = Path(raw).expanduser().resolve()
        python = Path(env.get("COMFYUI_PYTHON") or root.parent / "venv" / "bin" / "python").expanduser()
        return cls(root, python.absolute())

    def supports(self, flag: str) -> bool:
        """Whether this ComfyUI has the command-line flag (newer ones refuse flags they do not know)."""
        return f'"{flag}"' in (self.root / "comfy" / "cli_args.py").read_text(encoding="utf-8")

    def has_module(self, name: str) -> bool:
        """Whether ComfyUI's Python can import ``name`` (found, not imported: some need ComfyUI's path)."""
        probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({name!r}) is None)"
        return subprocess.run([str(self.python), "-c", probe], capture_output=True, timeout=60).returncode == 0

    def problems(self) -> list[str]:
        """Why this install cannot run; empty when it looks usable."""
        found = []
        if not (self.root / "main.py").is_file():
            found.append(f"COMFYUI_DIR={self.root} has no main.py: point it at a ComfyUI checkout")
        if not os.access(self.python, os.X_OK):
            found.append(f"{self.python} is not an executable Python: set COMFYUI_PYTHON to ComfyUI's Python")
        return found


# --- one run's directory --------------------------------------------------------------


@dataclass
class LaunchOptions:
    """What a test may vary. Defaults start ComfyUI the way the container start script does."""

    env: dict[str, str] = field(default_factory=dict)  # added to (and overriding) the defaults
    args: list[str] = field(default_factory=list)  # more ComfyUI flags, after ours
    prepare: Callable[[Path], None] | None = None  # gets the empty workspace before `launchpad paths`
    paths_args: list[str] = field(default_factory=list)  # more `launchpad paths` flags
    start_timeout: float = 120.0  # seconds to wait for GET /system_stats
    ready_headers: dict[str, str] = field(default_factory=dict)  # sent with that probe (e.g. a bearer token)


@dataclass(frozen=True)
class Setup:
    """A prepared run directory: workspace configured by our CLI, the pack linked in."""

    run_dir: Path
    workspace: Path
    custom_nodes: Path  # the custom-node root ComfyUI scans (holds only our symlink)
    pack_dir: Path  # custom_nodes/ComfyUI-Launchpad: the path ComfyUI reports for us
    custom_nodes_yaml: Path
    comfy_args: list[str]  # exactly what `launchpad comfy-args --port <port> --json` printed
    options: LaunchOptions
    cli: CliArgv
    port: int  # where ComfyUI will listen (comfy-args names the database after it)

    @property
    def log_path(self) -> Path:
        return self.run_dir / "comfyui.log"

    @property
    def cwd(self) -> Path:
        return self.run_dir / "cwd"


def run_cli(cli: CliArgv, *args: str, env: Mapping[str, str] | None = None) -> str:
    """Run our CLI; its stdout. A failure raises with its stderr so the test says why."""
    done = subprocess.run(cli(*args), capture_output=True, text=True, timeout=120, env=env)
    if done.returncode != 0:
        raise AssertionError(f"`launchpad {' '.join(args)}` exited {done.returncode}:\n{done.stderr}{done.stdout}")
    return done.stdout


def prepare(run_dir: Path, cli: CliArgv, options: LaunchOptions | None = None) -> Setup:
    """Lay out ``run_dir``: a workspace set up by our CLI and a custom-node root with this repo."""
    options = options or LaunchOptions()
    workspace = run_dir / "workspace"
    workspace.mkdir(parents=True)
    if options.prepare is not None:
        options.prepare(workspace)
    run_cli(cli, "paths", "--workspace", str(workspace), *options.paths_args)
    port = free_port()
    comfy_args = generated_args(cli, workspace, port)

    custom_nodes = run_dir / "custom_nodes"
    custom_nodes.mkdir()
    pack_dir = custom_nodes / PACK_NAME
    pack_dir.symlink_to(REPO, target_is_directory=True)
    custom_nodes_yaml = run_dir / "custom_nodes.yaml"
    custom_nodes_yaml.write_text(
        yaml.safe_dump({"launchpad_under_test": {"custom_nodes": str(custom_nodes)}}), encoding="utf-8"
    )
    (run_dir / "cwd").mkdir()
    return Setup(run_dir, workspace, custom_nodes, pack_dir, custom_nodes_yaml, comfy_args, options, cli, port)


def same_workspace(setup: Setup, run_dir: Path) -> Setup:
    """A second ComfyUI process on ``setup``'s workspace (as a second pod on one volume): its own
    port, flags, log and working directory in ``run_dir``."""
    (run_dir / "cwd").mkdir(parents=True)
    return on_new_port(setup, run_dir=run_dir)


def on_new_port(setup: Setup, **changes: object) -> Setup:
    """``setup`` on another free port, with the flags `launchpad comfy-args` gives for that port."""
    port = free_port()
    args = generated_args(setup.cli, setup.workspace, port)
    return dataclasses.replace(setup, port=port, comfy_args=args, **changes)  # type: ignore[arg-type]


def generated_args(cli: CliArgv, workspace: Path, port: int) -> list[str]:
    """`launchpad comfy-args` for a ComfyUI on ``port``, its database beside the workspace's run directory."""
    env = {**os.environ, "COMFYUI_DATABASE_DIR": str(workspace.parent / "local")}
    return json.loads(run_cli(cli, "comfy-args", "--workspace", str(workspace), "--port", str(port), "--json", env=env))


def environment(setup: Setup, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment ComfyUI runs with: ours passed through, no secrets, no real Hub."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in SECRETS}
    env.update(
        WORKSPACE_ROOT=str(setup.workspace),
        HF_ENDPOINT=UNREACHABLE,
        CIVITAI_ENDPOINT=UNREACHABLE,
        HF_HOME=str(setup.run_dir / "hf-home"),
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        PYTHONUNBUFFERED="1",
    )
    env.update(setup.options.env)
    return env


def command(install: ComfyUIInstall, setup: Setup, *extra: str) -> list[str]:
    """argv: ComfyUI's main.py with our generated flags, our custom-node root, then ``extra``."""
    return [
        str(install.python),
        str(install.root / "main.py"),
        *setup.comfy_args,
        # a second --extra-model-paths-config adds to the ones above (docs/comfyui-facts.md, Extra model paths)
        "--extra-model-paths-config",
        str(setup.custom_nodes_yaml),
        *BASE_ARGS,
        *extra,
        *setup.options.args,
    ]


# --- what ComfyUI prints --------------------------------------------------------------


@dataclass(frozen=True)
class ImportTime:
    """One line of ComfyUI's "Import times for custom nodes:" block (docs/comfyui-facts.md, Loading)."""

    seconds: float  # as printed: one decimal, so 0.0 means under 0.05 s
    failed: bool
    path: str


_IMPORT_LINE = re.compile(r"^\s*(\d+(?:\.\d+)?) seconds( \(IMPORT FAILED\))?: (.+?)\s*$")


def parse_import_times(log: str, heading: str = "Import times for custom nodes:") -> list[ImportTime]:
    """The entries of the last ``heading`` block in ``log`` (the prestartup block has its own heading)."""
    lines = log.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == heading]
    if not starts:
        return []
    found = []
    for line in lines[starts[-1] + 1 :]:
        match = _IMPORT_LINE.match(line)
        if not match:
            break
        found.append(ImportTime(float(match.group(1)), bool(match.group(2)), match.group(3)))
    return found


# --- HTTP -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> object:
        return json.loads(self.body)


def http(
    url: str,
    method: str = "GET",
    *,
    json_body: object = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> Response:
    """One request; HTTP error statuses are returned, not raised."""
    data = None
    all_headers = dict(headers or {})
    if json_body is not None:
        data = json.dumps(json_body).encode()
        all_headers.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return Response(reply.status, dict(reply.headers), reply.read())
    except urllib.error.HTTPError as exc:
        return Response(exc.code, dict(exc.headers), exc.read())


# --- running it -----------------------------------------------------------------------


# Newer ComfyUI (0.33 and on) colours its log lines and puts "[INFO] " before each: tests read
# the messages themselves, however ComfyUI dresses them.
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_LEVEL = re.compile(r"^\[(?:DEBUG|INFO|WARNING|ERROR|CRITICAL)\] ?", re.MULTILINE)


def plain_log(text: str) -> str:
    """ComfyUI's log without colour codes and level tags: the text a test matches against."""
    return _LEVEL.sub("", _ANSI.sub("", text))


def _read(path: Path) -> str:
    try:
        return plain_log(path.read_text(encoding="utf-8", errors="replace"))
    except FileNotFoundError:
        return ""


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ComfyUI:
    """A running ComfyUI server with this checkout loaded. Stop it with :meth:`stop`."""

    setup: Setup
    process: subprocess.Popen[bytes]
    port: int
    argv: list[str]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """ComfyUI's WebSocket; add ``?clientId=<id>`` to pick the sid (docs/comfyui-facts.md, PromptServer)."""
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def workspace(self) -> Path:
        return self.setup.workspace

    @property
    def pack_dir(self) -> Path:
        return self.setup.pack_dir

    @property
    def log_path(self) -> Path:
        return self.setup.log_path

    def log_text(self) -> str:
        return _read(self.log_path)

    def import_times(self) -> list[ImportTime]:
        return parse_import_times(self.log_text())

    def pack_import(self) -> ImportTime | None:
        """Our line in the import-time block, or None if ComfyUI did not report us."""
        return next((t for t in self.import_times() if t.path == str(self.pack_dir)), None)

    def url(self, path: str) -> str:
        return self.base_url + path

    def request(self, method: str, path: str, **kwargs: object) -> Response:
        return http(self.url(path), method, **kwargs)  # type: ignore[arg-type]

    def get(self, path: str, **kwargs: object) -> Response:
        return self.request("GET", path, **kwargs)

    def wait_for_log(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """Block until ``pattern`` (a regex) appears in the log; the match."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.log_text(), re.MULTILINE)
            if match:
                return match
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} not in ComfyUI's log:\n{_tail(self.log_text())}")
            time.sleep(0.2)

    def stop(self, timeout: float = 15.0) -> int:
        """Terminate ComfyUI (and anything it spawned) if still running; its exit code."""
        return _stop(self.process, timeout)


def _stop(process: subprocess.Popen[bytes], timeout: float) -> int:
    if process.poll() is None:
        # start_new_session made ComfyUI the leader of its own process group
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout)
                break
            except subprocess.TimeoutExpired:
                continue
    return process.wait()


def _popen(argv: Sequence[str], setup: Setup, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    with open(setup.log_path, "wb") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            argv,
            cwd=setup.cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_ready(server: ComfyUI, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ComfyUIStartError(
                f"ComfyUI exited with {server.process.returncode} while starting "
                f"(log: {server.log_path}):\n{_tail(server.log_text())}"
            )
        try:
            if server.get("/system_stats", timeout=2, headers=server.setup.options.ready_headers).status == 200:
                return
        except OSError:  # not listening yet
            pass
        time.sleep(0.25)
    server.stop()
    raise ComfyUIStartError(
        f"ComfyUI did not answer GET /system_stats within {timeout:.0f} s "
        f"(log: {server.log_path}):\n{_tail(server.log_text())}"
    )


def start(install: ComfyUIInstall, setup: Setup, attempts: int = 3) -> ComfyUI:
    """Start ComfyUI on the setup's 127.0.0.1 port and wait until it answers GET /system_stats."""
    env = environment(setup)
    for attempt in range(1, attempts + 1):
        if attempt > 1:  # the port was taken: another one, and the flags that go with it
            setup = on_new_port(setup)
        argv = command(install, setup, "--listen", "127.0.0.1", "--port", str(setup.port))
        server = ComfyUI(setup, _popen(argv, setup, env), setup.port, argv)
        try:
            _wait_ready(server, setup.options.start_timeout)
            return server
        except ComfyUIStartError:
            # another process may have taken the port between free_port() and ComfyUI's bind
            if attempt < attempts and "address already in use" in server.log_text().lower():
                continue
            raise
        except BaseException:  # Ctrl-C: ComfyUI has its own session, so nothing else would stop it
            server.stop()
            raise
    raise AssertionError("unreachable")


@contextmanager
def running(install: ComfyUIInstall, *setups: Setup) -> Iterator[list[ComfyUI]]:
    """One ComfyUI per setup, started in order (two pods on one volume); all stopped on exit."""
    servers: list[ComfyUI] = []
    try:
        for setup in setups:
            servers.append(start(install, setup))
        yield servers
    finally:
        for server in servers:
            server.stop()


@dataclass(frozen=True)
class Finished:
    """A ComfyUI run that ended by itself."""

    returncode: int
    log: str
    argv: list[str]

    def import_times(self) -> list[ImportTime]:
        return parse_import_times(self.log)


def run_once(install: ComfyUIInstall, setup: Setup, *extra: str, timeout: float = 180.0) -> Finished:
    """Run ComfyUI until it exits (e.g. ``--quick-test-for-ci``); killed after ``timeout`` s."""
    argv = command(install, setup, *extra)
    process = _popen(argv, setup, environment(setup))
    try:
        returncode = process.wait(timeout)
    except subprocess.TimeoutExpired:
        _stop(process, 15.0)
        raise AssertionError(f"ComfyUI still running after {timeout:.0f} s:\n{_tail(_read(setup.log_path))}") from None
    except BaseException:
        _stop(process, 15.0)
        raise
    return Finished(returncode, _read(setup.log_path), argv)
