"""ComfyUI-Manager as the pip package that ComfyUI 0.33 and on load with --enable-manager, next to
our login (ENABLE_AUTH): its own refusals still hold, because our middleware runs first and hands
it the real handlers.

- On a non-loopback listener (as on a pod) a git-URL install is refused without the Manager's
  network_mode=personal_cloud, even for a logged-in user with the install flag switched on.
- The Manager's per-handler policy (its legacy UI on a loopback listener, once two clients
  have connected) finds the install handler: with our middleware after the Manager's, it got our
  wrapper instead and silently allowed the request.

Skipped where the ComfyUI has no --enable-manager or its venv has no comfyui_manager package
(v0.3.64 loads the Manager from custom_nodes/ instead).
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path

import pytest
from security_support import PASSWORD, TOKEN

from conftest import cli_argv

from .real_comfyui import ComfyUI, ComfyUIInstall, LaunchOptions, prepare, start

pytestmark = pytest.mark.integration

AUTH = {"ENABLE_AUTH": "1", "ACCESS_PASSWORD": PASSWORD, "LAUNCHPAD_API_TOKENS": TOKEN}
BEARER = {"Authorization": f"Bearer {TOKEN}"}
GIT_URL = "https://example.invalid/someone/some-node.git"
BANNED = "[Manager] This request is banned."


def manager_config(**values: str) -> str:
    lines = "".join(f"{key} = {value}\n" for key, value in values.items())
    return f"[default]\n{lines}"


@pytest.fixture(scope="module")
def with_manager(comfyui_install: ComfyUIInstall) -> ComfyUIInstall:
    if not comfyui_install.supports("--enable-manager"):
        pytest.skip("this ComfyUI has no --enable-manager (it loads ComfyUI-Manager from custom_nodes/)")
    if not comfyui_install.has_module("comfyui_manager"):
        pytest.skip(f"no comfyui_manager in {comfyui_install.python} (pip install -r manager_requirements.txt)")
    return comfyui_install


def manager_comfyui(install: ComfyUIInstall, run_dir: Path, config: str, *args: str) -> ComfyUI:
    def put_config(workspace: Path) -> None:
        (workspace / "user" / "__manager").mkdir(parents=True)
        (workspace / "user" / "__manager" / "config.ini").write_text(config)

    options = LaunchOptions(env=AUTH, args=["--enable-manager", *args], prepare=put_config, ready_headers=BEARER)
    return start(install, prepare(run_dir, cli_argv, options))


def post(
    server: ComfyUI, path: str, body: str | None, source: str = "127.0.0.1", method: str = "POST"
) -> tuple[int, str]:
    """A logged-in request from the loopback address ``source`` (a second address is a second client)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30, source_address=(source, 0))
    try:
        connection.request(method, path, body=body, headers={**BEARER, "Content-Type": "text/plain"})
        reply = connection.getresponse()
        return reply.status, reply.read().decode("utf-8", "replace")
    finally:
        connection.close()


@pytest.fixture(scope="module", params=["public", "personal_cloud"])
def on_all_interfaces(
    request: pytest.FixtureRequest, with_manager: ComfyUIInstall, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ComfyUI]:
    config = manager_config(network_mode=request.param, allow_git_url_install="True", allow_pip_install="True")
    # the harness listens on 127.0.0.1; this flag comes later and wins: ComfyUI binds every interface
    # the legacy UI has the direct git-URL and pip install routes (the new one queues installs)
    server = manager_comfyui(
        with_manager, tmp_path_factory.mktemp("manager-public"), config,
        "--enable-manager-legacy-ui", "--listen", "0.0.0.0",
    )
    yield server
    server.stop()


def test_a_git_url_install_on_a_public_listener_needs_personal_cloud_even_when_logged_in(
    on_all_interfaces: ComfyUI,
) -> None:
    assert "0.0.0.0" in on_all_interfaces.argv
    anonymous = on_all_interfaces.request(
        "POST", "/api/v2/customnode/install/git_url", headers={"Content-Type": "text/plain"}
    )
    assert anonymous.status == 401  # our login comes first
    status, _ = post(on_all_interfaces, "/api/v2/customnode/install/git_url", GIT_URL)
    if "network_mode = public" in (on_all_interfaces.workspace / "user" / "__manager" / "config.ini").read_text():
        assert status == 403, "the Manager let a git-URL install through on 0.0.0.0"
        assert post(on_all_interfaces, "/api/v2/customnode/install/pip", "some-package")[0] == 403
    else:  # personal_cloud: the Manager tries the clone (example.invalid does not resolve)
        assert status == 400
    assert "some-node" not in {p.name for p in (on_all_interfaces.workspace / "custom_nodes").glob("*")}


@pytest.fixture(scope="module")
def legacy_ui(with_manager: ComfyUIInstall, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComfyUI]:
    server = manager_comfyui(
        with_manager, tmp_path_factory.mktemp("manager-legacy"), manager_config(network_mode="public"),
        "--enable-manager-legacy-ui",
    )
    yield server
    server.stop()


def test_the_managers_policy_finds_its_handler_behind_our_login(legacy_ui: ComfyUI) -> None:
    # two clients on a loopback listener: the Manager bans a git-URL install unless personal_cloud,
    # by looking the handler up in its policy table
    assert post(legacy_ui, "/api/system_stats", None, source="127.0.0.1", method="GET")[0] == 200
    status, text = post(legacy_ui, "/api/v2/customnode/install/git_url", GIT_URL, source="127.0.0.2")
    assert (status, text) == (403, BANNED)
