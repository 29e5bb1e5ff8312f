"""Resolving a catalog file to something we can fetch: final URL, size, sha256, range support.

Hugging Face goes through huggingface_hub (metadata, auth, its error vocabulary), Civitai
through its public API plus the download redirect, plain URLs through a one-byte probe. Every
failure becomes a :class:`DownloadError` whose message says what to do.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import TypeVar
from urllib.parse import urljoin

import aiohttp

from ..catalog.schema import CivitaiSource, HFSource, ModelFile, UrlSource
from ..config import Settings
from ..errors import ChecksumMismatch, DownloadError, RateLimited, SourceNotFound, SourceUnauthorized
from ..url_policy import HopPolicy
from . import fetch
from .credentials import CIVITAI_PUBLIC, HF_PUBLIC, Credentials, redact

log = logging.getLogger(__name__)

SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$")
T = TypeVar("T")


@dataclass(frozen=True)
class Resolved:
    """Where the bytes are and what they must be."""

    url: str  # the URL to GET (after redirects: often a presigned CDN URL)
    size: int | None
    sha256: str | None
    etag: str | None  # the server's validator for the bytes at ``url`` (If-Range)
    ranges: bool  # the server honours Range requests
    commit: str | None = None  # Hugging Face: the commit the revision resolved to
    filename: str | None = None  # Content-Disposition's name (Civitai names files this way)

    @property
    def identity(self) -> str:
        """What a partial file must have been made from to be resumed with these bytes."""
        if self.sha256:
            return f"sha256:{self.sha256}"
        if self.etag:
            return f"etag:{self.etag}:{self.size}"
        return f"url:{redact(self.url)}:{self.size}"


@dataclass(frozen=True)
class Probe:
    url: str
    size: int | None
    etag: str | None
    ranges: bool
    content_type: str
    filename: str | None


def parse_content_range(value: str | None) -> tuple[int | None, int | None, int | None]:
    """``bytes 0-0/1234`` -> (0, 0, 1234); unknown parts are None."""
    match = _CONTENT_RANGE.match(value or "")
    if not match:
        return None, None, None
    start, end, total = match.groups()
    return (
        int(start) if start is not None else None,
        int(end) if end is not None else None,
        int(total) if total and total != "*" else None,
    )


def strong_etag(value: str | None) -> str | None:
    """An ETag usable for If-Range (weak ones are not), with its quotes."""
    if not value or value.startswith("W/"):
        return None
    return value.strip()


def _basename(name: str | None) -> str | None:
    if not name:
        return None
    base = PurePosixPath(name.replace("\\", "/")).name.strip()
    return base or None


class Resolver:
    """Turns a :class:`ModelFile` into a :class:`Resolved`, with retries on transient failures."""

    def __init__(
        self, settings: Settings, session: aiohttp.ClientSession, credentials: Credentials,
        policy: HopPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.session = session
        self.credentials = credentials
        self.policy = policy  # set for client-supplied URLs: every hop checked (fetch.get)

    async def resolve(self, model_file: ModelFile) -> Resolved:
        """Where the bytes are and what they must be. Before a byte is fetched, the sha256 the
        source advertises (the Hub's X-Linked-Etag, Civitai's hashes) must be the catalog's:
        ChecksumMismatch otherwise, naming both."""
        source = model_file.source
        if isinstance(source, HFSource):
            resolved = await self._hf(source, model_file)
        elif isinstance(source, CivitaiSource):
            resolved = await self._civitai(source, model_file)
        else:
            resolved = await self._url(source)
        # The catalog pins what the file must be; a source that says nothing is checked at verify.
        if model_file.sha256 and model_file.sha256 != resolved.sha256:
            resolved = replace(resolved, sha256=model_file.sha256)
        if resolved.size is None and model_file.size:
            resolved = replace(resolved, size=model_file.size)
        return resolved

    # --- retries ------------------------------------------------------------------

    async def _retrying(self, what: str, call: Callable[[], Awaitable[T]], transient: Callable[[BaseException], bool],
                        hint: Callable[[BaseException], float | None]) -> T:
        attempt = 0
        while True:
            try:
                return await call()
            except Exception as exc:
                attempt += 1
                if not transient(exc) or attempt > self.settings.retries:
                    raise
                delay = fetch.backoff_delay(attempt, self.settings.retry_backoff, hint(exc))
                log.info("%s failed (%s); retrying in %.1f s", what, exc, delay)
                await asyncio.sleep(delay)

    # --- probe ----------------------------------------------------------------------

    async def probe(self, url: str) -> Probe:
        """A one-byte ranged GET: tells range support, size, validator and content type."""
        async with fetch.get(self.session, url, self.credentials, {"Range": "bytes=0-0"}, self.policy) as response:
            final = str(response.url)
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            disposition = response.content_disposition
            filename = _basename(disposition.filename if disposition else None)
            etag = strong_etag(response.headers.get("ETag"))
            if response.status == 206:
                _, _, total = parse_content_range(response.headers.get("Content-Range"))
                await response.read()  # one byte; lets the connection be reused
                return Probe(final, total, etag, total is not None, content_type, filename)
            if response.status == 200:
                # The server ignored Range; don't read its whole body, just learn what we can.
                encoded = response.headers.get("Content-Encoding", "identity").lower() not in ("", "identity")
                length = response.headers.get("Content-Length")
                size = int(length) if length and length.isdigit() and not encoded else None
                response.close()
                return Probe(final, size, etag, False, content_type, filename)
            if response.status == 416:
                _, _, total = parse_content_range(response.headers.get("Content-Range"))
                if total == 0:
                    return Probe(final, 0, etag, True, content_type, filename)
            raise fetch.BadStatus(
                response.status, final, retry_after=fetch.retry_after(response.headers),
                detail=response.headers.get("X-Error-Message", ""),
            )

    async def _probe(self, url: str, label: str) -> Probe:
        try:
            return await self._retrying(
                f"probing {redact(url)}", lambda: self.probe(url), fetch.is_transient,
                lambda e: getattr(e, "retry_after", None),
            )
        except fetch.BadStatus as exc:
            raise http_error(exc, label) from None
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise DownloadError(
                f"{label}: {fetch.describe(exc, self.settings.stall_timeout)} ({redact(url)}); "
                "check the network and retry",
            ) from None

    # --- Hugging Face ------------------------------------------------------------------

    async def _hf(self, source: HFSource, model_file: ModelFile) -> Resolved:
        from huggingface_hub import get_hf_file_metadata, hf_hub_url

        endpoint = self.settings.hf_endpoint
        url = hf_hub_url(source.repo, source.path, revision=source.revision, endpoint=endpoint)
        token = self.settings.hf_token or False

        def head() -> object:
            timeout = max(10.0, self.settings.stall_timeout)
            return get_hf_file_metadata(url, token=token, endpoint=endpoint, timeout=timeout)

        try:
            meta = await self._retrying(
                f"Hugging Face metadata for {source.repo}/{source.path}",
                lambda: asyncio.get_running_loop().run_in_executor(None, head),
                _hf_transient,
                _hf_retry_after,
            )
        except Exception as exc:
            raise hf_error(exc, source, self.settings) from None
        etag = (getattr(meta, "etag", None) or "").lower()
        sha256 = etag if SHA256.match(etag) else None
        check_advertised(model_file, sha256, f"Hugging Face ({source.repo}/{source.path} at {source.revision})")
        size = getattr(meta, "size", None)
        location = urljoin(url, getattr(meta, "location", None) or url)
        probe = await self._probe(location, f"Hugging Face {source.repo}/{source.path}")
        if probe.content_type == "text/html":
            raise DownloadError(
                f"Hugging Face {source.repo}/{source.path}: the download answered with a web page, not the file; "
                f"check HF_ENDPOINT ({endpoint})",
            )
        return Resolved(
            url=probe.url,
            size=size if size is not None else probe.size,
            sha256=sha256,
            etag=probe.etag,
            ranges=probe.ranges,
            commit=getattr(meta, "commit_hash", None),
            filename=probe.filename,
        )

    # --- Civitai -----------------------------------------------------------------------

    async def _civitai_metadata(self, source: CivitaiSource, model_file: ModelFile) -> dict[str, object] | None:
        """The version's file entry (name, hashes, sizeKB), or None when the API can't say."""
        url = f"{self.settings.civitai_endpoint}/api/v1/model-versions/{source.version}"

        async def call() -> dict[str, object] | None:
            async with fetch.get(self.session, url, self.credentials, {"Accept": "application/json"}) as response:
                if response.status == 404:
                    raise SourceNotFound(
                        f"Civitai model version {source.version} does not exist or is not published; "
                        "check the version id in the preset",
                        details={"version": source.version},
                    )
                if response.status != 200:
                    raise fetch.BadStatus(response.status, url, retry_after=fetch.retry_after(response.headers))
                data = await response.json(content_type=None)
            files = data.get("files") if isinstance(data, dict) else None
            if not isinstance(files, list) or not files:
                return None
            wanted = PurePosixPath(model_file.name).name
            entries = [f for f in files if isinstance(f, dict)]
            return (
                next((f for f in entries if f.get("name") == wanted), None)
                or next((f for f in entries if f.get("primary")), None)
                or (entries[0] if len(entries) == 1 else None)
            )

        try:
            return await self._retrying(f"Civitai metadata for {source.version}", call, fetch.is_transient,
                                        lambda e: getattr(e, "retry_after", None))
        except SourceNotFound:
            raise
        except Exception as exc:  # metadata is a bonus (the sha256); the download itself decides
            log.info("Civitai metadata for version %s unavailable: %s", source.version, exc)
            return None

    async def _civitai(self, source: CivitaiSource, model_file: ModelFile) -> Resolved:
        entry = await self._civitai_metadata(source, model_file)
        sha256 = None
        if entry:
            hashes = entry.get("hashes")
            value = str(hashes.get("SHA256", "")).lower() if isinstance(hashes, dict) else ""
            sha256 = value if SHA256.match(value) else None
        check_advertised(model_file, sha256, f"Civitai (model version {source.version})")
        url = f"{self.settings.civitai_endpoint}/api/download/models/{source.version}"
        label = f"Civitai model version {source.version}"
        try:
            probe = await self._probe(url, label)
        except SourceUnauthorized as exc:
            if exc.details.get("status") == 403:
                raise SourceUnauthorized(
                    f"{label}: Civitai refused the download (HTTP 403): early access, or the creator restricts "
                    "downloads; check the model page while logged in",
                    details={"version": source.version, "status": 403},
                ) from None
            raise SourceUnauthorized(civitai_login_message(source, self.settings),
                                     details={"version": source.version, "status": exc.details.get("status")}) from None
        if probe.content_type == "text/html" or "/login" in probe.url.split("?")[0]:
            raise SourceUnauthorized(civitai_login_message(source, self.settings), details={"version": source.version})
        return Resolved(
            url=probe.url, size=probe.size, sha256=sha256, etag=probe.etag, ranges=probe.ranges, filename=probe.filename
        )

    # --- plain URLs ----------------------------------------------------------------------

    async def _url(self, source: UrlSource) -> Resolved:
        label = redact(source.url)
        probe = await self._probe(source.url, label)
        if probe.content_type == "text/html":
            raise DownloadError(
                f"{label} answered with a web page, not a file: the link probably needs a login or points to a "
                "page instead of the download",
                details={"url": label},
            )
        return Resolved(url=probe.url, size=probe.size, sha256=None, etag=probe.etag, ranges=probe.ranges,
                        filename=probe.filename)


# --- sizes before a download ---------------------------------------------------------------

PATHS_PER_CALL = 100  # paths per get_paths_info request (the Hub answers a few hundred at most)


def hf_sizes(settings: Settings, files: Sequence[ModelFile]) -> dict[str, int | None]:
    """Each Hugging Face file's size by key, one ``paths-info`` request per repository and revision
    (and per :data:`PATHS_PER_CALL` files); None where the Hub could not say. Blocking: run it in a thread."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=settings.hf_endpoint, token=settings.hf_token or False)
    groups: dict[tuple[str, str], list[tuple[str, HFSource]]] = {}
    for model_file in files:
        if isinstance(model_file.source, HFSource):
            source = model_file.source
            groups.setdefault((source.repo, source.revision), []).append((model_file.key, source))
    sizes: dict[str, int | None] = {}
    failures: list[str] = []
    for (repo, revision), members in groups.items():
        for start in range(0, len(members), PATHS_PER_CALL):
            chunk = members[start:start + PATHS_PER_CALL]
            try:
                infos = api.get_paths_info(repo, [s.path for _, s in chunk], revision=revision, expand=False)
            except Exception as exc:  # offline, gated, missing: the sizes stay unknown for now
                failures.append(f"{repo}@{revision}: {hf_error(exc, chunk[0][1], settings).message}")
                infos = []
            found = {info.path: getattr(info, "size", None) for info in infos}
            for key, source in chunk:
                size = found.get(source.path)
                sizes[key] = size if isinstance(size, int) and size >= 0 else None
    if failures:
        log.info("%s gave no sizes for %d of %d repositories; first: %s", settings.hf_endpoint, len(failures),
                 len(groups), failures[0])
    return sizes


