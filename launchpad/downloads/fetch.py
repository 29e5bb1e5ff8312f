"""HTTP GETs with our own redirect handling, so credentials are chosen again at every hop.

aiohttp would follow redirects itself, but we want the decision about the Authorization
header in one place (:class:`Credentials`) for every URL a request touches, including
presigned CDN URLs. Also the retry policy shared by probing and transferring.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import aiohttp

from .. import __version__
from ..errors import DownloadError, Forbidden
from ..url_policy import HopPolicy
from .credentials import Credentials, redact

USER_AGENT = f"comfyui-launchpad/{__version__}"
MAX_REDIRECTS = 10
REDIRECTS = frozenset({301, 302, 303, 307, 308})
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})
MAX_BACKOFF = 60.0
_RATELIMIT_T = re.compile(r"(?:^|[;,\s])t=(\d+)")


class BadStatus(Exception):
    """The server answered with a status we did not ask for. Mapped to a user error by the caller."""

    def __init__(self, status: int, url: str, *, retry_after: float | None = None, detail: str = "") -> None:
        super().__init__(f"HTTP {status} from {redact(url)}" + (f": {detail}" if detail else ""))
        self.status = status
        self.url = url
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        return self.status in RETRY_STATUSES or self.status >= 500


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked us to wait (Retry-After, or the IETF RateLimit header's t=)."""
    value = headers.get("Retry-After")
    if value:
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            pass
    match = _RATELIMIT_T.search(headers.get("RateLimit", ""))
    return float(match.group(1)) if match else None


def is_transient(exc: BaseException) -> bool:
    """Whether trying the same request again later may help."""
    if isinstance(exc, BadStatus):
        return exc.transient
    return isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError))


def describe(exc: BaseException, stall_timeout: float) -> str:
    """A short human description of a network failure."""
    if isinstance(exc, (aiohttp.ServerTimeoutError, asyncio.TimeoutError)):
        return f"no data for {stall_timeout:g} s (the connection stalled)"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the connection closed in the middle of the file"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    if isinstance(exc, BadStatus):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def backoff_delay(attempt: int, base: float, hint: float | None = None) -> float:
    """Exponential backoff with jitter; a server's Retry-After wins when it asks for longer."""
    delay = min(MAX_BACKOFF, base * (2 ** max(0, attempt - 1)))
    delay *= 0.75 + random.random() / 2
    if hint is not None:
        delay = max(delay, min(hint, 15 * 60.0))
    return delay


@asynccontextmanager
async def get(
    session: aiohttp.ClientSession,
    url: str,
    credentials: Credentials,
    headers: Mapping[str, str] | None = None,
    policy: HopPolicy | None = None,
) -> AsyncIterator[aiohttp.ClientResponse]:
    """GET ``url`` following redirects; the response is the final hop's, whatever its status.

    With a ``policy`` (a client-supplied URL) every hop is checked before it is requested, at
    most ``policy.max_hops`` redirects are followed, and ``session`` must be a guarded one
    (guard.py) so the addresses connected to are checked too. Without one, a redirect to
    anything but http(s) still ends the download at once (it would never succeed on retry).
    """
    current = url
    hops = policy.max_hops if policy is not None else MAX_REDIRECTS
    for _ in range(hops + 1):
        if policy is not None:
            policy.check_url(current)
        request_headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **(headers or {})}
        request_headers.update(credentials.headers_for(current))
        response = await session.get(current, headers=request_headers, allow_redirects=False)
        location = response.headers.get("Location")
        if response.status in REDIRECTS and location:
            response.release()
            current = urljoin(current, location)
            if urlsplit(current).scheme.lower() not in ("http", "https"):
                raise Forbidden(f"{redact(url)} redirected to a {urlsplit(current).scheme or 'relative'}: URL, "
                                "which is never followed")
            continue
        try:
            yield response
        finally:
            response.release()
        return
    raise DownloadError(f"{redact(url)} led through more than {hops} redirects; the download was stopped")
