"""Logging in and out: the page, the cookie's flags, rate limiting and lockout, logout."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from security_support import API, COOKIE, PASSWORD, TOKEN, auth_settings, login, standalone_client

# RunPod's proxy: https outside, plain http to the pod, the public host in X-Forwarded-Host
PROXY = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "abc123-8188.proxy.runpod.net",
    "X-Forwarded-For": "203.0.113.9",
}


@pytest.fixture
async def client(workspace_dir: Path, tmp_path: Path, aiohttp_client: Any) -> Any:
    """As behind RunPod's proxy, when TRUSTED_PROXIES names it (the test client is on 127.0.0.1)."""
    return await standalone_client(aiohttp_client, auth_settings(workspace_dir, tmp_path,
                                                                 trusted_proxies=("127.0.0.1/32",)))


@pytest.fixture
async def untrusting(workspace_dir: Path, tmp_path: Path, aiohttp_client: Any) -> Any:
    """No TRUSTED_PROXIES: X-Forwarded-For is nobody's word, every client is its direct peer."""
    return await standalone_client(aiohttp_client, auth_settings(workspace_dir, tmp_path))


def set_cookie(response: Any) -> str:
    headers = response.headers.getall("Set-Cookie")
    assert len(headers) == 1
    return headers[0]


async def test_login_page_is_self_contained_and_locked_down(client: Any) -> None:
    response = await client.get("/launchpad/login?next=/prompt")
    text = await response.text()
    assert response.status == 200 and response.content_type == "text/html"
    assert '<form id="login" data-next="/prompt">' in text and 'type="password"' in text
    assert "prefers-color-scheme: light" in text and "#202020" in text  # ComfyUI's dark and light colours
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    nonce = csp.split("'nonce-")[1].split("'")[0]
    assert f'<script nonce="{nonce}">' in text and f'<style nonce="{nonce}">' in text
    assert "src=" not in text and "<link" not in text  # nothing else to fetch while locked
    assert response.headers["X-Frame-Options"] == "DENY" and response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "next_param", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "%0d%0a"]
)
async def test_login_page_never_sends_the_user_elsewhere(client: Any, next_param: str) -> None:
    from urllib.parse import quote

    response = await client.get(f"/launchpad/login?next={quote(next_param, safe='')}")
    assert 'data-next="/"' in await response.text()


async def test_login_page_escapes_what_it_echoes(client: Any) -> None:
    response = await client.get('/launchpad/login?next=/x"><script>alert(1)</script>')
    text = await response.text()
    assert "<script>alert(1)" not in text and 'data-next="/x&quot;&gt;&lt;script&gt;' in text


async def test_cookie_flags_over_plain_http(client: Any) -> None:
    response = await client.post("/launchpad/login", json={"password": PASSWORD})
    body = await response.json()
    assert response.status == 200 and body["authenticated"] and body["method"] == "session"
    cookie = set_cookie(response)
    assert cookie.startswith(f"{COOKIE}=")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "path", "samesite", "max-age"} <= attributes
    assert "SameSite=Lax" in cookie and "Path=/" in cookie and f"Max-Age={7 * 24 * 3600}" in cookie
    assert "secure" not in attributes  # a Secure cookie would never come back over http
    assert "Domain" not in cookie  # host-only: other pods on the proxy domain never see it
    assert response.headers["Cache-Control"] == "no-store"


async def test_cookie_is_secure_behind_an_https_proxy(client: Any) -> None:
    # the proxy rewrote Host to the pod's address; the browser's Origin is the public one
    headers = {**PROXY, "Origin": "https://abc123-8188.proxy.runpod.net", "Host": "127.0.0.1:8188"}
    response = await client.post("/launchpad/login", json={"password": PASSWORD}, headers=headers)
    assert response.status == 200
    assert "Secure" in set_cookie(response) and "HttpOnly" in set_cookie(response)
    forwarded = await client.post(
        "/launchpad/login", json={"password": PASSWORD}, headers={"Forwarded": "for=203.0.113.9;proto=https"}
    )
    assert "Secure" in set_cookie(forwarded)


async def test_session_info(client: Any) -> None:
    anonymous = await (await client.get("/launchpad/session")).json()
    assert anonymous == {"auth_enabled": True, "configured": True, "authenticated": False, "method": None}
    token = await login(client)
    by_cookie = await (await client.get("/api/launchpad/session", headers={"Cookie": f"{COOKIE}={token}"})).json()
    assert by_cookie["authenticated"] and by_cookie["method"] == "session"
    by_token = await (await client.get("/launchpad/session", headers={"Authorization": f"Bearer {TOKEN}"})).json()
    assert by_token["authenticated"] and by_token["method"] == "token"


async def test_api_token_works_at_the_login_page_too(client: Any) -> None:
    token = await login(client, TOKEN)
    response = await client.get("/launchpad/openapi.json", headers={"Cookie": f"{COOKIE}={token}"})
    assert response.status == 200


