"""Which client-supplied download URLs Launchpad accepts, and which file formats can run code.

Installs normally take a catalog id, never a URL. A custom URL is accepted only when
ALLOW_CUSTOM_URLS is on, and then only over https (plain http only to this machine), to a host
in ALLOWED_URL_HOSTS or a subdomain of one, with no credentials in the URL, saving a file with
a model extension. Pickle-based formats (.ckpt, .pt, .pth, .bin, .pkl) can run arbitrary code
when loaded; they are allowed but flagged so the UI can warn.

The same rules hold for every hop of such a download (and of a workflow's links): each
redirect is checked again (:class:`HopPolicy`), and the address actually connected to must be
public (loopback, private, link-local, carrier-grade NAT and cloud metadata addresses are
refused) unless ALLOW_PRIVATE_URL_ADDRESSES lists it. The address is checked where the
connection is made (downloads/guard.py), not by a lookup of its own that a second DNS answer
could contradict.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from .config import Settings
from .errors import Forbidden, InvalidInput
from .files import PICKLE_EXTENSIONS, unsafe_reason

SAFE_EXTENSIONS = frozenset({".safetensors", ".sft", ".gguf", ".onnx"})
MODEL_EXTENSIONS = PICKLE_EXTENSIONS | SAFE_EXTENSIONS
MAX_URL_CHARS = 2048
_LOOPBACK_NAMES = {"localhost"}


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """``host`` is an allowed host or a subdomain of one (``cdn.example.com`` under ``example.com``)."""
    host = host.lower().rstrip(".")
    for entry in allowed:
        entry = entry.lower().strip().lstrip(".").rstrip(".")
        if entry and (host == entry or host.endswith("." + entry)):
            return True
    return False


@dataclass(frozen=True)
class CustomUrl:
    url: str
    host: str
    name: str  # the file name to save as (checked, relative)
    pickle: bool


DISABLED_MESSAGE = (
    "Downloads from a custom URL are switched off. To allow them, set ALLOW_CUSTOM_URLS=1 and list "
    "the hosts you trust in ALLOWED_URL_HOSTS (comma separated, e.g. huggingface.co,civitai.com)."
)


def check_custom_url(url: str, name: str | None, settings: Settings) -> CustomUrl:
    """Validate a client-supplied download; raises Forbidden (switch, host) or InvalidInput (shape).

    ``name`` is the file name to save as; without it the last segment of the URL path is used.
    """
    if not settings.allow_custom_urls:
        raise Forbidden(DISABLED_MESSAGE)
    if len(url) > MAX_URL_CHARS or any(ord(ch) < 33 or ch == "\x7f" for ch in url):
        raise InvalidInput("url must be one absolute https URL without spaces or control characters")
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise InvalidInput("url is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not host:
        raise InvalidInput("url must be an absolute https:// URL")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("url must not carry credentials; tokens come from HF_TOKEN / CIVITAI_TOKEN")
    if parts.scheme == "http" and not _is_loopback(host):  # a policy, like the host list: 403
        raise Forbidden("url must use https (plain http is accepted only for this machine)")
    if not host_allowed(host, settings.allowed_url_hosts):
        raise Forbidden(
            f"downloads from {host} are not allowed; add it to ALLOWED_URL_HOSTS "
            f"(now: {', '.join(settings.allowed_url_hosts) or 'empty'})"
        )
    if name is None:
        name = unquote(PurePosixPath(parts.path).name)
    reason = unsafe_reason(name)
    if reason:
        raise InvalidInput(f"name {reason}")
    suffix = PurePosixPath(name.lower()).suffix
    if suffix not in MODEL_EXTENSIONS:
        raise InvalidInput(
            f"name must end in a model extension ({', '.join(sorted(MODEL_EXTENSIONS))}); got {name!r}"
        )
    return CustomUrl(url=url, host=host, name=name, pickle=suffix in PICKLE_EXTENSIONS)


IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def public_address(ip: IpAddress) -> bool:
    """Routable on the internet: not loopback, private, link-local (cloud metadata), CGNAT, multicast..."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return ip.is_global and not ip.is_multicast


# The storage an allowed service redirects its downloads to: followed after a redirect from
# that service like the service itself (the first URL must still be in ALLOWED_URL_HOSTS).
SERVICE_CDNS: dict[str, tuple[str, ...]] = {
    "huggingface.co": ("hf.co",),  # cdn-lfs.hf.co, cas-bridge.xethub.hf.co
    "civitai.com": ("r2.cloudflarestorage.com",),  # Civitai's delivery buckets
}


@dataclass(frozen=True)
class HopPolicy:
    """What every hop of a client-supplied download must satisfy; raises Forbidden otherwise."""

    hosts: tuple[str, ...]  # ALLOWED_URL_HOSTS: each hop's host (or a parent domain) must be listed
    private: tuple[IpNetwork, ...] = field(default=())  # ALLOW_PRIVATE_URL_ADDRESSES
    max_hops: int = 5  # redirects followed at most

    @classmethod
    def from_settings(cls, settings: Settings) -> HopPolicy:
        hosts = list(settings.allowed_url_hosts)
        for service, cdns in SERVICE_CDNS.items():  # where an allowed service sends its files
            if host_allowed(service, settings.allowed_url_hosts):
                hosts.extend(cdn for cdn in cdns if cdn not in hosts)
        return cls(tuple(hosts), tuple(ipaddress.ip_network(n) for n in settings.private_url_networks))

    def check_url(self, url: str) -> None:
        """The scheme and host of one hop (the first URL or a redirect's target)."""
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
        except ValueError:
            raise Forbidden("a redirect pointed to a malformed URL; the download was stopped") from None
        if parts.scheme not in ("https", "http") or not host:
            raise Forbidden(f"a redirect pointed to a {parts.scheme or 'relative'}: URL, not https; the download was "
                            "stopped")
        if parts.scheme == "http" and not _is_loopback(host):
            raise Forbidden(f"a redirect pointed to plain http on {host}; only https is followed")
        if not host_allowed(host, self.hosts):
            raise Forbidden(
                f"a redirect pointed to {host}, which is not in ALLOWED_URL_HOSTS "
                f"(now: {', '.join(self.hosts) or 'empty'}); add it if you trust it"
            )
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return  # a name: its addresses are checked when connecting
        self.check_address(host, literal)

    def check_address(self, host: str, ip: IpAddress | str) -> None:
        """An address ``host`` resolved to, before connecting to it."""
        address = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
        if public_address(address) or any(address in network for network in self.private):
            return
        raise Forbidden(
            f"{host} leads to {address}, a loopback, private, link-local or otherwise non-public address; a "
            "download from a client-given URL may only reach public addresses. If that server is yours, list it "
            "in ALLOW_PRIVATE_URL_ADDRESSES."
        )
