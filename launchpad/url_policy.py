"""Which client-supplied download URLs Launchpad accepts, and which file formats can run code.

Installs normally take a catalog id, never a URL. A custom URL is accepted only when
ALLOW_CUSTOM_URLS is on, and then only over https (plain http only to this machine), to a host
in ALLOWED_URL_HOSTS or a subdomain of one, with no credentials in the URL, saving a file with
a model extension. Pickle-based formats (.ckpt, .pt, .pth, .bin, .pkl) can run arbitrary code
when loaded; they are allowed but flagged so the UI can warn.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
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
    if parts.scheme == "http" and not _is_loopback(host):
        raise InvalidInput("url must use https (plain http is accepted only for this machine)")
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
