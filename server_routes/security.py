"""The gate in front of every route: the host check, login (when ENABLE_AUTH is on) and the
cross-origin check.

Inside ComfyUI the middleware is appended to ``PromptServer.instance.app`` while ComfyUI
imports us (docs/comfyui-facts.md, PromptServer), so it guards *all* of ComfyUI: the graph page,
/prompt, /view, /upload/*, /ws, ComfyUI-Manager's routes and ours. Standalone it guards our
app the same way. Per request:

0. Auth on or off, a request that names a host we do not answer to is refused with 403
   (DNS rebinding; the rules are in hosts.py, ALLOWED_HOSTS extends them).
1. A mutating request (POST, PUT, PATCH, DELETE) or a WebSocket upgrade whose ``Origin`` names
   another site (neither a name this request was addressed to nor one in ALLOWED_HOSTS) is
   refused with 403. This runs on every route when auth is on (a session
   cookie is ambient authority, and pods on the same proxy domain count as "same site" for
   SameSite cookies), and on our routes always (table.py calls :func:`check_origin`).
2. With auth on: the health route, the login page and login/logout/session stay open; any
   other request needs a valid session cookie or an API token (``Authorization: Bearer``;
   a WebSocket upgrade may pass it as ``?token=`` because browsers cannot set headers there).
   Without credentials a page request is redirected to the login page, anything else gets
   401 JSON; a WebSocket upgrade is refused before it happens.
3. With auth on but no password and no token configured, everything except health and the
   login page (which says what to set) answers 503: never open by accident.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from aiohttp import hdrs, web

from .errors import AuthNotConfigured, CrossOrigin, HostNotAllowed, LockedOut, LoginRequired, error_response
from .forwarded import client_key, host_names, public_scheme, same_origin
from .hosts import HINT, host_allowed

if TYPE_CHECKING:  # imported when auth is on: ComfyUI times every pack's import
    from ..launchpad.auth import Authenticator
    from ..launchpad.config import Settings

log = logging.getLogger("launchpad.auth")

SESSION_COOKIE = "launchpad_session"
LOGIN_PATH = "/launchpad/login"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# open with auth on: what HEALTHCHECK, the login page and a signed-out browser need
OPEN_PATHS = frozenset({"/launchpad/health", LOGIN_PATH, "/launchpad/logout", "/launchpad/session"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Gate:
    """What the middlewares and the login routes of one app share: one authenticator (so one
    throttle table and one list of ended sessions; None while auth is off), the extra trusted
    origins, the allowed host names and the trusted proxies."""

    auth: Authenticator | None
    allowed_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()


GATE = web.AppKey("launchpad_gate", Gate)


def install_gate(app: web.Application, settings: Settings, state_dir: Path | None) -> Gate:
    """Put the gate on ``app`` (before it starts): its Host check, and with ENABLE_AUTH its login, first.

    The app is ComfyUI's PromptServer.app or the standalone app. ``state_dir`` keeps a
    generated session key; it is only touched when auth is on.
    """
    auth = None
    if settings.enable_auth:
        from ..launchpad.auth import Authenticator

        auth = Authenticator.from_settings(settings, state_dir=state_dir)
    gate = Gate(auth, settings.allowed_origins, settings.allowed_hosts, settings.trusted_proxies)
    app[GATE] = gate
    if "*" in gate.allowed_hosts:
        log.warning("ALLOWED_HOSTS=* : requests naming any host are served, so DNS rebinding is not prevented")
    # ours go first: a request is refused before anything else runs, and the middlewares after
    # ours (ComfyUI-Manager looks its security policy up by handler) get the real handler
    if auth is not None:
        app.middlewares.insert(0, auth_middleware(auth, gate))
    app.middlewares.insert(0, host_middleware(gate.allowed_hosts))  # auth on or off, every route
    return gate


def gate_of(request: web.Request) -> Gate | None:
    return request.config_dict.get(GATE)


def host_middleware(allowed_hosts: tuple[str, ...]) -> Callable:
    """Refuses a request that names a host we do not answer to (DNS rebinding; hosts.py)."""
    warned: set[str] = set()

    @web.middleware
    async def launchpad_hosts(request: web.Request, handler: Handler) -> web.StreamResponse:
        for name in host_names(request):
            if not host_allowed(name, allowed_hosts):
                shown = name[:100]
                if shown not in warned and len(warned) < 100:  # once per name: a flood must not fill the log
                    warned.add(shown)
                    log.warning("refused requests addressed to %r (not in ALLOWED_HOSTS)", shown)
                return refuse(HostNotAllowed(f"this server does not answer to the name {shown!r}. {HINT}"))
        return await handler(request)

    return launchpad_hosts


def canonical_path(path: str) -> str:
    """Our routes answer at /launchpad/... and /api/launchpad/...; this is the first form."""
    return path[4:] if path.startswith("/api/launchpad/") else path


def is_websocket(request: web.Request) -> bool:
    return request.headers.get(hdrs.UPGRADE, "").lower() == "websocket"


def check_origin(request: web.Request, gate: Gate | None) -> None:
    """Raise CrossOrigin when a browser sent this request from a page of another origin.

    No ``Origin`` header means no browser made it cross-origin (scripts, curl, same-origin
    GETs); browsers always send one on cross-origin requests, forms and WebSocket upgrades.
    """
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is None:
        return
    normalized = origin.strip().rstrip("/").lower()
    allowed = gate.allowed_origins if gate is not None else ()
    if "*" in allowed or normalized in allowed:
        return
    if normalized != "null" and same_origin(normalized, request, gate.allowed_hosts if gate is not None else ()):
        return
    log.warning("refused %s %s from origin %s (this server is %s)", request.method, request.path,
                normalized[:200], request.headers.get("X-Forwarded-Host") or request.host)
    raise CrossOrigin(
        f"requests from {normalized[:200]} are not accepted here. If that page is yours, add its origin "
        "to LAUNCHPAD_ALLOWED_ORIGINS; behind a reverse proxy, forward the public Host (or X-Forwarded-Host)."
    )


def safe_next(value: str | None) -> str:
    """Where to go after logging in: a path on this server, never another site."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(ch) < 32 or ch == "\x7f" for ch in value) or len(value) > 2048:
        return "/"
    return value


