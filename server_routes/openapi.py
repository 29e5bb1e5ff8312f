"""The OpenAPI 3.1 document, generated from the route table (routes.ROUTES)."""

from __future__ import annotations

import copy
from typing import Any

from ..launchpad import __version__
from .errors import STATUS
from .schema import COMPONENTS, PATH_PARAMS, ref
from .table import Route

_REASONS = {
    200: "OK",
    202: "Accepted",
    400: "Malformed request: bad JSON, unknown field, wrong type or value",
    401: "Login required (ENABLE_AUTH): no valid session cookie or API token",
    403: "Refused: outside what Launchpad manages",
    404: "Unknown id",
    405: "Method not allowed",
    409: "Conflicts with the current state",
    413: "Body too large",
    415: "Body is not JSON",
    429: "Too many failed logins from this client; see Retry-After",
    503: "Not available now (e.g. ENABLE_AUTH on without any credential, or the service failed to start)",
    500: "Unexpected error (details in the Launchpad log)",
}


def _parameters(route: Route) -> list[dict[str, Any]]:
    params = [
        {"name": name, "in": "path", "required": True,
         "schema": copy.deepcopy(PATH_PARAMS.get(name, {"type": "string"}))}
        for name in route.path_params
    ]
    for param in route.query:
        params.append(
            {"name": param.name, "in": "query", "required": False, "description": param.description,
             "schema": copy.deepcopy(param.schema)}
        )
    return params


def _operation(route: Route) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": route.operation_id, "summary": route.summary, "tags": [route.tag]}
    if route.description:
        op["description"] = route.description
    params = _parameters(route)
    if params:
        op["parameters"] = params
    if route.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": copy.deepcopy(route.body)}},
        }
    if route.content_type == "application/json":
        ok = {"description": _REASONS.get(route.status, "OK"),
              "content": {"application/json": {"schema": copy.deepcopy(route.response or {})}}}
    else:
        ok = {"description": "OK", "content": {route.content_type: {"schema": {"type": "string"}}}}
    if route.links:
        ok["links"] = {f"{link.operation}": {"operationId": link.operation, "parameters": dict(link.parameters)}
                       for link in route.links}
    responses: dict[str, Any] = {str(route.status): ok}
    for status in route.same_shape:
        responses[str(status)] = {**ok, "description": _REASONS.get(status, "Error")}
    statuses = set(route.errors) | {500}
    if route.body is not None or route.query or route.path_params:
        statuses.add(400)
    for status in sorted(statuses):
        responses[str(status)] = {
            "description": _REASONS.get(status, "Error"),
            "content": {"application/json": {"schema": ref("Error")}},
        }
    op["responses"] = responses
    return op


def document(routes: list[Route], *, mode: str = "standalone") -> dict[str, Any]:
    """The OpenAPI document for ``routes``."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.template, {})[route.method.lower()] = _operation(route)
    codes = ", ".join(f"`{code}` {status}" for code, status in sorted(STATUS.items(), key=lambda kv: kv[1]))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ComfyUI Launchpad API",
            "version": __version__,
            "description": (
                "Model presets, downloads, the model library and system status. Every path is also "
                "served under /api (ComfyUI mirrors custom routes there; the standalone server answers "
                "both). Events arrive on the WebSocket (/ws) as {\"type\": \"launchpad.*\", \"data\": {...}}. "
                f"Errors are {{\"error\": {{\"code\", \"message\"}}}}; codes and statuses: {codes}."
            ),
        },
        "servers": [{"url": "/", "description": f"this server ({mode})"}, {"url": "/api"}],
        "paths": paths,
        "components": {
            "schemas": copy.deepcopy(COMPONENTS),
            # only enforced when ENABLE_AUTH is on; then every path but health and login needs one
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "one of LAUNCHPAD_API_TOKENS"},
                "session": {"type": "apiKey", "in": "cookie", "name": "launchpad_session",
                            "description": "set by POST /launchpad/login"},
            },
        },
        "security": [{}, {"bearer": []}, {"session": []}],
    }
