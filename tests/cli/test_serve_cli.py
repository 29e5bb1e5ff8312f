"""`launchpad serve` as a person runs it: a subprocess on a free port, its defaults, its log file."""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from serving import free_port, get_json, serving

from conftest import cli_argv


def test_serve_defaults_to_a_local_workspace(tmp_path: Path) -> None:
    with serving(tmp_path) as base:
        health = get_json(f"{base}/launchpad/health")
        assert health["mode"] == "standalone" and health["workspace"] == str(tmp_path / "workspace")
        assert get_json(f"{base}/api/launchpad/health")["workspace"] == str(tmp_path / "workspace")
        with urllib.request.urlopen(f"{base}/", timeout=5) as response:
            assert b"Launchpad" in response.read()
    assert (tmp_path / "workspace" / "models" / "checkpoints").is_dir()
    assert "Launchpad" in (tmp_path / "workspace" / "logs" / "launchpad.log").read_text()


def test_serve_takes_workspace_from_the_option_or_the_environment(tmp_path: Path) -> None:
    with serving(tmp_path, "--workspace", str(tmp_path / "chosen")) as base:
        assert get_json(f"{base}/launchpad/health")["workspace"] == str(tmp_path / "chosen")
    with serving(tmp_path, before=("--workspace", str(tmp_path / "given-first"))) as base:
        assert get_json(f"{base}/launchpad/health")["workspace"] == str(tmp_path / "given-first")
    with serving(tmp_path, env={"WORKSPACE_ROOT": str(tmp_path / "from-env")}) as base:
        assert get_json(f"{base}/launchpad/health")["workspace"] == str(tmp_path / "from-env")


async def test_serve_stops_promptly_while_a_dashboard_tab_is_connected(tmp_path: Path) -> None:
    """An open WebSocket must not hold the shutdown for aiohttp's 60 s graceful timeout."""
    import asyncio

    import aiohttp

    port = free_port()
    proc = subprocess.Popen(cli_argv("serve", "--port", str(port), "--workspace", str(tmp_path / "ws")),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(600):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/launchpad/health") as reply:
                        if (await reply.json())["state"] == "ready":
                            break
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.1)
            async with session.ws_connect(f"http://127.0.0.1:{port}/ws") as ws:
                assert (await ws.receive_json())["type"] == "status"
                proc.terminate()
                code = await asyncio.to_thread(proc.wait, 15)  # would raise TimeoutExpired while the socket held it
        assert code == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