async def test_wrong_passwords_then_a_growing_wait_per_client(client: Any, caplog: pytest.LogCaptureFixture) -> None:
    attacker = {"X-Forwarded-For": "198.51.100.23"}
    with caplog.at_level(logging.INFO):
        for _ in range(4):
            response = await client.post("/launchpad/login", json={"password": "guess"}, headers=attacker)
            body = await response.json()
            assert response.status == 401 and body["error"]["code"] == "login_failed"
            assert "Set-Cookie" not in response.headers
        response = await client.post("/launchpad/login", json={"password": "guess"}, headers=attacker)
        assert response.status == 429
        assert response.headers["Retry-After"] == "2"
        body = await response.json()
        assert body["error"]["code"] == "locked_out" and body["error"]["details"]["retry_after"] == 2
        # while it waits: even the right password is refused, and so are bearer guesses...
        response = await client.post("/launchpad/login", json={"password": PASSWORD}, headers=attacker)
        assert response.status == 429 and "Set-Cookie" not in response.headers
        response = await client.get("/launchpad/presets", headers={**attacker, "Authorization": "Bearer guess"})
        assert response.status == 429
        # ...but a valid API token always works
        response = await client.get("/launchpad/presets", headers={**attacker, "Authorization": f"Bearer {TOKEN}"})
        assert response.status == 200
    # another client (behind the same proxy) is not affected
    assert (await client.post("/launchpad/login", json={"password": PASSWORD},
                              headers={"X-Forwarded-For": "198.51.100.24"})).status == 200
    assert "198.51.100.23" in caplog.text and "must wait 2 s" in caplog.text
    for secret in ("guess", PASSWORD, TOKEN):
        assert secret not in caplog.text


async def test_the_wait_grows_with_further_failures_and_stays_short(client: Any) -> None:
    from lp.server_routes.security import GATE

    gate = client.server.app[GATE]
    clock = [1000.0]
    gate.auth.limiter.clock = lambda: clock[0]
    attacker = {"X-Forwarded-For": "198.51.100.50"}
    waits = []
    for _ in range(12):
        response = await client.post("/launchpad/login", json={"password": "guess"}, headers=attacker)
        if response.status == 429:
            waits.append(int(response.headers["Retry-After"]))
            clock[0] += waits[-1]
    assert waits == [2, 4, 8, 16, 32, 60, 60, 60]  # never more than a minute
    # hammering while it waits is refused, and does not make the wait longer
    for _ in range(20):
        await client.post("/launchpad/login", json={"password": "guess"}, headers=attacker)
    response = await client.post("/launchpad/login", json={"password": "guess"}, headers=attacker)
    assert int(response.headers["Retry-After"]) <= 60


async def test_wrong_bearer_tokens_count_as_failures(client: Any) -> None:
    headers = {"X-Forwarded-For": "198.51.100.40", "Authorization": "Bearer not-a-token"}
    statuses = [(await client.get("/launchpad/presets", headers=headers)).status for _ in range(6)]
    assert statuses == [401, 401, 401, 401, 429, 429]


async def test_a_client_cannot_dodge_the_wait_by_forging_x_forwarded_for(client: Any) -> None:
    """The trusted proxy appends the real address last; whatever the client put before it is ignored."""
    for i in range(5):
        await client.post("/launchpad/login", json={"password": "guess"},
                          headers={"X-Forwarded-For": f"10.0.0.{i}, 198.51.100.77"})
    response = await client.post("/launchpad/login", json={"password": PASSWORD},
                                 headers={"X-Forwarded-For": "10.9.9.9, 198.51.100.77"})
    assert response.status == 429