# --- error messages ---------------------------------------------------------------------


def check_advertised(model_file: ModelFile, advertised: str | None, who: str) -> None:
    """ChecksumMismatch when the source advertises a sha256 other than the catalog's."""
    if model_file.sha256 is None or advertised is None or advertised == model_file.sha256:
        return
    raise ChecksumMismatch(
        f"{model_file.key}: the catalog says its sha256 is {model_file.sha256}, but {who} advertises "
        f"{advertised}. The preset is out of date or the file changed at the source; nothing was downloaded. "
        "Check the file at the source, then correct or remove the sha256 in the preset",
        details={"key": model_file.key, "catalog_sha256": model_file.sha256, "source_sha256": advertised,
                 "source": model_file.source.url},
    )


def civitai_login_message(source: CivitaiSource, settings: Settings) -> str:
    if settings.civitai_token:
        return (
            f"Civitai did not accept CIVITAI_TOKEN for model version {source.version} (it answered with its login "
            "page). Create a new API key under Account settings -> API Keys at "
            f"{CIVITAI_PUBLIC}/user/account and set CIVITAI_TOKEN to it."
        )
    return (
        f"Civitai requires an API key to download model version {source.version}. Create one under Account "
        f"settings -> API Keys at {CIVITAI_PUBLIC}/user/account and set CIVITAI_TOKEN to it."
    )


