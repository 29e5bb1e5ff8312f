"""The stage for browser tests: a fake Hub with model files, a workspace whose user presets
point at them, and `launchpad serve` running on it as a subprocess (the real CLI, on a free
127.0.0.1 port). Also usable by hand to look at the dashboard::

    python tests/browser/stage.py      # prints the URL; Ctrl-C stops it
"""

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
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUPPORT = HERE.parent / "support"
if str(SUPPORT) not in sys.path:  # run as a script
    sys.path.insert(0, str(SUPPORT))

from fakehub import FakeHub, random_bytes  # noqa: E402

MB = 1_000_000
SMALL_RATE = 1_500_000  # bytes/s: the small install takes about two seconds, so progress is seen rising
SLOW_RATE = 100_000  # the slow one would take minutes: there is time to look at it and cancel it
PADDING = 300  # synthetic presets, so the list is as long as a real catalog


@dataclass(frozen=True)
class ModelSpec:
    folder: str
    name: str
    repo: str
    path: str
    size: int


SMALL = (
    ModelSpec("checkpoints", "browser/small.safetensors", "acme/small", "small.safetensors", 3 * MB),
    ModelSpec("loras", "browser-small-lora.safetensors", "acme/small", "lora.safetensors", MB),
)
SLOW = ModelSpec("diffusion_models", "browser-slow.safetensors", "acme/slow", "slow.safetensors", 20 * MB)
GATED = ModelSpec("text_encoders", "browser-gated.safetensors", "acme/gated", "gated.safetensors", MB // 2)
OWNED = ModelSpec("vae", "browser-owned-vae.safetensors", "acme/owned", "vae.safetensors", 200_000)


def _file_entry(spec: ModelSpec) -> dict[str, object]:
    return {"folder": spec.folder, "name": spec.name, "hf": spec.repo, "path": spec.path, "size": spec.size}


def padding_presets(count: int) -> list[dict[str, object]]:
    """Synthetic presets that only make the catalog long (their URLs are never fetched)."""
    presets = []
    for i in range(count):
        name = f"padding/pad-{i:03d}.safetensors"
        presets.append({
            "id": f"pad-{i:03d}", "name": f"Padding preset {i}", "category": ("image", "video", "upscale")[i % 3],
            "description": "A synthetic preset that only makes the catalog long.", "tags": ["padding"],
            "min_vram_gb": 8 + i % 40,
            "files": [{"folder": "checkpoints", "name": name, "url": f"https://example.invalid/{name}",
                       "size": (i + 1) * 10 * MB}],
        })
    return presets


def presets_yaml() -> str:
    presets = [
        {"id": "bt-small", "name": "Browser small pair", "category": "image", "min_vram_gb": 6,
         "description": "A checkpoint and a LoRA served by the fake Hub at a steady pace.",
         "tags": ["browser", "test"], "files": [_file_entry(s) for s in SMALL]},
        {"id": "bt-slow", "name": "Browser slow video model", "category": "video", "min_vram_gb": 24,
         "description": "One large file that downloads slowly, to watch and to cancel.",
         "tags": ["browser", "test"], "files": [_file_entry(SLOW)]},
        {"id": "bt-gated", "name": "Browser gated encoder", "category": "audio",
         "description": "Its repository is gated on the Hub: installing it must explain what to do.",
         "tags": ["browser", "test", "gated"], "files": [_file_entry(GATED)]},
        {"id": "bt-owned", "name": "Browser installed VAE", "category": "image",
         "description": "Installed before the server starts.", "tags": ["browser", "test"],
         "files": [_file_entry(OWNED)]},
    ]
    presets.extend(padding_presets(PADDING))
    # JSON is YAML: no quoting rules to get wrong
    return json.dumps({"schema": 1, "presets": presets}, indent=1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(url: str, method: str = "GET", body: object = None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            raw = reply.read()
            return reply.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@dataclass
class Stage:
    root: Path
    cli: list[str]  # argv prefix that runs this checkout's CLI
    hub: FakeHub = field(default_factory=FakeHub)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. ENABLE_AUTH for the login tests

    @property
    def workspace(self) -> Path:
        return self.root / "workspace"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def model_path(self, spec: ModelSpec) -> Path:
        return self.workspace / "models" / spec.folder / spec.name

    def prepare(self) -> Stage:
        self.hub.start()
        for spec in (*SMALL, SLOW, OWNED):
            self.hub.add_hf_file(spec.repo, spec.path, random_bytes(spec.size))
        self.hub.add_hf_file(GATED.repo, GATED.path, random_bytes(GATED.size), gated=True)
        for spec in SMALL:
            self.hub.behave(f"{spec.repo}/{spec.path}", rate=SMALL_RATE)
        self.hub.behave(f"{SLOW.repo}/{SLOW.path}", rate=SLOW_RATE)
        presets = self.workspace / "config" / "presets"
        presets.mkdir(parents=True)
        (presets / "browser.yaml").write_text(presets_yaml(), encoding="utf-8")
        owned = self.model_path(OWNED)
        owned.parent.mkdir(parents=True)
        owned.write_bytes(random_bytes(OWNED.size))
        (self.root / "no-templates").mkdir()
        return self

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "CIVITAI_TOKEN")}
        env.update(
            HF_ENDPOINT=self.hub.url,
            CIVITAI_ENDPOINT=self.hub.url,
            HF_HOME=str(self.root / "hf-home"),
            HF_HUB_DISABLE_XET="1",
            HF_HUB_DISABLE_TELEMETRY="1",
            LAUNCHPAD_TEMPLATES_DIR=str(self.root / "no-templates"),  # the same catalog whatever is installed
            DOWNLOAD_FREE_SPACE_MARGIN="0",
            DOWNLOAD_RETRY_BACKOFF="0.05",
            PYTHONUNBUFFERED="1",
        )
        env.pop("WORKSPACE_ROOT", None)
        env.update(self.extra_env)
        return env

    def start(self, port: int | None = None, timeout: float = 60.0) -> Stage:
        self.port = port or free_port()
        log = open(self.root / "serve.log", "ab")  # noqa: SIM115 - the child keeps it
        argv = [*self.cli, "serve", "--workspace", str(self.workspace), "--port", str(self.port)]
        self.process = subprocess.Popen(argv, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"launchpad serve exited with {self.process.returncode}:\n{self.log()}")
            try:
                status, body = http(self.url + "launchpad/health")
                if status == 200 and isinstance(body, dict) and body.get("state") == "ready":
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"launchpad serve did not become ready in {timeout:.0f} s:\n{self.log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def close(self) -> None:
        self.stop()
        self.hub.stop()

    def log(self) -> str:
        try:
            return (self.root / "serve.log").read_text(errors="replace")[-6000:]
        except OSError:
            return ""

    def api(self, path: str, method: str = "GET", body: object = None) -> tuple[int, object]:
        return http(self.url + path.lstrip("/"), method, body)


if __name__ == "__main__":
    import tempfile

    from conftest import cli_argv

    stage = Stage(Path(tempfile.mkdtemp(prefix="launchpad-stage-")), cli_argv()).prepare()
    stage.start(int(sys.argv[1]) if len(sys.argv) > 1 else None)
    print(f"Launchpad on {stage.url} (workspace {stage.workspace}); Ctrl-C stops it", flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        stage.close()
