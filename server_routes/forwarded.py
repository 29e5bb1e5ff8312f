"""What a request looked like before a reverse proxy (RunPod's, nginx) rewrote it.

RunPod's proxy takes https on a public host and forwards plain http to the pod, possibly with
the Host header rewritten; it says what it changed in X-Forwarded-Proto / X-Forwarded-Host /
X-Forwarded-For (or RFC 7239 ``Forwarded``). Browsers cannot set these headers on a request
a page makes, so trusting them for "is this same-origin" and "was it https" is safe. The client
address (used only to throttle wrong passwords) is another matter: anyone can send
X-Forwarded-For, so it is believed only from a proxy listed in TRUSTED_PROXIES.
"""

from __future__ import annotations

import ipaddress
import logging
from functools import lru_cache
from urllib.parse import urlsplit

from aiohttp import web

from .hosts import listed, split_host

log = logging.getLogger("launchpad.auth")

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


@lru_cache(maxsize=8)
def _networks(trusted: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(net) for net in trusted)  # config.py checked them


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(text: str, networks: tuple) -> bool:
    address = _address(text)
    return address is not None and any(address in net for net in networks)


def _key(text: str) -> str:
    """A throttling key for an address; IPv6 by its /64, which one machine usually has all of."""
    address = _address(text)
    if address is None:
        return text[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address.packed[:8] + bytes(8), 64)))
    return str(address)


_ignored: set[str] = set()


def client_key(request: web.Request, trusted_proxies: tuple[str, ...] = ()) -> str:
    """Who is asking, for throttling wrong passwords.

    The direct peer, unless it is a proxy listed in TRUSTED_PROXIES: then the rightmost address
    in X-Forwarded-For that is not itself a trusted proxy (the one the nearest untrusted hop
    was seen from; anything a client forges further left is ignored).
    """
    peer = request.remote or "unknown"
    forwarded = request.headers.get("X-Forwarded-For")
    networks = _networks(trusted_proxies)
    if not forwarded or not _trusted(peer, networks):
        if forwarded and peer not in _ignored and len(_ignored) < 100:
            _ignored.add(peer)  # once per peer: say how to make it count
            log.info("X-Forwarded-For from %s is ignored for login throttling; if that is your proxy, add it to "
                     "TRUSTED_PROXIES", peer)
        return _key(peer)
    chain = [part.strip() for part in forwarded.split(",") if part.strip()]
    for hop in reversed(chain):
        if not _trusted(hop, networks):
            return _key(hop)
    return _key(chain[0]) if chain else _key(peer)
