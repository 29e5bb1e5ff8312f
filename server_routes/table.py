"""What a route is, and how the route table becomes aiohttp handlers.

A :class:`Route` declares method, path, summary, query parameters and request/response
schemas next to its handler. :func:`bind` wraps each handler once with what every route
shares: the body check (JSON content type, size, schema, unknown fields), query parsing, the
JSON response, and the error mapping of server_routes/errors.py. Handlers stay a few lines
that translate HTTP to one call on the service.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from aiohttp import web

from ..launchpad.documents import DocumentError, load_json
from ..launchpad.errors import InvalidInput, NotFound
from .errors import PayloadTooLarge, Starting, UnsupportedMediaType, error_response
from .schema import PATH_PARAMS, Schema, SchemaError, validate
from .security import UNSAFE_METHODS, check_origin, gate_of

if TYPE_CHECKING:  # the service module is imported when the service is built, not with the routes
    from ..launchpad.service import LaunchpadService

MAX_BODY = 64 * 1024  # a list of preset ids; routes that take a workflow say their own limit
_PATH_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}")


# NamedTuples rather than dataclasses: ComfyUI times our import, and a dataclass costs ~1 ms to define.


class Param(NamedTuple):
    """A query parameter (all optional); ``schema`` type is string, integer or boolean."""

    name: str
    schema: Schema
    description: str


class Call(NamedTuple):
    """What a handler gets: the path parameters, parsed query, validated body, raw request, and
    the route table the route was bound from (so the OpenAPI handler needs no import of it)."""

    request: web.Request
    params: dict[str, str]
    query: dict[str, Any]
    body: dict[str, Any]
    routes: tuple[Route, ...] = ()


Handler = Callable[["LaunchpadService", Call], Awaitable[Any]]
# Inside ComfyUI the routes exist from import time but the service only from app startup
# (keeping ComfyUI's import of the pack light), so routes reach it through this callable.
ServiceRef = Callable[[], "LaunchpadService | None"]


class Link(NamedTuple):
    """An OpenAPI link: ``operation`` (a handler name) takes ``parameters`` from this answer,
    written as runtime expressions like ``$response.body#/presets/0/id``."""

    operation: str
    parameters: dict[str, str]


class Route(NamedTuple):
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    response: Schema | None = None  # for JSON responses
    body: Schema | None = None  # None: the route takes no body
    query: tuple[Param, ...] = ()
    status: int = 200
    content_type: str = "application/json"
    errors: tuple[int, ...] = ()  # documented error statuses besides 400/500
    needs_service: bool = True  # False: the handler also answers (with service None) before startup
    description: str = ""
    max_body: int = MAX_BODY  # bytes; a route that takes a whole workflow needs more
    same_shape: tuple[int, ...] = ()  # other statuses answered with ``response``'s shape (health's 503)
    links: tuple[Link, ...] = ()  # where an answer's ids lead (OpenAPI links: clients and the fuzzer follow them)

    @property
    def path_params(self) -> list[str]:
        return _PATH_PARAM.findall(self.path)

    @property
    def template(self) -> str:
        """The path as OpenAPI writes it: aiohttp's ``{name:regex}`` becomes ``{name}``."""
        return _PATH_PARAM.sub(r"{\1}", self.path)

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


def _dumps(data: object) -> str:
    return json.dumps(data, default=str)


def json_response(data: object, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def _path_params(request: web.Request) -> dict[str, str]:
    params = dict(request.match_info)
    for name, value in params.items():
        schema = PATH_PARAMS.get(name, {})
        try:
            validate(value, schema, f"path.{name}")
        except SchemaError:  # no such thing can exist, saying what an id looks like
            rule = schema.get("description", "see the listing")
            if name == "model_id":
                message = f"a model id is 24 hexadecimal characters, {rule}"
                raise InvalidInput(message, details={"id": value[:80]}) from None
            what = name.replace("_", " ")
            raise NotFound(f"no {what} {value[:80]!r}; {rule}", details={"field": f"path.{name}"}) from None
    return params


def _parse_query(route: Route, request: web.Request) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for param in route.query:
        raw = request.query.get(param.name)
        if raw is None or raw == "":
            continue
        kind = param.schema.get("type")
        value: Any = raw
        if kind == "integer":
            try:
                value = int(raw)
            except ValueError:
                raise InvalidInput(f"query parameter {param.name} must be a whole number, not {raw!r}") from None
        elif kind == "boolean":
            lowered = raw.lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise InvalidInput(f"query parameter {param.name} must be true or false, not {raw!r}")
            value = lowered in ("true", "1", "yes")
        try:
            validate(value, param.schema, f"query.{param.name}")
        except SchemaError as exc:
            raise InvalidInput(str(exc), details={"field": exc.where}) from None
        values[param.name] = value
    return values


async def _read_body(route: Route, request: web.Request) -> dict[str, Any]:
    if route.body is None:
        if request.can_read_body and (request.content_length or 0) > 0:
            raise InvalidInput(f"{route.method} {route.template} takes no body")
        return {}
    # A cross-site <form> can only send the simple content types; requiring JSON means a
    # page elsewhere cannot fire our mutations at a user's open ComfyUI.
    if request.content_type != "application/json":
        raise UnsupportedMediaType(
            f"send the body as JSON with Content-Type: application/json (got {request.content_type or 'none'})"
        )
    limit = route.max_body
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    raw = b""
    while len(raw) <= limit:  # read() returns what has arrived, not all of a large body at once
        chunk = await request.content.read(limit + 1 - len(raw))
        if not chunk:
            break
        raw += chunk
    if len(raw) > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    if not raw.strip():
        data: Any = {}
    else:
        try:
            data = load_json(raw)
        except DocumentError as exc:  # invalid, or nested too deep to handle safely
            raise InvalidInput(f"the body is {exc}") from None
    try:
        validate(data, route.body, "body")
    except SchemaError as exc:
        raise InvalidInput(str(exc), details={"field": exc.where}) from None
    return data


def endpoint(
    route: Route, service_ref: ServiceRef, table: tuple[Route, ...] = ()
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The aiohttp handler for ``route`` (one of ``table``), calling the service ``service_ref`` returns."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            if route.method in UNSAFE_METHODS:  # no mutation from another site's page (CSRF)
                check_origin(request, gate_of(request))
            service = service_ref()
            if service is None and route.needs_service:
                raise Starting("Launchpad is starting; try again in a moment")
            body = await _read_body(route, request)  # first: a form's POST is refused as such (415), whatever its path
            call = Call(request, _path_params(request), _parse_query(route, request), body, table)
            # None reaches only the routes that say needs_service=False, whose handlers take None
            result = await route.handler(cast("LaunchpadService", service), call)
        except web.HTTPException:
            raise
        except Exception as exc:
            return error_response(exc)
        if isinstance(result, web.StreamResponse):
            return result
        return json_response(result, status=route.status)

    handle.__name__ = f"launchpad_{route.operation_id}"
    handle.__doc__ = route.summary
    return handle


def bind(routes: list[Route], service: LaunchpadService | ServiceRef) -> list[tuple[str, str, Any]]:
    """(method, path, aiohttp handler) for every route, given the service or a callable returning it."""
    ref: ServiceRef = service if callable(service) else (lambda: service)
    table = tuple(routes)
    return [(route.method, route.path, endpoint(route, ref, table)) for route in routes]
