"""Handlers of the login routes: the page, login, logout and "am I logged in".

They stay open while auth is on (security.OPEN_PATHS) and never need the core service (it
may still be starting: None). The checks live in launchpad/auth/, the cookie and the gate
in security.py.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import hdrs, web

from .errors import AuthNotConfigured, LockedOut, LoginFailed
from .forwarded import client_key
from .security import gate_of, presented_token, refuse, safe_next, session_cookie, set_session_cookie
from .table import Call, json_response

if TYPE_CHECKING:
    from ..launchpad.auth import Authenticator
    from ..launchpad.service import LaunchpadService


def _auth(request: web.Request) -> Authenticator | None:
    """The app's authenticator; None when the app has no gate (then there is no login)."""
    gate = gate_of(request)
    return gate.auth if gate is not None else None


def _client(request: web.Request) -> str:
    gate = gate_of(request)
    return client_key(request, gate.trusted_proxies if gate is not None else ())


def _view(auth: Authenticator | None, method: str | None) -> dict[str, Any]:
    """The SESSION answer: is a login required, and how (if at all) is this request logged in."""
    if auth is None:
        return {"auth_enabled": False, "configured": True, "authenticated": True, "method": None}
    return {"auth_enabled": True, "configured": auth.configured, "authenticated": method is not None,
            "method": method}


def _method(auth: Authenticator, request: web.Request) -> str | None:
    cookie = session_cookie(request)
    if cookie and auth.session_valid(cookie):
        return "session"
    token = presented_token(request)
    if token is not None and auth.check_bearer(token, _client(request)).ok:
        return "token"
    return None


def authenticated(request: web.Request) -> bool:
    """Whether this request may see what a logged-in user sees: always while auth is off."""
    auth = _auth(request)
    return auth is None or _method(auth, request) is not None


async def login_page(service: LaunchpadService | None, call: Call) -> web.Response:
    from . import login_page as page  # the HTML only when someone asks for it

    auth = _auth(call.request)
    next_path = safe_next(call.query.get("next"))
    if auth is None:
        return web.Response(status=302, headers={hdrs.LOCATION: next_path})
    if auth.problem:
        return page.render(next_path, problem=auth.problem, status=503)
    return page.render(next_path)


async def login(service: LaunchpadService | None, call: Call) -> web.StreamResponse:
    auth = _auth(call.request)
    if auth is None:
        return json_response(_view(None, None))
    if auth.problem:
        raise AuthNotConfigured(auth.problem)
    verdict = auth.check_login(call.body["password"], _client(call.request))
    if verdict.locked:
        return refuse(LockedOut.after(verdict.retry_after), retry_after=verdict.retry_after)
    if not verdict.ok:
        raise LoginFailed("wrong password or token")
    session = auth.issue_session()
    response = json_response({**_view(auth, "session"), "expires_at": session.expires_at})
    set_session_cookie(response, call.request, session.token, int(auth.ttl))
    response.headers[hdrs.CACHE_CONTROL] = "no-store"
    return response


async def logout(service: LaunchpadService | None, call: Call) -> web.StreamResponse:
    auth = _auth(call.request)
    cookie = session_cookie(call.request)
    if auth is not None and cookie:
        await asyncio.to_thread(auth.end_session, cookie)  # kept on the volume: a restart must not revive it
    response = json_response(_view(auth, None))
    set_session_cookie(response, call.request, "", 0)
    response.headers[hdrs.CACHE_CONTROL] = "no-store"
    return response


async def session_info(service: LaunchpadService | None, call: Call) -> dict[str, Any]:
    auth = _auth(call.request)
    return _view(auth, _method(auth, call.request) if auth is not None else None)
