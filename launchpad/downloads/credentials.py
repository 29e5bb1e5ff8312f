"""Which token goes to which host: each service's token only to that service's own origin.

A redirect to a CDN (Hugging Face's LFS/Xet storage, Civitai's R2 bucket) is another
origin, so it never sees a token. Origins are compared exactly (scheme, host, port):
``cdn-lfs.huggingface.co`` is not ``huggingface.co``. Tokens never appear in ``repr``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ..config import Settings

Origin = tuple[str, str, int]

_DEFAULT_PORTS = {"http": 80, "https": 443}
HF_PUBLIC = "https://huggingface.co"
CIVITAI_PUBLIC = "https://civitai.com"


def origin(url: str) -> Origin | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return (scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme])


def redact(url: str) -> str:
    """``url`` without its query string and user info: presigned signatures and ``?token=`` stay out of messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}" + ("?…" if parts.query else "")


class Credentials:
    """Answers the Authorization header a request to some URL may carry (usually none)."""

    def __init__(self, settings: Settings) -> None:
        self._by_origin: dict[Origin, str] = {}
        for url, token in (
            (HF_PUBLIC, settings.hf_token),
            (settings.hf_endpoint, settings.hf_token),
            (CIVITAI_PUBLIC, settings.civitai_token),
            (settings.civitai_endpoint, settings.civitai_token),
        ):
            key = origin(url)
            if token and key is not None:
                self._by_origin[key] = token

    def __repr__(self) -> str:
        return f"Credentials({len(self._by_origin)} origins)"

    def headers_for(self, url: str) -> dict[str, str]:
        key = origin(url)
        token = self._by_origin.get(key) if key is not None else None
        return {"Authorization": f"Bearer {token}"} if token else {}