def http_error(exc: fetch.BadStatus, label: str) -> DownloadError:
    """A final HTTP status from a download URL, as something a person can act on."""
    where = redact(exc.url)
    if exc.status == 429:
        when = f" in {exc.retry_after:.0f} s" if exc.retry_after else " in a few minutes"
        return RateLimited(f"{label}: the server is rate limiting us; retry{when}", retry_after=exc.retry_after)
    if exc.status in (401, 403):
        return SourceUnauthorized(
            f"{label}: {where} refused access (HTTP {exc.status}); the link needs credentials or has expired",
            details={"status": exc.status},
        )
    if exc.status in (404, 410):
        return SourceNotFound(f"{label}: {where} does not exist (HTTP {exc.status})", details={"status": exc.status})
    error = DownloadError(f"{label}: {exc}; retry later", details={"status": exc.status})
    error.retryable = exc.transient
    return error


def _hf_status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _hf_transient(exc: BaseException) -> bool:
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(exc, HfHubHTTPError):
        status = _hf_status(exc)
        return status is not None and (status in fetch.RETRY_STATUSES or status >= 500)
    return _is_network_error(exc)


def _hf_retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    return fetch.retry_after(headers) if headers is not None else None


def _is_network_error(exc: BaseException) -> bool:
    transport: tuple[type[BaseException], ...] = ()
    for name in ("httpx2", "httpx"):  # huggingface_hub 2.x talks through httpx2, older ones through httpx
        try:
            transport = (importlib.import_module(name).TransportError,)
            break
        except ImportError:
            continue
    return isinstance(exc, (*transport, ConnectionError, TimeoutError))


