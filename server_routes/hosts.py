"""Which names a request may address this server by: the defence against DNS rebinding.

A page on an attacker's domain can make its name resolve to this machine (or to a pod's proxy
address) and then talk to us as "same origin": its requests carry ``Host`` and ``Origin`` of the
attacker's domain, and no cookie or login is needed while auth is off. Such a request always
names a host we do not know, so every request must name one we do:

- loopback names (``localhost``, ``*.localhost``) and IP literals: a rebinding needs a *name*;
- the pod proxy's names, ``<podid>-<port>.proxy.runpod.net`` (RunPod controls that domain);
- the names in ALLOWED_HOSTS (``name``, or ``.name`` for it and its subdomains); ``*`` allows
  any name, today's behaviour before this check, with a warning at start.

Every name the request carries is checked: ``Host`` and what a proxy forwarded
(``X-Forwarded-Host``, ``Forwarded: host=``), since a proxy may put the browser's name there.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ..launchpad.config import is_ip_literal

RUNPOD_PROXY = re.compile(r"^[a-z0-9]+-\d{1,5}\.proxy\.runpod\.net$")
HINT = (
    "If that name is yours, add it to ALLOWED_HOSTS (comma separated, .example.com for a domain and its "
    "subdomains; * allows any name and turns this DNS-rebinding protection off)."
)


def split_host(value: str) -> tuple[str, int | None] | None:
    """(host, port) of a ``Host``-style value, host lowercased without a trailing dot; None if malformed."""
    try:
        parts = urlsplit("//" + value.strip())
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").rstrip(".")
    if not host or parts.path or parts.query or parts.username is not None:
        return None
    return host, port


def listed(host: str, allowed: tuple[str, ...]) -> bool:
    """``host`` matches an ALLOWED_HOSTS entry other than ``*`` (``.example.com``: it or a subdomain)."""
    for entry in allowed:
        entry = entry.lower().rstrip(".")
        if entry.startswith("*."):
            entry = entry[1:]
        if entry.startswith("."):
            if host == entry[1:] or host.endswith(entry):
                return True
        elif host == entry:
            return True
    return False


def host_allowed(value: str, allowed: tuple[str, ...]) -> bool:
    """Whether a request may address us as ``value`` (a Host header: ``name[:port]``)."""
    if "*" in allowed:
        return True
    split = split_host(value)
    if split is None:
        return False
    host = split[0]
    return (
        is_ip_literal(host)
        or host == "localhost"
        or host.endswith(".localhost")
        or RUNPOD_PROXY.match(host) is not None
        or listed(host, allowed)
    )