async def test_rotating_x_forwarded_for_from_an_untrusted_peer_buys_no_guesses(
    untrusting: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Finding 3: a private/loopback peer's X-Forwarded-For used to be believed, so rotating it
    gave unlimited guesses. Unless the peer is in TRUSTED_PROXIES, the header is ignored."""
    with caplog.at_level(logging.INFO):
        statuses = [(await untrusting.post("/launchpad/login", json={"password": "guess"},
                                           headers={"X-Forwarded-For": f"203.0.113.{i}"})).status for i in range(8)]
    assert statuses[:4] == [401] * 4 and set(statuses[4:]) == {429}
    assert "TRUSTED_PROXIES" in caplog.text


async def test_a_shared_key_is_never_a_lockout_for_long_and_tokens_still_work(untrusting: Any) -> None:
    """Finding 3: where everyone shares one key, five wrong tries used to lock everyone out for up
    to an hour, valid API tokens included."""
    from lp.server_routes.security import GATE

    gate = untrusting.server.app[GATE]
    clock = [1000.0]
    gate.auth.limiter.clock = lambda: clock[0]
    for _ in range(40):
        await untrusting.post("/launchpad/login", json={"password": "guess"})
        clock[0] += 1
    assert (await untrusting.get("/launchpad/presets", headers={"Authorization": f"Bearer {TOKEN}"})).status == 200
    response = await untrusting.post("/launchpad/login", json={"password": PASSWORD})
    if response.status == 429:
        assert int(response.headers["Retry-After"]) <= 60
        clock[0] += 61
        response = await untrusting.post("/launchpad/login", json={"password": PASSWORD})
    assert response.status == 200


async def test_logout_clears_the_cookie_and_ends_the_session(client: Any) -> None:
    token = await login(client)
    cookie = {"Cookie": f"{COOKIE}={token}"}
    assert (await client.get("/launchpad/openapi.json", headers=cookie)).status == 200
    response = await client.post("/launchpad/logout", json={}, headers=cookie)
    assert response.status == 200 and not (await response.json())["authenticated"]
    cleared = set_cookie(response)
    assert cleared.startswith(f'{COOKIE}=""') or cleared.startswith(f"{COOKIE}=;")
    assert "Max-Age=0" in cleared and "Path=/" in cleared and "HttpOnly" in cleared
    # the old cookie no longer works even if a browser (or a thief) kept it
    assert (await client.get("/launchpad/openapi.json", headers=cookie)).status == 401


async def test_expired_or_forged_sessions_are_refused(
    workspace_dir: Path, tmp_path: Path, aiohttp_client: Any
) -> None:
    client = await standalone_client(aiohttp_client, auth_settings(workspace_dir, tmp_path, session_ttl=1e-3))
    token = await login(client)
    assert (await client.get("/launchpad/openapi.json", headers={"Cookie": f"{COOKIE}={token}"})).status == 401
    forged = "9999999999.00000000000000000000000000000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    assert (await client.get("/launchpad/openapi.json", headers={"Cookie": f"{COOKIE}={forged}"})).status == 401


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"data": f"password={PASSWORD}", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
         415, "unsupported_media_type"),
        ({"data": PASSWORD, "headers": {"Content-Type": "text/plain"}}, 415, "unsupported_media_type"),
        ({"json": {"password": PASSWORD, "remember": True}}, 400, "invalid_input"),
        ({"json": {}}, 400, "invalid_input"),
        ({"json": {"password": PASSWORD}, "headers": {"Origin": "https://evil.example"}}, 403, "cross_origin"),
    ],
)
async def test_login_takes_json_only_from_this_origin(client: Any, kwargs: dict, status: int, code: str) -> None:
    response = await client.post("/launchpad/login", **kwargs)
    assert response.status == status
    assert (await response.json())["error"]["code"] == code
    assert "Set-Cookie" not in response.headers


async def test_with_auth_off_login_is_a_no_op(workspace_dir: Path, tmp_path: Path, aiohttp_client: Any) -> None:
    client = await standalone_client(aiohttp_client, auth_settings(workspace_dir, tmp_path, enable_auth=False))
    page = await client.get("/launchpad/login?next=/x", allow_redirects=False)
    assert page.status == 302 and page.headers["Location"] == "/x"
    response = await client.post("/launchpad/login", json={"password": "anything"})
    assert response.status == 200 and (await response.json())["auth_enabled"] is False
    assert "Set-Cookie" not in response.headers


async def test_a_logged_out_session_stays_out_after_a_restart(
    workspace_dir: Path, tmp_path: Path, aiohttp_client: Any
) -> None:
    """Finding 7: the revocation lived in memory only, so a restart revived the cookie."""
    settings = auth_settings(workspace_dir, tmp_path)
    first = await standalone_client(aiohttp_client, settings)
    ended, kept = await login(first), await login(first)
    assert (await first.post("/launchpad/logout", json={}, headers={"Cookie": f"{COOKIE}={ended}"})).status == 200
    await first.close()
    restarted = await standalone_client(aiohttp_client, settings)  # a new process: same volume, same key
    for token, status in ((ended, 401), (kept, 200)):
        response = await restarted.get("/launchpad/presets", headers={"Cookie": f"{COOKIE}={token}", **API})
        assert response.status == status, token
    assert ended.split(".")[2] not in (workspace_dir / ".launchpad" / "revoked-sessions.json").read_text()


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "key"),
    [
        ("203.0.113.5", "198.51.100.1", (), "203.0.113.5"),  # an untrusted peer's header is nobody's word
        ("127.0.0.1", "198.51.100.1", (), "127.0.0.1"),  # not even from loopback, unless listed
        ("10.0.0.2", "198.51.100.1", ("10.0.0.0/8",), "198.51.100.1"),
        ("10.0.0.2", "6.6.6.6, 198.51.100.1, 10.0.0.3", ("10.0.0.0/8",), "198.51.100.1"),  # two proxies deep
        ("10.0.0.2", "10.0.0.4, 10.0.0.3", ("10.0.0.0/8",), "10.0.0.4"),
        ("2001:db8:1:2:3:4:5:6", None, (), "2001:db8:1:2::/64"),  # one machine's /64 is one client
        ("::ffff:198.51.100.7", None, (), "198.51.100.7"),
    ],
)
def test_client_key(peer: str, forwarded: str | None, trusted: tuple[str, ...], key: str) -> None:
    from aiohttp.test_utils import make_mocked_request

    from lp.server_routes.forwarded import client_key

    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    request = make_mocked_request("POST", "/launchpad/login", headers=headers)
    request = request.clone(remote=peer)
    assert client_key(request, trusted) == key
