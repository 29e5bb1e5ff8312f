"""`launchpad serve` as a subprocess for tests: a free port, started until ready, stopped on exit."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import cli_argv


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@contextmanager
def serving(
    cwd: Path, *args: str, env: dict[str, str] | None = None, before: tuple[str, ...] = ()
) -> Iterator[str]:
    """`launchpad [before] serve --port P [args]` in ``cwd``, until it is ready; stopped on exit."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if k != "WORKSPACE_ROOT"}
    environment.update(env or {})
    proc = subprocess.Popen(
        cli_argv(*before, "serve", "--port", str(port), *args), cwd=cwd, env=environment,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else "exited"
            try:
                if get_json(f"{base}/launchpad/health")["state"] == "ready":
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert time.monotonic() < deadline, "launchpad serve did not become ready in 60 s"
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout:
            proc.stdout.close()
