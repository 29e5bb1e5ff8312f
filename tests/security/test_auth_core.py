"""The pure auth core: secrets, sessions, the login limiter, the session key file, URL policy."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from lp.launchpad.auth import NOT_CONFIGURED, Authenticator, matches_any, secret_equals
from lp.launchpad.auth.limiter import LoginLimiter
from lp.launchpad.auth.session_secret import SECRET_FILE, load_session_secret
from lp.launchpad.config import Settings
from lp.launchpad.errors import Forbidden, InvalidInput
from lp.launchpad.files import is_pickle
from lp.launchpad.url_policy import check_custom_url, host_allowed

PASSWORD = "correct horse battery staple"
TOKEN = "tok-0123456789abcdef0123456789"


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_auth(tmp_path: Path, clock: Clock, **overrides: object) -> Authenticator:
    values: dict[str, object] = {
        "enable_auth": True,
        "access_password": PASSWORD,
        "api_tokens": (TOKEN,),
        "session_secret": None,
    }
    values.update(overrides)
    settings = Settings(workspace=tmp_path, **values)  # type: ignore[arg-type]
    return Authenticator.from_settings(settings, state_dir=tmp_path / ".launchpad", clock=clock)


def test_secret_comparison() -> None:
    assert secret_equals("abc", "abc")
    assert not secret_equals("abc", "abd")
    assert not secret_equals("abc", "abcd")
    assert not secret_equals("", "x")
    assert matches_any("b", ["a", "b", "c"])
    assert not matches_any("d", ["a", "b", "c"])
    assert not matches_any("a", [])


def test_login_accepts_password_or_token_and_bearer_only_tokens(tmp_path: Path) -> None:
    auth = make_auth(tmp_path, Clock())
    assert auth.check_login(PASSWORD, "c1").ok
    assert auth.check_login(TOKEN, "c1").ok
    assert not auth.check_login("nope", "c1").ok
    assert auth.check_bearer(TOKEN, "c2").ok
    assert not auth.check_bearer(PASSWORD, "c2").ok


def test_sessions_sign_expire_and_end(tmp_path: Path) -> None:
    clock = Clock()
    auth = make_auth(tmp_path, clock, session_ttl=3600.0)
    session = auth.issue_session()
    assert auth.session_valid(session.token)
    assert session.expires_at == clock.now + 3600
    expires, nonce, signature = session.token.split(".")
    # any change to the payload breaks the signature
    assert not auth.session_valid(f"{int(expires) + 10**6}.{nonce}.{signature}")
    assert not auth.session_valid(f"{expires}.{'0' * 32}.{signature}")
    for junk in ("", "a.b", "a.b.c", "1.2.3.4", "x" * 300, "12.\x00.zz", "١٢.a.b"):
        assert not auth.session_valid(junk)
    clock.now += 3601
    assert not auth.session_valid(session.token)

    other = auth.issue_session()
    auth.end_session(other.token)
    assert not auth.session_valid(other.token)


def test_sessions_survive_a_restart_but_not_a_password_change(tmp_path: Path) -> None:
    clock = Clock()
    token = make_auth(tmp_path, clock).issue_session().token
    assert make_auth(tmp_path, clock).session_valid(token)  # same key file, same credentials
    assert not make_auth(tmp_path, clock, access_password="a new password!").session_valid(token)
    assert not make_auth(tmp_path, clock, api_tokens=("other-token-xxxxxxxxxxxx",)).session_valid(token)


def test_session_secret_from_the_environment_needs_no_file(tmp_path: Path) -> None:
    clock = Clock()
    token = make_auth(tmp_path, clock, session_secret="s" * 40).issue_session().token
    assert not (tmp_path / ".launchpad" / SECRET_FILE).exists()
    other_dir = tmp_path / "elsewhere"
    other_dir.mkdir()
    assert make_auth(other_dir, clock, session_secret="s" * 40).session_valid(token)
    assert not make_auth(other_dir, clock, session_secret="t" * 40).session_valid(token)


def test_session_key_file_is_private_and_reused(tmp_path: Path) -> None:
    state = tmp_path / ".launchpad"
    first = load_session_secret(None, state)
    path = state / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.source == str(path)
    assert load_session_secret(None, state).key == first.key
    assert first.key.decode() not in repr(first)
    assert [p.name for p in state.iterdir()] == [SECRET_FILE]  # no temp file left behind


def test_session_key_file_too_open_is_tightened(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    state = tmp_path / ".launchpad"
    key = load_session_secret(None, state).key
    os.chmod(state / SECRET_FILE, 0o644)
    with caplog.at_level(logging.WARNING, logger="launchpad.auth"):
        assert load_session_secret(None, state).key == key
    assert stat.S_IMODE((state / SECRET_FILE).stat().st_mode) == 0o600
    assert "restricting it to 0600" in caplog.text
    assert key.decode() not in caplog.text


def test_session_key_without_a_workspace_stays_in_memory(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    missing = tmp_path / "no-such-mount" / "workspace" / ".launchpad"
    with caplog.at_level(logging.WARNING, logger="launchpad.auth"):
        secret = load_session_secret(None, missing)
    assert secret.source == "memory" and len(secret.key) == 32
    assert not missing.parent.parent.exists()  # nothing created on the container disk
    assert "will not survive a restart" in caplog.text


def test_enabled_without_credentials_is_locked_shut(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="launchpad.auth"):
        auth = make_auth(tmp_path, Clock(), access_password=None, api_tokens=())
    assert auth.problem == NOT_CONFIGURED and "ACCESS_PASSWORD" in caplog.text
    assert not auth.check_login("", "c").ok
    assert not auth.check_bearer("", "c").ok
    assert not auth.session_valid(auth.issue_session().token)


def test_nothing_secret_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    with caplog.at_level(logging.DEBUG):
        auth = make_auth(tmp_path, clock, access_password="Zq9!xy")
        session = auth.issue_session()
        for attempt in ("wrong-guess-1", "wrong-guess-2", "Zq9!xy", TOKEN, *["wrong-guess-3"] * 6):
            auth.check_login(attempt, "198.51.100.7")
            auth.check_bearer(attempt, "198.51.100.8")
    key = (tmp_path / ".launchpad" / SECRET_FILE).read_text().strip()
    assert "shorter than" in caplog.text and "must wait" in caplog.text
    for secret in ("Zq9!xy", TOKEN, key, session.token, "wrong-guess"):
        assert secret not in caplog.text
    assert PASSWORD not in repr(auth) and TOKEN not in repr(Settings(api_tokens=(TOKEN,)))


def test_limiter_waits_grow_but_stay_short() -> None:
    clock = Clock()
    limiter = LoginLimiter(free_failures=3, window=600, base_delay=2, max_delay=60, clock=clock)
    assert limiter.failure("a") is None
    assert limiter.failure("a") is None
    assert limiter.failure("a") == 2
    assert limiter.retry_after("a") == 2
    assert limiter.retry_after("b") is None  # per client
    waits = []
    for _ in range(8):
        clock.now += limiter.retry_after("a") or 0
        waits.append(limiter.failure("a"))
    assert waits == [4, 8, 16, 32, 60, 60, 60, 60]  # grows with each failure, capped at a minute
    limiter.success("a")
    assert limiter.retry_after("a") is None
    assert [limiter.failure("a") for _ in range(3)] == [None, None, 2]  # success forgave the failures


def test_limiter_failures_outside_the_window_do_not_count() -> None:
    clock = Clock()
    limiter = LoginLimiter(free_failures=3, window=600, clock=clock)
    limiter.failure("a")
    limiter.failure("a")
    clock.now += 601
    assert limiter.failure("a") is None


def test_limiter_table_is_bounded() -> None:
    limiter = LoginLimiter(free_failures=1, max_clients=100, clock=Clock())
    for i in range(1000):
        limiter.failure(f"client-{i}")
    assert len(limiter._records) == 100
    assert limiter.retry_after("client-999") is not None


def test_authenticator_wait_refuses_even_the_right_password_but_never_a_right_token(tmp_path: Path) -> None:
    clock = Clock()
    auth = make_auth(tmp_path, clock)
    for _ in range(4):
        assert not auth.check_login("wrong", "c").locked
    verdict = auth.check_login("wrong", "c")
    assert verdict.locked and verdict.retry_after == 2
    locked = auth.check_login(PASSWORD, "c")
    assert not locked.ok and locked.locked
    assert not auth.check_bearer("a wrong token", "c").ok and auth.check_bearer("a wrong token", "c").locked
    assert auth.check_bearer(TOKEN, "c").ok  # a right token always works, whoever shares the key
    assert auth.check_login(TOKEN, "c").ok
    assert auth.check_login(PASSWORD, "another client").ok
    clock.now += 3
    assert auth.check_login(PASSWORD, "c").ok


# --- custom URLs ---------------------------------------------------------------------------


def url_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {"allow_custom_urls": True, "allowed_url_hosts": ("huggingface.co", "127.0.0.1")}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def test_custom_urls_are_off_unless_switched_on() -> None:
    with pytest.raises(Forbidden, match="ALLOW_CUSTOM_URLS=1"):
        check_custom_url("https://huggingface.co/a/b/resolve/main/m.safetensors", None, Settings())


@pytest.mark.parametrize(
    ("url", "name", "error", "match"),
    [
        ("https://evil.example/m.safetensors", None, Forbidden, "ALLOWED_URL_HOSTS"),
        ("https://huggingface.co.evil.example/m.safetensors", None, Forbidden, "not allowed"),
        ("https://evilhuggingface.co/m.safetensors", None, Forbidden, "not allowed"),
        ("http://huggingface.co/m.safetensors", None, Forbidden, "https"),  # a policy, like the host list
        ("ftp://huggingface.co/m.safetensors", None, InvalidInput, "https"),
        ("file:///etc/passwd", None, InvalidInput, "https"),
        ("https://user:pw@huggingface.co/m.safetensors", None, InvalidInput, "credentials"),
        ("https://huggingface.co:99999/m.safetensors", None, InvalidInput, "not a valid URL"),
        ("https://huggingface.co/a b.safetensors", None, InvalidInput, "spaces"),
        ("https://huggingface.co/m.exe", None, InvalidInput, "model extension"),
        ("https://huggingface.co/m.safetensors", "../../etc/cron.d/x.safetensors", InvalidInput, "segment"),
        ("https://huggingface.co/m.safetensors", "/abs.safetensors", InvalidInput, "absolute"),
        ("https://huggingface.co/m.safetensors", "a\x00.safetensors", InvalidInput, "control"),
        ("https://huggingface.co/%2e%2e", None, InvalidInput, "segment"),
        ("https://huggingface.co/" + "a" * 3000 + ".safetensors", None, InvalidInput, "URL"),
    ],
)
def test_custom_url_refusals(url: str, name: str | None, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        check_custom_url(url, name, url_settings())


def test_custom_url_accepted_shapes() -> None:
    ok = check_custom_url("https://cdn.huggingface.co/x/model%20v2.safetensors?download=1", None, url_settings())
    assert (ok.host, ok.name, ok.pickle) == ("cdn.huggingface.co", "model v2.safetensors", False)
    local = check_custom_url("http://127.0.0.1:8000/f/m.ckpt", "sub/renamed.ckpt", url_settings())
    assert (local.name, local.pickle) == ("sub/renamed.ckpt", True)


def test_pickle_formats_are_flagged() -> None:
    assert [is_pickle(n) for n in ("a.ckpt", "b.PT", "c.pth", "d.bin", "e.pkl")] == [True] * 5
    assert [is_pickle(n) for n in ("a.safetensors", "b.gguf", "c.sft", "noext")] == [False] * 4
    assert host_allowed("HuggingFace.co.", ("huggingface.co",))
    assert not host_allowed("huggingface.co", ())
