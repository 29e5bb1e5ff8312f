"""Two ComfyUI processes with our flags on one workspace, as two pods on one network volume:
both start and serve Launchpad, with ComfyUI's assets database switched on where it exists
(0.33 and on lock it for as long as they run; from 0.38 it is on by default)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import cli_argv

from .real_comfyui import ComfyUI, ComfyUIInstall, LaunchOptions, prepare, running, same_workspace

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pair(comfyui_install: ComfyUIInstall, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ComfyUI]]:
    args = ["--enable-assets"] if comfyui_install.supports("--enable-assets") else []
    first = prepare(tmp_path_factory.mktemp("pod-a"), cli_argv, LaunchOptions(args=args))
    second = same_workspace(first, tmp_path_factory.mktemp("pod-b"))
    with running(comfyui_install, first, second) as servers:
        yield servers


def test_both_start_serve_launchpad_and_see_the_volumes_models(pair: list[ComfyUI]) -> None:
    a, b = pair
    assert a.workspace == b.workspace and a.port != b.port
    (a.workspace / "models" / "checkpoints" / "shared.safetensors").write_bytes(b"\0" * 16)
    for server in pair:
        assert server.process.poll() is None, server.log_text()[-2000:]
        assert "Could not acquire lock" not in server.log_text()
        health = server.get("/launchpad/health")
        assert health.status == 200 and health.json()["status"] == "ok", health.text  # type: ignore[index]
        assert "shared.safetensors" in server.get("/models/checkpoints").json()  # type: ignore[operator]


def test_each_keeps_its_database_off_the_volume(pair: list[ComfyUI]) -> None:
    databases = [server.setup.comfy_args[server.setup.comfy_args.index("--database-url") + 1] for server in pair]
    assert databases[0] != databases[1]
    for url in databases:
        path = Path(url.removeprefix("sqlite:///"))
        assert not path.is_relative_to(pair[0].workspace)
    assert not list(pair[0].workspace.rglob("*.db"))
