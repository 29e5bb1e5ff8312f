"""The one mapping from error code to HTTP status, and the JSON error body.

Every LaunchpadError code has its status here, and the OpenAPI ``Error`` schema enumerates
exactly these codes (a test checks both against the error classes).

Every failure leaves the API as ``{"error": {"code", "message"[, "details"]}}`` with the status
below; an unexpected exception becomes a 500 ``internal`` error whose message points at the
log, never a stack trace.
"""

from __future__ import annotations

import logging

from aiohttp import web

from ..launchpad.errors import InvalidInput, LaunchpadError

log = logging.getLogger("launchpad.http")


class UnsupportedMediaType(InvalidInput):
    """A mutating request whose body is not declared as JSON (a cross-site form cannot send JSON)."""

    code = "unsupported_media_type"


class PayloadTooLarge(InvalidInput):
    """A request body far larger than any request of this API needs."""

    code = "payload_too_large"


class MethodNotAllowed(InvalidInput):
    code = "method_not_allowed"


class RouteNotFound(LaunchpadError):
    code = "route_not_found"


# --- the security gate (server_routes/security.py) ---------------------------------------------


class LoginRequired(LaunchpadError):
    """ENABLE_AUTH is on and the request carries no valid session or API token."""

    code = "login_required"


class LoginFailed(LaunchpadError):
    """The password or token given to the login route is wrong."""

    code = "login_failed"


class LockedOut(LaunchpadError):
    """Too many wrong secrets from this client; ``details.retry_after`` says when to try again."""

    code = "locked_out"

    @classmethod
    def after(cls, seconds: float | None) -> LockedOut:
        wait = max(1, round(seconds or 0))
        return cls(f"too many failed attempts; try again in {wait} s", details={"retry_after": wait})


class AuthNotConfigured(LaunchpadError):
    """ENABLE_AUTH is on but there is nothing to log in with, so everything stays locked."""

    code = "auth_not_configured"


class CrossOrigin(LaunchpadError):
    """A mutating request or WebSocket upgrade sent by a page of another origin (CSRF)."""

    code = "cross_origin"


class HostNotAllowed(LaunchpadError):
    """A request addressed to a host name this server does not answer to (DNS rebinding)."""

    code = "host_not_allowed"


class Starting(LaunchpadError):
    """A route was called inside ComfyUI before the app started Launchpad's core."""

    code = "starting"


class AuthUnavailable(LaunchpadError):
    """The package failed to load while the environment asks for a login: ComfyUI is locked
    (the root ``__init__`` answers this code itself, since this module may be what failed)."""

    code = "auth_unavailable"


STATUS: dict[str, int] = {
    # the request is wrong
    "invalid_input": 400,
    "invalid_setting": 400,
    "login_required": 401,
    "login_failed": 401,
    "cross_origin": 403,
    "host_not_allowed": 403,
    "forbidden": 403,
    "not_found": 404,
    "route_not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "in_use": 409,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "locked_out": 429,
    # the request is fine but the server cannot do it now
    "catalog_invalid": 422,
    "too_large": 422,
    "insufficient_space": 507,
    "workspace_unavailable": 503,
    "auth_not_configured": 503,
    "auth_unavailable": 503,
    "starting": 503,
    "not_running": 503,
    # an upstream source refused or failed (only when a route talks to one directly)
    "unauthorized": 502,
    "source_not_found": 502,
    "rate_limited": 503,
    "download_failed": 502,
    "integrity": 502,
    "checksum_mismatch": 502,
    "cancelled": 409,
    "internal": 500,
}

INTERNAL_MESSAGE = "Launchpad hit an unexpected error; the details are in its log (<workspace>/logs/launchpad.log)"


def status_for(code: str) -> int:
    return STATUS.get(code, 500)


def error_body(code: str, message: str, details: dict[str, object] | None = None) -> dict[str, object]:
    error: dict[str, object] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"error": error}


def error_response(exc: BaseException) -> web.Response:
    """The JSON response for ``exc``; unexpected exceptions are logged with their traceback."""
    if isinstance(exc, LaunchpadError):
        return web.json_response(error_body(exc.code, exc.message, exc.details), status=status_for(exc.code))
    log.error("unexpected error in a Launchpad route", exc_info=exc)
    return web.json_response(error_body("internal", INTERNAL_MESSAGE), status=500)
