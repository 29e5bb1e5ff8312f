"""Settings fail closed (issue 15, finding 1 and 7): every value is parsed strictly, and a bad one
stops the CLI, the pack (locking ComfyUI when a login may have been meant) and the image's start
script, with a message naming the variable, the value and what is accepted."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from typing import Any

import pytest
from security_support import PASSWORD, TOKEN
from test_security_gate import load_into

from conftest import cli_argv
from lp.launchpad.config import Settings, auth_requested
from lp.launchpad.errors import InvalidSetting


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"ENABLE_AUTH": "enabled", "ACCESS_PASSWORD": PASSWORD}, ["ENABLE_AUTH='enabled'", "1, true, yes or on"]),
        ({"ENABLE_AUTH": "ture"}, ["ENABLE_AUTH='ture'"]),
        ({"ALLOW_CUSTOM_URLS": "sure"}, ["ALLOW_CUSTOM_URLS='sure'"]),
        ({"DOWNLOAD_STALL_TIMEOUT": "nan"}, ["DOWNLOAD_STALL_TIMEOUT='nan'", "1 to 3600"]),
        ({"DOWNLOAD_STALL_TIMEOUT": "inf"}, ["DOWNLOAD_STALL_TIMEOUT='inf'"]),
        ({"DOWNLOAD_RETRIES": str(10**20)}, ["DOWNLOAD_RETRIES=", "0 to 100"]),
        ({"DOWNLOAD_LOCK_TTL": "0.0001"}, ["DOWNLOAD_LOCK_TTL='0.0001'", "5 to"]),
        ({"DOWNLOAD_RETRY_BACKOFF": "-1"}, ["DOWNLOAD_RETRY_BACKOFF='-1'"]),
        ({"LAUNCHPAD_SESSION_TTL": "1e400"}, ["LAUNCHPAD_SESSION_TTL="]),
        ({"CONCURRENT_DOWNLOADS": "0"}, ["CONCURRENT_DOWNLOADS='0'"]),
        ({"COMFYUI_PORT": "70000"}, ["COMFYUI_PORT='70000'", "65535"]),
        ({"MAX_DOWNLOAD_SIZE": "9" * 400}, ["MAX_DOWNLOAD_SIZE="]),
        ({"MAX_DOWNLOAD_SIZE": "0"}, ["MAX_DOWNLOAD_SIZE='0'"]),
        ({"DOWNLOAD_SEGMENT_SIZE": "1"}, ["DOWNLOAD_SEGMENT_SIZE='1'"]),
        ({"ALLOWED_URL_HOSTS": ",,,"}, ["ALLOWED_URL_HOSTS=',,,'", "empty entry"]),
        ({"ALLOWED_URL_HOSTS": "https://huggingface.co"}, ["ALLOWED_URL_HOSTS", "not a host name"]),
        ({"ALLOWED_HOSTS": "a.example,,b.example"}, ["ALLOWED_HOSTS", "empty entry"]),
        ({"TRUSTED_PROXIES": "the proxy"}, ["TRUSTED_PROXIES", "'the proxy'"]),
        ({"ALLOW_PRIVATE_URL_ADDRESSES": "10.0.0.0/33"}, ["ALLOW_PRIVATE_URL_ADDRESSES"]),
        ({"LAUNCHPAD_ALLOWED_ORIGINS": "evil"}, ["LAUNCHPAD_ALLOWED_ORIGINS", "'evil'"]),
        ({"PRESET_DOWNLOAD": "A,,B"}, ["PRESET_DOWNLOAD"]),
        ({"LOG_LEVEL": "LOUD"}, ["LOG_LEVEL='LOUD'", "DEBUG"]),
        ({"HF_ENDPOINT": "huggingface.co"}, ["HF_ENDPOINT='huggingface.co'"]),
    ],
)
def test_a_bad_value_is_refused_by_name(env: dict[str, str], words: list[str]) -> None:
    with pytest.raises(InvalidSetting) as refused:
        Settings.from_env(env)
    for word in words:
        assert word in refused.value.message


def test_a_bad_token_list_is_refused_without_showing_the_tokens() -> None:
    with pytest.raises(InvalidSetting) as refused:
        Settings.from_env({"LAUNCHPAD_API_TOKENS": f"{TOKEN},,"})
    assert "LAUNCHPAD_API_TOKENS" in refused.value.message and TOKEN not in refused.value.message


@pytest.mark.parametrize(
    ("env", "enabled"),
    [
        ({}, False),
        ({"ENABLE_AUTH": ""}, False),
        ({"ENABLE_AUTH": "off"}, False),
        ({"ENABLE_AUTH": " Yes "}, True),
        ({"ENABLE_AUTH": "1"}, True),  # on without a credential: locked shut (503), never open
        ({"ACCESS_PASSWORD": PASSWORD}, True),  # a password is never ignored: it turns the login on
        ({"LAUNCHPAD_API_TOKENS": TOKEN}, True),
    ],
)
def test_what_turns_the_login_on(env: dict[str, str], enabled: bool) -> None:
    assert Settings.from_env(env).enable_auth is enabled
    assert auth_requested(env) is enabled


def test_a_credential_with_the_login_switched_off_is_a_contradiction() -> None:
    env = {"ENABLE_AUTH": "0", "ACCESS_PASSWORD": PASSWORD}
    with pytest.raises(InvalidSetting) as refused:
        Settings.from_env(env)
    assert "ENABLE_AUTH=1" in refused.value.message and PASSWORD not in refused.value.message
    assert auth_requested(env) is True  # fail closed


@pytest.mark.parametrize("value", ["enabled", "ture", "2"])
def test_an_unreadable_enable_auth_counts_as_asked_for(value: str) -> None:
    assert auth_requested({"ENABLE_AUTH": value}) is True


@pytest.mark.parametrize("env", [{"ENABLE_AUTH": "enabled"}, {"ENABLE_AUTH": "no", "ACCESS_PASSWORD": PASSWORD}])
async def test_comfyui_is_locked_when_the_login_switch_cannot_be_read(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aiohttp_client: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Finding 1: ENABLE_AUTH=enabled with a password left every route of ComfyUI open."""
    from test_security_gate import BrokenPromptServer

    server = BrokenPromptServer()
    monkeypatch.setenv("WORKSPACE_ROOT", str(tmp_path))
    monkeypatch.setenv("ACCESS_PASSWORD", PASSWORD)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with caplog.at_level(logging.ERROR):
        load_into(monkeypatch, server, f"lp_settings_{abs(hash(str(env)))}")
    assert "ENABLE_AUTH" in caplog.text and "locked rather than served without a login" in caplog.text
    assert "Traceback" not in caplog.text and PASSWORD not in caplog.text
    client = await aiohttp_client(server.app)
    response = await client.post("/prompt", json={})
    body = await response.json()
    assert response.status == 503 and body["error"]["code"] == "auth_unavailable"
    assert "ENABLE_AUTH" in body["error"]["message"]


def test_the_cli_stops_and_names_the_variable(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "ENABLE_AUTH": "enabled", "ACCESS_PASSWORD": PASSWORD, "HOME": str(tmp_path)}
    result = subprocess.run(cli_argv("check-settings"), env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "ENABLE_AUTH='enabled'" in result.stderr and "Traceback" not in result.stderr
    ok = subprocess.run(cli_argv("check-settings"), env={**env, "ENABLE_AUTH": "1"}, capture_output=True,
                        text=True, timeout=60)
    assert ok.returncode == 0 and "login required" in ok.stdout
