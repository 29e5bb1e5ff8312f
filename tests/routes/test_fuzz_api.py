"""schemathesis against /launchpad/openapi.json on the standalone server, with auth off and on:
every check schemathesis has (server errors, status codes, content types, response schemas,
headers, positive data accepted, negative data rejected, undeclared methods answered 405 with
Allow, auth not ignored, ...) over all its phases: the coverage phase, fuzzing, and the
stateful phase, which follows the document's OpenAPI links (a listing's ids into the
operations that take them). No file outside the model roots (and Launchpad's own state) may
appear, change or vanish, and the symlink to a file outside stays untouched.

It runs the schemathesis CLI as a user would (``st run``), against a real server on 127.0.0.1
in this process. Bounded so CI stays fast: :data:`EXAMPLES` per operation (at least 50), a
fixed seed, one worker, no example database. Sources point at a dead local port, so nothing
a fuzzed install queues ever reaches the internet; custom URLs are on, to 127.0.0.1 only, and
the address check refuses every one of them.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from aiohttp import web
from apiclient import file_tree, write_presets
from security_support import PRESETS, TOKEN, auth_settings

from lp.launchpad.service import LaunchpadService
from lp.server_routes.standalone import create_app

EXAMPLES = max(50, int(os.environ.get("LAUNCHPAD_FUZZ_EXAMPLES", "50")))  # per operation
SEED = 15
# where Launchpad may write: model roots, and its own state, logs and cache
MAY_CHANGE = ("workspace/models/", "workspace/.launchpad/", "workspace/logs/", "workspace/cache/")
DEAD = "http://127.0.0.1:9"  # the discard port: nothing listens, a download fails at once


class ServerThread:
    """The standalone app on 127.0.0.1, on its own loop in a thread (schemathesis calls are blocking)."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fuzz-server", daemon=True)
        self._runner: web.AppRunner | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._runner = web.AppRunner(self.app, access_log=None)
        self.loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = self._runner.addresses[0][1]
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self._runner.cleanup())
        self.loop.close()

    def __enter__(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the fuzz server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)


def outside_model_roots(root: Path) -> dict[str, int]:
    return {path: size for path, size in file_tree(root).items() if not path.startswith(MAY_CHANGE)}


@pytest.fixture(params=["auth-off", "auth-on"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path, bool]]:
    auth = request.param == "auth-on"
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    write_presets(workspace, PRESETS)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.safetensors").write_bytes(b"k" * 16)
    checkpoints = workspace / "models" / "checkpoints"
    checkpoints.mkdir(parents=True)
    for name in ("present", "second", "third"):  # for the stateful phase to list and delete
        (checkpoints / f"{name}.safetensors").write_bytes(b"p" * 16)
    os.symlink(outside / "keep.safetensors", checkpoints / "link.safetensors")
    (workspace / "output").mkdir()
    (workspace / "output" / "image.png").write_bytes(b"png")
    settings = auth_settings(
        workspace, tmp_path, enable_auth=auth, hf_endpoint=DEAD, civitai_endpoint=DEAD, retries=0,
        allow_custom_urls=True, allowed_url_hosts=("127.0.0.1",),
    )
    with ServerThread(create_app(LaunchpadService(settings))) as running:
        base = f"http://127.0.0.1:{running.port}"
        for _ in range(500):  # the service loads its catalog in the background
            if requests.get(f"{base}/launchpad/health", timeout=10).json()["state"] != "starting":
                break
            threading.Event().wait(0.01)
        yield base, tmp_path, auth


def test_fuzz_the_api(server: tuple[str, Path, bool], tmp_path_factory: pytest.TempPathFactory) -> None:
    base, root, auth = server
    before = outside_model_roots(root)
    command = [
        sys.executable, "-c", "from schemathesis.cli import schemathesis; schemathesis()", "run",
        f"{base}/launchpad/openapi.json", "--url", base, "--checks", "all", "--max-examples", str(EXAMPLES),
        "--seed", str(SEED), "--workers", "1", "--generation-database", "none", "--request-timeout", "30",
        "--no-color", "--max-failures", "20",
    ]
    if auth:  # the token never leaves this machine; schemathesis masks it in its output
        command += ["--header", f"Authorization: Bearer {TOKEN}"]
    started = time.monotonic()
    workdir = tmp_path_factory.mktemp("schemathesis")  # its caches stay out of the tree we compare
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "NO_COLOR": "1"})
    took = time.monotonic() - started
    summary = result.stdout[result.stdout.rfind("SUMMARY"):]
    print(f"fuzz ({'auth on' if auth else 'auth off'}): {took:.0f} s\n{summary}")
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-3000:]
    assert " passed" in summary and "Stateful" in summary
    assert outside_model_roots(root) == before
    assert (root / "outside" / "keep.safetensors").read_bytes() == b"k" * 16