def wants_page(request: web.Request) -> bool:
    return (
        request.method in ("GET", "HEAD")
        and not is_websocket(request)
        and "text/html" in request.headers.get(hdrs.ACCEPT, "")
    )


def login_redirect(request: web.Request) -> web.Response:
    location = f"{LOGIN_PATH}?next={quote(safe_next(request.path_qs), safe='')}"
    return web.Response(status=302, headers={hdrs.LOCATION: location, hdrs.CACHE_CONTROL: "no-store"})


def presented_token(request: web.Request) -> str | None:
    """The API token a request carries, if any."""
    header = request.headers.get(hdrs.AUTHORIZATION, "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if is_websocket(request):  # browsers cannot set headers on a WebSocket
        token = request.query.get("token")
        if token:
            return token
    return None


def session_cookie(request: web.Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE)


def set_session_cookie(response: web.StreamResponse, request: web.Request, token: str, max_age: int) -> None:
    """HttpOnly, SameSite=Lax, Path=/; Secure when the client reached us over https."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=public_scheme(request) == "https",
    )


def refuse(exc: Exception, *, retry_after: float | None = None) -> web.Response:
    response = error_response(exc)
    if isinstance(exc, LoginRequired):
        response.headers[hdrs.WWW_AUTHENTICATE] = 'Bearer realm="launchpad"'
    if retry_after is not None:
        response.headers[hdrs.RETRY_AFTER] = str(max(1, round(retry_after)))
    response.headers[hdrs.CACHE_CONTROL] = "no-store"
    return response


def auth_middleware(auth: Authenticator, gate: Gate) -> Callable:
    """The middleware for an app whose every route needs a login (ENABLE_AUTH on)."""

    @web.middleware
    async def launchpad_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method in UNSAFE_METHODS or is_websocket(request):
            try:
                check_origin(request, gate)
            except CrossOrigin as exc:
                return refuse(exc)
        if canonical_path(request.path) in OPEN_PATHS:
            return await handler(request)
        if auth.problem:
            return login_redirect(request) if wants_page(request) else refuse(AuthNotConfigured(auth.problem))
        cookie = session_cookie(request)
        if cookie and auth.session_valid(cookie):
            return await handler(request)
        token = presented_token(request)
        if token is not None:
            verdict = auth.check_bearer(token, client_key(request, gate.trusted_proxies))
            if verdict.ok:
                return await handler(request)
            if verdict.locked:
                return refuse(LockedOut.after(verdict.retry_after), retry_after=verdict.retry_after)
            return refuse(LoginRequired("the API token is not valid; check LAUNCHPAD_API_TOKENS"))
        if wants_page(request):
            return login_redirect(request)
        return refuse(
            LoginRequired(
                "log in first: open this server's page in a browser, or send an API token as "
                "'Authorization: Bearer <token>' (one of LAUNCHPAD_API_TOKENS)"
            )
        )

    return launchpad_auth
