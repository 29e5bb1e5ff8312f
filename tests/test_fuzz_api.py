"""schemathesis against /launchpad/openapi.json on the standalone server: valid and invalid
requests generated for every operation. No answer may be a 5xx, and no file outside the model
roots (and Launchpad's own state) may appear, change or vanish.

Bounded so CI stays fast: a fixed number of examples per operation, derandomized (the same
requests on every run), no example database.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from aiohttp import web
from apiclient import file_tree, write_presets
from security_support import PRESETS, auth_settings

from lp.launchpad.service import LaunchpadService
from lp.server_routes.standalone import create_app

EXAMPLES = int(os.environ.get("LAUNCHPAD_FUZZ_EXAMPLES", "20"))  # per operation and mode
# where Launchpad may write: model roots, and its own state, logs and cache
MAY_CHANGE = ("workspace/models/", "workspace/.launchpad/", "workspace/logs/", "workspace/cache/")


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


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    write_presets(workspace, PRESETS)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.safetensors").write_bytes(b"k" * 16)
    checkpoints = workspace / "models" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "present.safetensors").write_bytes(b"p" * 16)
    os.symlink(outside / "keep.safetensors", checkpoints / "link.safetensors")
    (workspace / "output").mkdir()
    (workspace / "output" / "image.png").write_bytes(b"png")
    service = LaunchpadService(auth_settings(workspace, tmp_path, enable_auth=False))
    with ServerThread(create_app(service)) as running:
        base = f"http://127.0.0.1:{running.port}"
        for _ in range(500):  # the service loads its catalog in the background
            if requests.get(f"{base}/launchpad/health", timeout=10).json()["state"] != "starting":
                break
            threading.Event().wait(0.01)
        yield base, tmp_path


def test_fuzz_the_api(server: tuple[str, Path]) -> None:
    base, root = server
    document = requests.get(f"{base}/launchpad/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    before = outside_model_roots(root)
    failures: list[str] = []
    calls = 0
    modes = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in modes:

            @hypothesis.settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(hypothesis.HealthCheck),
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            )
            @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Any) -> None:
                nonlocal calls
                calls += 1
                response = case.call(base_url=base, timeout=30)
                if response.status_code >= 500:
                    failures.append(f"{response.status_code} {case.as_curl_command()}: {response.text[:300]}")

            try:
                run()
            except hypothesis.errors.Unsatisfiable:
                # nothing to make invalid (an operation without parameters or body)
                assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
    print(f"fuzz: {calls} requests")
    assert calls > 0
    assert failures == [], "\n".join(failures[:20])
    assert outside_model_roots(root) == before
    assert (root / "outside" / "keep.safetensors").read_bytes() == b"k" * 16
