"""Fixtures that run a real ComfyUI with this checkout loaded (see README.md beside this file).

Without COMFYUI_DIR every test that uses them is skipped with the reason below. With it set
but wrong (no main.py, no Python), they error: a broken setup must not look like a pass.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import cli_argv, missing

from .real_comfyui import ComfyUI, ComfyUIInstall, LaunchOptions, Setup, prepare, start

SKIP_REASON = (
    "COMFYUI_DIR is not set: integration tests need a real ComfyUI, "
    "e.g. COMFYUI_DIR=/path/to/ComfyUI python -m pytest tests/integration -m integration"
)


@pytest.fixture(scope="session")
def comfyui_install() -> ComfyUIInstall:
    """The ComfyUI named by COMFYUI_DIR (and COMFYUI_PYTHON); skips the test when unset."""
    install = ComfyUIInstall.from_env()
    if install is None:
        missing("comfyui", SKIP_REASON)
    problems = install.problems()
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)
    return install


@pytest.fixture(scope="module")
def comfyui_options() -> LaunchOptions:
    """How this module's ComfyUI starts. Override it in a test module to add env, flags or files:

    @pytest.fixture(scope="module")
    def comfyui_options(fake_hub):
        return LaunchOptions(env={"HF_ENDPOINT": fake_hub.url}, prepare=put_presets)
    """
    return LaunchOptions()


@pytest.fixture(scope="module")
def comfyui_setup(
    comfyui_install: ComfyUIInstall, comfyui_options: LaunchOptions, tmp_path_factory: pytest.TempPathFactory
) -> Setup:
    """The prepared run directory (workspace via our CLI, pack linked in), not yet started."""
    return prepare(tmp_path_factory.mktemp("comfyui"), cli_argv, comfyui_options)


@pytest.fixture(scope="module")
def comfyui(comfyui_install: ComfyUIInstall, comfyui_setup: Setup) -> Iterator[ComfyUI]:
    """ComfyUI serving on 127.0.0.1, started once per test module and stopped after it."""
    server = start(comfyui_install, comfyui_setup)
    yield server
    server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On failure, attach the end of ComfyUI's log to the report: the cause is usually there."""
    outcome = yield
    report = outcome.get_result()
    server = getattr(item, "funcargs", {}).get("comfyui")
    if report.failed and isinstance(server, ComfyUI):
        tail = "\n".join(server.log_text().splitlines()[-80:])
        report.sections.append(("ComfyUI log (last 80 lines)", f"{server.log_path}\n{tail}"))