def hf_error(exc: BaseException, source: HFSource, settings: Settings) -> DownloadError:
    """huggingface_hub's exceptions, most specific first, as messages that say what to do."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    repo, revision, path = source.repo, source.revision, source.path
    details: dict[str, object] = {"repo": repo, "revision": revision, "path": path}
    status = _hf_status(exc)
    if status is not None:
        details["status"] = status
    no_token = "" if settings.hf_token else " No Hugging Face token is configured: set HF_TOKEN."
    if isinstance(exc, GatedRepoError):
        details["license_url"] = f"{HF_PUBLIC}/{repo}"
        return SourceUnauthorized(
            f"Model {repo} is gated. Open {HF_PUBLIC}/{repo}, accept the license with the Hugging Face account "
            f"whose token is configured, then retry.{no_token}",
            details=details,
        )
    if isinstance(exc, RepositoryNotFoundError):
        if status == 401 and settings.hf_token and _hf_invalid_token(exc):
            return SourceUnauthorized(_invalid_token_message(), details=details)
        return SourceNotFound(
            f"Repository {repo} not found on Hugging Face, or it is private. Check the repo id; if it is private, "
            f"set HF_TOKEN to a token with read access.{no_token if status == 401 else ''}",
            details=details,
        )
    if isinstance(exc, RevisionNotFoundError):
        return SourceNotFound(f"Revision {revision} does not exist in {repo}.", details=details)
    if isinstance(exc, RemoteEntryNotFoundError):
        return SourceNotFound(f"File {path} not found in {repo}@{revision}.", details=details)
    if isinstance(exc, HfHubHTTPError):
        if status == 401:
            return SourceUnauthorized(_invalid_token_message() if settings.hf_token else
                                      f"Hugging Face wants a token for {repo}: set HF_TOKEN.", details=details)
        if status == 403:
            return SourceUnauthorized(
                f"Hugging Face refused access to {repo} (HTTP 403): the token lacks permission or the repository is "
                f"disabled.{no_token}",
                details=details,
            )
        if status == 429:
            wait = _hf_retry_after(exc)
            when = f"in {wait:.0f} s" if wait else "in a few minutes"
            hint = "" if settings.hf_token else " Setting HF_TOKEN raises the limit (anonymous limits are per IP)."
            return RateLimited(f"Hugging Face is rate limiting requests; retry {when}.{hint}", retry_after=wait)
        if status is not None and status >= 500:
            return DownloadError(f"Hugging Face is having problems (HTTP {status}); retry later.", details=details)
        return DownloadError(f"Hugging Face answered HTTP {status} for {repo}/{path}.", details=details)
    if exc.__class__.__name__ == "FileMetadataError":
        return DownloadError(
            f"{settings.hf_endpoint} does not look like a Hugging Face Hub (no commit or ETag in its answer); "
            "check HF_ENDPOINT.",
            details=details,
        )
    if _is_network_error(exc):
        return DownloadError(
            f"Cannot reach {settings.hf_endpoint} ({type(exc).__name__}); check the network, DNS or proxy and retry.",
            details=details,
        )
    return DownloadError(f"Hugging Face metadata for {repo}/{path} failed: {exc}", details=details)


def _hf_invalid_token(exc: BaseException) -> bool:
    return getattr(exc, "server_message", None) == "Invalid credentials in Authorization header" or (
        "Invalid credentials" in str(exc)
    )


def _invalid_token_message() -> str:
    return (
        "Hugging Face rejected HF_TOKEN (invalid credentials). Create a new read token at "
        f"{HF_PUBLIC}/settings/tokens and set HF_TOKEN to it."
    )
