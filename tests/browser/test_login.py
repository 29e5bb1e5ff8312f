"""The dashboard behind ENABLE_AUTH: the login page first, the panel after, and back to the
login page when the session ends while the panel is open."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conftest import cli_argv

from .conftest import SIDEBAR, PageErrors
from .stage import Stage

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def locked_stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    stage = Stage(tmp_path_factory.mktemp("locked"), cli_argv(),
                  extra_env={"ENABLE_AUTH": "1", "ACCESS_PASSWORD": PASSWORD}).prepare()
    try:
        stage.start()
        yield stage
    finally:
        stage.close()


def test_login_then_the_panel_then_back_to_login_when_the_session_ends(
    browser: Any, locked_stage: Stage, page_errors: PageErrors
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport=SIDEBAR, color_scheme="dark")
    try:
        page = page_errors.watch(context.new_page())
        page.goto(locked_stage.url)
        expect(page).to_have_url(f"{locked_stage.url}launchpad/login?next=%2F")
        page.fill("#password", "wrong password")
        page.click("button[type=submit]")
        expect(page.locator("form#login")).to_be_visible()
        expect(page).to_have_url(f"{locked_stage.url}launchpad/login?next=%2F")

        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        expect(page).to_have_url(locked_stage.url)
        expect(page.locator("[data-preset]").first).to_be_visible()

        context.clear_cookies()  # the session ends (logout elsewhere, a new secret, expiry)
        page.evaluate("location.hash = '#models'")  # the Models view asks the server for the files
        expect(page.locator("form#login")).to_be_visible()
        assert page.url.startswith(f"{locked_stage.url}launchpad/login?next=")
    finally:
        context.close()
    # the wrong password's 401 is the login form's own answer, not a page error
    assert [e for e in page_errors if "401" not in e] == []


def test_log_out_from_the_panel_ends_the_session(
    browser: Any, locked_stage: Stage, page_errors: PageErrors, artifacts: Any
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport=SIDEBAR, color_scheme="dark")
    try:
        page = page_errors.watch(context.new_page())
        page.goto(locked_stage.url)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator("[data-preset]").first).to_be_visible()
        cookie = {c["name"]: c["value"] for c in context.cookies()}
        logout = page.get_by_role("button", name="Log out")
        expect(logout).to_be_visible()  # only while auth is on (the other browser tests have none)
        page.screenshot(path=str(artifacts / "standalone-logout-dark.png"))

        logout.click()

        expect(page.locator("form#login")).to_be_visible()
        assert page.url.startswith(f"{locked_stage.url}launchpad/login?next=")
        # the old cookie no longer opens anything, even if someone kept a copy
        header = "; ".join(f"{k}={v}" for k, v in cookie.items())
        status, body = http_with_cookie(f"{locked_stage.url}launchpad/session", header)
        assert status == 200 and body["authenticated"] is False, body
    finally:
        context.close()
    assert page_errors == []


def http_with_cookie(url: str, cookie: str) -> tuple[int, Any]:
    import json
    import urllib.request

    request = urllib.request.Request(url, headers={"Cookie": cookie})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return reply.status, json.loads(reply.read())
