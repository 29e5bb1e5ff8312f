"""Handlers of the login routes: the page, login, logout and "am I logged in".

They stay open while auth is on (security.OPEN_PATHS); the checks themselves live in the
core (launchpad/auth.py), the cookie and the gate in security.py.
"""

from __future__ import annotations

from typing import Any

from aiohttp import hdrs, web

from ..launchpad.service import LaunchpadService
from . import login_page as page
from .errors import AuthNotConfigured, LockedOut, LoginFailed
from .forwarded import client_key
from .security import presented_token, refuse, safe_next, session_cookie, set_session_cookie
from .table import Call, json_response


def _state(service: LaunchpadService, request: web.Request) -> dict[str, Any]:
    auth = service.auth
    cookie = session_cookie(request)
    by_session = bool(auth.enabled and cookie and auth.session_valid(cookie))
    token = presented_token(request) if auth.enabled and not by_session else None
    by_token = bool(token is not None and auth.check_bearer(token, client_key(request)).ok)
    return {
        "auth_enabled": auth.enabled,
        "configured": auth.configured or not auth.enabled,
        "authenticated": not auth.enabled or by_session or by_token,
        "method": "session" if by_session else "token" if by_token else None,
    }


async def login_page(service: LaunchpadService, call: Call) -> web.Response:
    auth = service.auth
    next_path = safe_next(call.query.get("next"))
    if not auth.enabled:
        return web.Response(status=302, headers={hdrs.LOCATION: next_path})
    if auth.problem:
        return page.render(next_path, problem=auth.problem, status=503)
    return page.render(next_path)


async def login(service: LaunchpadService, call: Call) -> web.StreamResponse:
    auth = service.auth
    if not auth.enabled:
        return json_response(_state(service, call.request))
    if auth.problem:
        raise AuthNotConfigured(auth.problem)
    verdict = auth.check_login(call.body["password"], client_key(call.request))
    if verdict.locked:
        return refuse(LockedOut.after(verdict.retry_after), retry_after=verdict.retry_after)
    if not verdict.ok:
        raise LoginFailed("wrong password or token")
    session = auth.issue_session()
    response = json_response(
        {"auth_enabled": True, "configured": True, "authenticated": True, "method": "session",
         "expires_at": session.expires_at}
    )
    set_session_cookie(response, call.request, session.token, int(auth.ttl))
    response.headers[hdrs.CACHE_CONTROL] = "no-store"
    return response


async def logout(service: LaunchpadService, call: Call) -> web.StreamResponse:
    cookie = session_cookie(call.request)
    if cookie:
        service.auth.end_session(cookie)
    response = json_response(
        {"auth_enabled": service.auth.enabled, "configured": service.auth.configured or not service.auth.enabled,
         "authenticated": not service.auth.enabled, "method": None}
    )
    set_session_cookie(response, call.request, "", 0)
    response.headers[hdrs.CACHE_CONTROL] = "no-store"
    return response


async def session_info(service: LaunchpadService, call: Call) -> dict[str, Any]:
    return _state(service, call.request)
