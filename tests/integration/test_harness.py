"""The integration harness itself, without ComfyUI: these run in the ordinary suite."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from aiohttp import web

from conftest import cli_argv

from .real_comfyui import (
    UNREACHABLE,
    ComfyUIInstall,
    LaunchOptions,
    command,
    environment,
    http,
    parse_import_times,
    plain_log,
    prepare,
)
from .thread_server import ThreadServer

# ComfyUI v0.3.64's output around the block (docs/comfyui-facts.md, Loading)
SAMPLE_LOG = """\
Prestartup times for custom nodes:
   0.3 seconds: /c/custom_nodes/ComfyUI-Launchpad

Launchpad 0.1.0 registered its routes under /launchpad/

Import times for custom nodes:
   0.0 seconds: /c/custom_nodes/websocket_image_save.py
   0.0 seconds (IMPORT FAILED): /c/custom_nodes/bad_ext
   0.1 seconds: /tmp/run/custom_nodes/ComfyUI-Launchpad
  12.4 seconds: /c/custom_nodes/slow pack

Starting server
"""


def test_import_times_are_read_from_the_import_block_only() -> None:
    times = parse_import_times(SAMPLE_LOG)
    assert [(t.seconds, t.failed, t.path) for t in times] == [
        (0.0, False, "/c/custom_nodes/websocket_image_save.py"),
        (0.0, True, "/c/custom_nodes/bad_ext"),
        (0.1, False, "/tmp/run/custom_nodes/ComfyUI-Launchpad"),
        (12.4, False, "/c/custom_nodes/slow pack"),
    ]
    assert parse_import_times(SAMPLE_LOG, "Prestartup times for custom nodes:")[0].seconds == 0.3
    assert parse_import_times("Starting server\n") == []


def test_coloured_level_tagged_log_reads_like_the_plain_one() -> None:
    # ComfyUI 0.33.0 prints every line as "<bold><colour>[LEVEL]<reset> message"
    tagged = "".join(
        f"\x1b[32m[INFO]\x1b[0m {line}\n" if line else "\n" for line in SAMPLE_LOG.splitlines()
    ).replace("\x1b[32m[INFO]\x1b[0m Starting", "\x1b[1m\x1b[33m[WARNING]\x1b[0m \x1b[36mStarting")
    assert plain_log(tagged) == SAMPLE_LOG
    assert parse_import_times(plain_log(tagged)) == parse_import_times(SAMPLE_LOG)


def test_install_comes_from_comfyui_dir_and_its_venv(tmp_path: Path) -> None:
    assert ComfyUIInstall.from_env({}) is None
    install = ComfyUIInstall.from_env({"COMFYUI_DIR": str(tmp_path / "ComfyUI")})
    assert install is not None
    assert install.python == tmp_path / "venv" / "bin" / "python"
    assert len(install.problems()) == 2  # no main.py, no python
    chosen = ComfyUIInstall.from_env({"COMFYUI_DIR": str(tmp_path), "COMFYUI_PYTHON": "/usr/bin/python3"})
    assert chosen is not None and chosen.python == Path("/usr/bin/python3")


def test_prepare_uses_our_cli_and_links_this_checkout(tmp_path: Path) -> None:
    setup = prepare(tmp_path, cli_argv)
    assert (setup.workspace / "models" / "checkpoints").is_dir()
    ours = setup.workspace / "config" / "extra_model_paths.yaml"
    assert setup.comfy_args[:2] == ["--extra-model-paths-config", str(ours)]
    assert (setup.pack_dir / "__init__.py").resolve() == (Path(__file__).parents[2] / "__init__.py").resolve()
    assert yaml.safe_load(setup.custom_nodes_yaml.read_text()) == {
        "launchpad_under_test": {"custom_nodes": str(setup.custom_nodes)}
    }


def test_environment_has_no_secrets_and_no_real_hub_unless_a_test_says(tmp_path: Path) -> None:
    options = LaunchOptions(env={"HF_ENDPOINT": "http://127.0.0.1:1234"}, args=["--verbose", "DEBUG"])
    setup = prepare(tmp_path, cli_argv, options)
    env = environment(setup, base={"HF_TOKEN": "hf_secret", "CIVITAI_TOKEN": "x", "PATH": "/bin"})
    assert "HF_TOKEN" not in env and "CIVITAI_TOKEN" not in env
    assert env["PATH"] == "/bin"
    assert env["WORKSPACE_ROOT"] == str(setup.workspace)
    assert env["HF_ENDPOINT"] == "http://127.0.0.1:1234"
    assert env["CIVITAI_ENDPOINT"] == UNREACHABLE
    argv = command(ComfyUIInstall(Path("/c"), Path("/py")), setup, "--port", "1")
    assert argv[:2] == ["/py", "/c/main.py"]
    assert argv[2 : 2 + len(setup.comfy_args)] == setup.comfy_args
    assert argv[-4:] == ["--port", "1", "--verbose", "DEBUG"]


def test_thread_server_is_reachable_from_outside_its_loop() -> None:
    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"path": request.path})

    app = web.Application()
    app.router.add_get("/{tail:.*}", hello)
    with ThreadServer(app) as server:
        reply = http(server.url + "/x/y")
        assert reply.status == 200 and reply.json() == {"path": "/x/y"}
    with pytest.raises(OSError):  # closed: nothing listens there any more
        http(server.url + "/x", timeout=2)


def test_a_missing_requirement_skips_unless_the_run_requires_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import conftest

    monkeypatch.setattr(conftest, "REQUIRED", frozenset())
    with pytest.raises(pytest.skip.Exception, match="no ComfyUI here"):
        conftest.missing("comfyui", "no ComfyUI here")
    monkeypatch.setattr(conftest, "REQUIRED", frozenset({"comfyui", "chromium"}))
    with pytest.raises(pytest.fail.Exception, match=r"no ComfyUI here .*requires comfyui"):
        conftest.missing("comfyui", "no ComfyUI here")
    with pytest.raises(pytest.skip.Exception):
        conftest.missing("docker", "no engine")
