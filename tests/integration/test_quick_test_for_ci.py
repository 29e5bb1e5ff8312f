"""ComfyUI's own acceptance of our generated extra_model_paths.yaml and flags.

`main.py --quick-test-for-ci` loads the yaml files, imports every node pack, sets up the routes
and exits 0; a yaml its loader cannot read makes it exit 1 (docs/comfyui-facts.md, Extra model paths and Testing).
The negative control runs the very same command with the seed's nested `model_paths:` file in
place of ours and must exit 1, so these tests would notice our generator regressing to it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import cli_argv

from .real_comfyui import ComfyUIInstall, Finished, LaunchOptions, Setup, prepare, run_once

pytestmark = pytest.mark.integration

QUICK_TEST = "--quick-test-for-ci"

# The seed document's layout (its section 3.1) minus its stray commas, which would fail even
# earlier as a YAML syntax error: a section holding a nested mapping ComfyUI cannot read.
SEED_STYLE = """\
ComfyUI:
  base_path: {workspace}
  model_paths:
    checkpoints: {workspace}/models/checkpoints
    lora: {workspace}/models/loras
    vae: {workspace}/models/vae
"""

USER_EXTRA = """\
my_models:
  checkpoints: {dir}
"""


def quick_test(install: ComfyUIInstall, setup: Setup) -> Finished:
    return run_once(install, setup, QUICK_TEST)


def describe(run: Finished) -> str:
    tail = "\n".join(run.log.splitlines()[-40:])
    return f"exit {run.returncode}, argv {run.argv}\n{tail}"


def pack_loaded(run: Finished, setup: Setup) -> bool:
    return any(t.path == str(setup.pack_dir) and not t.failed for t in run.import_times())


def test_comfyui_accepts_our_generated_yaml_and_flags(comfyui_install: ComfyUIInstall, tmp_path: Path) -> None:
    setup = prepare(tmp_path, cli_argv)
    run = quick_test(comfyui_install, setup)
    assert run.returncode == 0, describe(run)
    ours = setup.workspace / "config" / "extra_model_paths.yaml"
    assert str(ours) in run.argv
    assert f"Adding extra search path checkpoints {setup.workspace / 'models' / 'checkpoints'}" in run.log
    assert pack_loaded(run, setup), describe(run)


def test_comfyui_rejects_the_seed_style_nested_yaml(comfyui_install: ComfyUIInstall, tmp_path: Path) -> None:
    setup = prepare(tmp_path, cli_argv)
    ours = setup.workspace / "config" / "extra_model_paths.yaml"
    ours.write_text(SEED_STYLE.format(workspace=setup.workspace), encoding="utf-8")
    run = quick_test(comfyui_install, setup)
    assert run.returncode == 1, describe(run)
    assert "'dict' object has no attribute 'split'" in run.log, describe(run)


def test_users_own_extra_file_is_passed_and_a_broken_one_is_not(
    comfyui_install: ComfyUIInstall, tmp_path: Path
) -> None:
    def user_files(workspace: Path) -> None:
        (workspace / "config").mkdir()
        (workspace / "config" / "extra_model_paths.user.yaml").write_text(
            USER_EXTRA.format(dir=workspace / "elsewhere"), encoding="utf-8"
        )
        (workspace / "config" / "extra_model_paths.seed.yaml").write_text(
            SEED_STYLE.format(workspace=workspace), encoding="utf-8"
        )

    setup = prepare(tmp_path, cli_argv, LaunchOptions(prepare=user_files))
    assert str(setup.workspace / "config" / "extra_model_paths.user.yaml") in setup.comfy_args
    assert str(setup.workspace / "config" / "extra_model_paths.seed.yaml") not in setup.comfy_args
    run = quick_test(comfyui_install, setup)
    assert run.returncode == 0, describe(run)
    assert f"Adding extra search path checkpoints {setup.workspace / 'elsewhere'}" in run.log
    assert pack_loaded(run, setup), describe(run)
