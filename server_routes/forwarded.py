"""What a request looked like before a reverse proxy (RunPod's, nginx) rewrote it.

RunPod's proxy takes https on a public host and forwards plain http to the pod, possibly with
the Host header rewritten; it says what it changed in X-Forwarded-Proto / X-Forwarded-Host /
X-Forwarded-For (or RFC 7239 ``Forwarded``). Browsers cannot set these headers on a request
a page makes, so trusting them for "is this same-origin" and "was it https" is safe; for the
client address (used only to throttle wrong passwords) we take the entry the nearest proxy
appended, and only when the direct peer is a private address, i.e. plausibly that proxy.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from .hosts import listed, split_host

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _first(value: str | None) -> str | None:
    if not value:
        return None
    first = value.split(",")[0].strip()
    return first or None


def _forwarded(request: web.Request, key: str) -> str | None:
    try:
        entries = request.forwarded
    except Exception:  # a malformed Forwarded header is ignored, not a 500
        return None
    return entries[0].get(key) if entries else None


def public_scheme(request: web.Request) -> str:
    """``https`` when the client reached us over https (directly or through a proxy)."""
    proto = _first(request.headers.get("X-Forwarded-Proto")) or _forwarded(request, "proto")
    if proto and proto.lower() in ("http", "https"):
        return proto.lower()
    return "https" if request.secure else "http"


def host_names(request: web.Request) -> list[str]:
    """Every name this request was addressed to: the forwarded host(s) and the Host header."""
    names = []
    for value in (
        _first(request.headers.get("X-Forwarded-Host")),
        _forwarded(request, "host"),
        request.headers.get("Host"),
    ):
        if value and value.strip().lower() not in names:
            names.append(value.strip().lower())
    return names


def same_origin(origin: str, request: web.Request, allowed_hosts: tuple[str, ...] = ()) -> bool:
    """Whether the ``Origin`` a browser sent names this server: a host this request was addressed
    to (each already passed the host check, hosts.py, so none is an attacker's name), or a name
    listed in ALLOWED_HOSTS (the pod proxy's pattern is not enough: other pods match it too).

    Host names must be equal; ports only when both sides state one (a proxy may drop the
    port from the Host header, and the scheme may change at the proxy), as ComfyUI's own
    origin check does.
    """
    try:
        parts = urlsplit(origin)
        o_host, o_port = (parts.hostname or ""), parts.port
    except ValueError:
        return False
    if parts.scheme not in _DEFAULT_PORTS or not o_host:
        return False
    if listed(o_host, allowed_hosts):
        return True
    for name in host_names(request):
        split = split_host(name)
        if split is None:
            continue
        host, port = split
        if host == o_host and (port is None or o_port is None or port == o_port):
            return True
    return False


def _is_private(address: str) -> bool:
    import ipaddress  # only with auth on, when someone fails to log in

    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_private or ip.is_loopback or ip.is_link_local or ip in ipaddress.ip_network("100.64.0.0/10")


def client_key(request: web.Request) -> str:
    """Who is asking, for throttling: the peer, or what the nearest proxy says the peer was."""
    peer = request.remote or "unknown"
    if _is_private(peer):
        chain = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()]
        if chain:
            return chain[-1][:64]
    return peer
