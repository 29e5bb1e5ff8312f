"""ComfyUI-Manager's network_mode follows our login: personal_cloud (installs from git and pip on
a pod's public listener) only while ENABLE_AUTH guards the port."""

from __future__ import annotations

import configparser
import json
from pathlib import Path

import pytest

from lp.launchpad import manager_config
from lp.launchpad.cli.main import main


def mode(user: Path) -> str:
    config = configparser.ConfigParser()
    config.read(manager_config.config_path(user))
    return config.get("default", "network_mode")


def test_login_on_switches_the_default_public_mode_to_personal_cloud_and_keeps_other_settings(tmp_path: Path) -> None:
    path = manager_config.config_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("[default]\nnetwork_mode = public\nsecurity_level = normal\nchannel_url = https://x\n")
    said = manager_config.set_network_mode(tmp_path, login=True)
    assert said and "public -> personal_cloud" in said and "ENABLE_AUTH" in said
    assert mode(tmp_path) == "personal_cloud"
    assert "security_level = normal" in path.read_text() and "channel_url = https://x" in path.read_text()
    assert manager_config.set_network_mode(tmp_path, login=True) is None  # already so: untouched


def test_without_the_login_personal_cloud_goes_back_to_public(tmp_path: Path) -> None:
    assert manager_config.set_network_mode(tmp_path, login=False) is None  # no file: the Manager's default
    assert not manager_config.config_path(tmp_path).exists()
    manager_config.set_network_mode(tmp_path, login=True)
    said = manager_config.set_network_mode(tmp_path, login=False)
    assert said and "personal_cloud -> public" in said
    assert mode(tmp_path) == "public"


@pytest.mark.parametrize("chosen", ["private", "offline"])
def test_a_mode_the_user_chose_is_left_alone(tmp_path: Path, chosen: str) -> None:
    path = manager_config.config_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(f"[default]\nnetwork_mode = {chosen}\n")
    for login in (True, False):
        assert manager_config.set_network_mode(tmp_path, login=login) is None
    assert mode(tmp_path) == chosen


def test_paths_with_manager_sets_it_from_enable_auth(
    workspace_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ENABLE_AUTH", "1")
    monkeypatch.setenv("ACCESS_PASSWORD", "a long enough test password")
    assert main(["paths", "--workspace", str(workspace_dir), "--manager", "--json"]) == 0
    assert "personal_cloud" in json.loads(capsys.readouterr().out)["manager"]
    assert mode(workspace_dir / "user") == "personal_cloud"
    monkeypatch.setenv("ENABLE_AUTH", "0")
    monkeypatch.delenv("ACCESS_PASSWORD")
    assert main(["paths", "--workspace", str(workspace_dir), "--manager"]) == 0
    assert "personal_cloud -> public" in capsys.readouterr().out
    assert mode(workspace_dir / "user") == "public"
    assert main(["paths", "--workspace", str(workspace_dir)]) == 0  # without --manager: not touched
