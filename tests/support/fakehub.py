"""A real HTTP server for download tests: a fake Hugging Face Hub, a fake Civitai and a file
server that misbehaves on demand. Import it from any test (HTTP API, browser, start script).

It runs an aiohttp server on 127.0.0.1 (ephemeral port) in a background thread, so it serves
sync tests, async tests and subprocesses alike::

    hub = FakeHub().start()
    sha = hub.add_hf_file("acme/model", "weights/model.safetensors", data)   # HF_ENDPOINT=hub.url
    url = hub.add_file("plain.bin", data)                                      # a direct URL
    hub.add_civitai(4242, data, "model.safetensors")                           # CIVITAI_ENDPOINT=hub.url
    hub.tree_calls(), hub.civitai_hash_calls()                                 # listings, lookups by hash
    hub.behave("plain.bin", drop_after=100_000)                                # misbehave once
    ...
    hub.bytes_sent("plain.bin"), hub.requests_for("plain.bin")                 # what happened
    hub.paths_info_calls()                                                     # batched size questions
    hub.stop()

What it answers (huggingface-notes.md, section 4): ``HEAD``/``GET
/{org}/{repo}/resolve/{revision}/{path}`` with ``X-Repo-Commit``, ``ETag``/``X-Linked-Etag``
(the sha256) and ``X-Linked-Size``, never ``X-Xet-Hash``; ``X-Error-Code`` for gated, private
and missing things. LFS files redirect (302) to ``/cdn/...`` on ``other_url``
(``localhost`` instead of ``127.0.0.1``: another origin, so no token may follow). Civitai's
``/api/download/models/{id}`` redirects (307) to ``/r2/...`` on ``other_url`` with a
Content-Disposition file name, or to an HTML login page without a valid token;
``/api/v1/model-versions/{id}`` gives the file's SHA256, and ``/api/v1/model-versions/by-hash/{hash}``
finds a version by its file's SHA256 (or AutoV2, its first ten characters). ``/api/models/{repo}/tree/
{revision}[/{path}]`` lists a repository as the Hub does (``recursive``, pages of :attr:`tree_page_size`
entries with a ``Link: rel="next"`` header), which huggingface_hub's ``list_repo_tree`` reads.

Every blob (the bytes behind a file) can be told, with :meth:`behave`, to drop the
connection after N bytes, stall, answer an error status N times then succeed, ignore Range,
serve a different length, answer with HTML, or cap each connection's speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

COMMIT = "0123456789abcdef0123456789abcdef01234567"
CHUNK = 64 * 1024
LOGIN_HTML = (
    "<!DOCTYPE html><html><head><title>Sign in | Civitai</title></head>"
    "<body><h1>Sign in to download</h1></body></html>"
)
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass
class Behaviour:
    """How a blob misbehaves. Counters (``*_times``, ``fail_first``) count down per request."""

    drop_after: int | None = None  # close the connection after this many body bytes ...
    drop_times: int = 1  # ... on this many requests
    stall_after: int | None = None  # stop sending after this many body bytes ...
    stall_seconds: float = 30.0  # ... for this long (the client's stall timeout should fire)
    stall_times: int = 1
    fail_first: int = 0  # answer fail_status to this many requests, then behave
    fail_status: int = 500
    retry_after: float | None = None  # Retry-After header on those failures
    status: int | None = None  # always answer this status (401, 403, 404, ...)
    ignore_range: bool = False  # answer 200 with the whole body to Range requests
    serve_size: int | None = None  # serve this many bytes instead of the real length (consistent headers)
    html: bool = False  # answer 200 text/html (a login page) instead of the bytes
    rate: float | None = None  # bytes per second per connection


@dataclass
class Blob:
    name: str
    data: bytes | None = None
    path: Path | None = None
    sha256: str = ""
    behaviour: Behaviour = field(default_factory=Behaviour)
    content_disposition: str | None = None

    @property
    def size(self) -> int:
        if self.data is not None:
            return len(self.data)
        assert self.path is not None
        return self.path.stat().st_size

    @property
    def etag(self) -> str:
        return f'"{self.sha256[:40]}"'


@dataclass
class RequestRecord:
    method: str
    path: str  # URL path (no query)
    host: str
    blob: str | None
    range: str | None
    authorization: str | None
    status: int = 0
    bytes_sent: int = 0


@dataclass
class HFFile:
    blob: str
    lfs: bool


@dataclass
class HFRepo:
    files: dict[tuple[str, str], HFFile] = field(default_factory=dict)  # (revision, path) -> file
    gated: bool = False
    private: bool = False
    granted: set[str] = field(default_factory=set)  # tokens whose account accepted a gated repo's license
    rate_limited: int = 0  # answer this many /resolve/ requests with 429 (RateLimit header, t=retry_after)
    retry_after: int = 7


@dataclass
class CivitaiVersion:
    blob: str
    filename: str
    require_token: bool = True
    model_name: str = ""
    model_type: str = "Checkpoint"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def random_bytes(size: int) -> bytes:
    """Incompressible test data."""
    return os.urandom(size)


class FakeHub:
    """See the module docstring. ``start()`` returns self; ``stop()`` or use as a context manager."""

    def __init__(self) -> None:
        self.blobs: dict[str, Blob] = {}
        self.repos: dict[str, HFRepo] = {}
        self.civitai: dict[int, CivitaiVersion] = {}
        self.hf_tokens: set[str] = set()  # tokens the fake Hub accepts
        self.civitai_tokens: set[str] = set()
        self.requests: list[RequestRecord] = []
        self.port = 0
        self.tree_page_size = 1000  # entries per page of a tree listing, as the Hub pages them
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def other_url(self) -> str:
        """The same server under another origin (a CDN, for token-forwarding checks)."""
        return f"http://localhost:{self.port}"

    def start(self) -> FakeHub:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fakehub", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        assert self._thread is not None
        self._thread.join(timeout=10)
        self._loop.close()
        self._loop = None

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _start(self) -> None:
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{org}/{repo}/resolve/{revision}/{path:.+}", self._resolve)
        app.router.add_post("/api/models/{org}/{repo}/paths-info/{revision}", self._paths_info)
        app.router.add_get("/api/models/{org}/{repo}/tree/{revision}", self._tree)
        app.router.add_get("/api/models/{org}/{repo}/tree/{revision}/{path:.+}", self._tree)
        app.router.add_route("*", "/cdn/{blob}", self._cdn)
        app.router.add_route("*", "/files/{blob:.+}", self._file)
        app.router.add_get("/api/download/models/{version}", self._civitai_download)
        app.router.add_get("/api/v1/model-versions/by-hash/{hash}", self._civitai_by_hash)
        app.router.add_get("/api/v1/model-versions/{version}", self._civitai_version)
        app.router.add_route("*", "/r2/{blob}", self._cdn)
        app.router.add_get("/login", self._login)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- content ------------------------------------------------------------------------

    def add_blob(self, name: str, data: bytes | Path) -> Blob:
        if isinstance(data, Path):
            blob = Blob(name, path=data, sha256=_hash_path(data))
        else:
            blob = Blob(name, data=bytes(data), sha256=sha256_of(data))
        self.blobs[name] = blob
        return blob

    def add_file(self, name: str, data: bytes | Path) -> str:
        """A plain file at ``/files/<name>``; returns its URL."""
        self.add_blob(name, data)
        return f"{self.url}/files/{quote(name)}"

    def add_hf_file(
        self,
        repo: str,
        path: str,
        data: bytes | Path,
        *,
        revision: str = "main",
        lfs: bool = True,
        gated: bool | None = None,
        private: bool | None = None,
    ) -> str:
        """A file in a fake Hub repo; returns its sha256. The blob is named ``repo/path``."""
        name = f"{repo}/{path}"
        blob = self.add_blob(name, data)
        entry = self.repos.setdefault(repo, HFRepo())
        entry.files[(revision, path)] = HFFile(name, lfs)
        if gated is not None:
            entry.gated = gated
        if private is not None:
            entry.private = private
        return blob.sha256

    def grant(self, repo: str, token: str) -> None:
        """``token`` is valid and its account accepted gated ``repo``'s license."""
        self.hf_tokens.add(token)
        self.repos.setdefault(repo, HFRepo()).granted.add(token)

    def add_civitai(
        self, version: int, data: bytes | Path, filename: str, *, require_token: bool = True, model_name: str = "",
        model_type: str = "Checkpoint",
    ) -> str:
        """A Civitai model version whose file is ``filename``; returns its sha256. Blob name ``civitai-<id>``."""
        name = f"civitai-{version}"
        blob = self.add_blob(name, data)
        blob.content_disposition = f'attachment; filename="{filename}"'
        self.civitai[version] = CivitaiVersion(name, filename, require_token, model_name or filename, model_type)
        return blob.sha256

    def behave(self, name: str, **changes: object) -> Behaviour:
        """Set how blob ``name`` misbehaves from now on (``behave(name)`` resets it)."""
        behaviour = Behaviour(**changes)  # type: ignore[arg-type]
        self.blobs[name].behaviour = behaviour
        return behaviour

    # --- observations -------------------------------------------------------------------

    def requests_for(self, name: str, method: str | None = "GET") -> list[RequestRecord]:
        with self._lock:
            return [r for r in self.requests if r.blob == name and (method is None or r.method == method)]

    def bytes_sent(self, name: str) -> int:
        """Body bytes sent for blob ``name`` across all requests."""
        return sum(r.bytes_sent for r in self.requests_for(name, None))

    def paths_info_calls(self) -> list[RequestRecord]:
        """The batched ``/api/models/{repo}/paths-info/{revision}`` requests, oldest first."""
        with self._lock:
            return [r for r in self.requests if "/paths-info/" in r.path]

    def tree_calls(self) -> list[RequestRecord]:
        """The ``/api/models/{repo}/tree/...`` listing requests (every page), oldest first."""
        with self._lock:
            return [r for r in self.requests if "/tree/" in r.path and r.path.startswith("/api/models/")]

    def civitai_hash_calls(self) -> list[RequestRecord]:
        """The Civitai ``/api/v1/model-versions/by-hash/{hash}`` lookups, oldest first."""
        with self._lock:
            return [r for r in self.requests if r.path.startswith("/api/v1/model-versions/by-hash/")]

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def _record(self, request: web.Request, blob: str | None) -> RequestRecord:
        record = RequestRecord(
            method=request.method,
            path=request.path,
            host=request.host,
            blob=blob,
            range=request.headers.get("Range"),
            authorization=request.headers.get("Authorization"),
        )
        with self._lock:
            self.requests.append(record)
        return record

    # --- Hugging Face -------------------------------------------------------------------

    def _hf_token_ok(self, request: web.Request) -> tuple[bool, bool]:
        """(a token was sent, it is valid)."""
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        return bool(token), token in self.hf_tokens

    async def _resolve(self, request: web.Request) -> web.StreamResponse:
        repo_id = f"{request.match_info['org']}/{request.match_info['repo']}"
        revision, path = request.match_info["revision"], request.match_info["path"]
        repo = self.repos.get(repo_id)
        entry = repo.files.get((revision, path)) if repo else None
        if entry is None and repo is not None and revision == COMMIT:  # every branch is at COMMIT, as on the Hub
            entry = repo.files.get(("main", path)) or next((f for (_, p), f in repo.files.items() if p == path), None)
        record = self._record(request, entry.blob if entry else None)
        sent, valid = self._hf_token_ok(request)
        token = request.headers.get("Authorization", "")[7:]
        headers = {"X-Request-Id": secrets.token_hex(8)}
        if repo is not None and repo.rate_limited > 0:
            repo.rate_limited -= 1
            record.status = 429
            headers["RateLimit"] = f'"resolvers";r=0;t={repo.retry_after}'
            headers["RateLimit-Policy"] = '"fixed window";"resolvers";q=3000;w=300'
            return web.Response(status=429, headers=headers, text="rate limited")
        if sent and not valid:
            record.status = 401
            headers["X-Error-Message"] = "Invalid credentials in Authorization header"
            return web.Response(status=401, headers=headers, text="Invalid credentials in Authorization header")
        if repo is None or (repo.private and not valid):
            record.status = 401 if not valid else 404
            headers.update({"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"})
            return web.Response(status=record.status, headers=headers, text="Repository not found")
        if repo.gated and not (valid and token in repo.granted):
            record.status = 401 if not sent else 403
            headers.update({
                "X-Error-Code": "GatedRepo",
                "X-Error-Message": f"Access to model {repo_id} is restricted. You must have access to it and be "
                "authenticated to access it. Please log in.",
            })
            return web.Response(status=record.status, headers=headers, text="gated")
        if entry is None:
            if revision != COMMIT and not any(rev == revision for rev, _ in repo.files):
                record.status = 404
                headers.update({"X-Error-Code": "RevisionNotFound", "X-Error-Message": "Invalid rev id"})
                return web.Response(status=404, headers=headers)
            record.status = 404
            headers.update({"X-Error-Code": "EntryNotFound", "X-Error-Message": "Entry not found",
                            "X-Repo-Commit": COMMIT})
            return web.Response(status=404, headers=headers)
        blob = self.blobs[entry.blob]
        headers["X-Repo-Commit"] = COMMIT
        if entry.lfs:
            # Real Hub style: the LFS file lives on a CDN (another origin), reached by a 302.
            headers.update({
                "Location": f"{self.other_url}/cdn/{quote(entry.blob, safe='')}?X-Amz-Signature={secrets.token_hex(8)}",
                "X-Linked-Etag": f'"{blob.sha256}"',
                "X-Linked-Size": str(blob.size),
                "ETag": f'"{blob.sha256}"',
            })
            record.status = 302
            return web.Response(status=302, headers=headers)
        return await self._serve(request, blob, record, {**headers, "ETag": f'"{blob.sha256}"'})

    def _listing_access(
        self, request: web.Request, repo_id: str, record: RequestRecord
    ) -> tuple[HFRepo | None, web.Response | None]:
        """The repository a listing asks for, or the Hub's refusal: 404 for one unknown or private
        to this token, 401 for a gated one not granted."""
        repo = self.repos.get(repo_id)
        _, valid = self._hf_token_ok(request)
        token = request.headers.get("Authorization", "")[7:]
        if repo is None or (repo.private and not valid):
            record.status = 404
            return repo, web.Response(status=404, headers={"X-Error-Code": "RepoNotFound"}, text="Repository not found")
        if repo.gated and not (valid and token in repo.granted):
            record.status = 401
            return repo, web.Response(status=401, headers={"X-Error-Code": "GatedRepo"}, text="gated")
        return repo, None

    async def _paths_info(self, request: web.Request) -> web.Response:
        """The Hub's batched file listing (huggingface_hub's get_paths_info): sizes and LFS sha256."""
        repo_id = f"{request.match_info['org']}/{request.match_info['repo']}"
        revision = request.match_info["revision"]
        record = self._record(request, None)
        repo, refusal = self._listing_access(request, repo_id, record)
        if refusal is not None:
            return refusal
        form = await request.post()
        found = []
        for path in form.getall("paths", []):
            entry = repo.files.get((revision, str(path)))
            if entry is None:
                continue
            blob = self.blobs[entry.blob]
            item: dict[str, object] = {"type": "file", "path": str(path), "size": blob.size, "oid": blob.sha256[:40]}
            if entry.lfs:
                item["lfs"] = {"size": blob.size, "oid": blob.sha256, "pointerSize": 134}
            found.append(item)
        record.status = 200
        return web.json_response(found)

    async def _tree(self, request: web.Request) -> web.Response:
        """A repository's files and folders under ``path`` (all of them with ``recursive``), a page at a time."""
        repo_id = f"{request.match_info['org']}/{request.match_info['repo']}"
        revision, under = request.match_info["revision"], request.match_info.get("path", "").strip("/")
        record = self._record(request, None)
        repo, refusal = self._listing_access(request, repo_id, record)
        if refusal is not None:
            return refusal
        if not any(rev == revision for rev, _ in repo.files):
            record.status = 404
            return web.Response(status=404, headers={"X-Error-Code": "RevisionNotFound"}, text="Invalid rev id")
        recursive = request.query.get("recursive", "").lower() in ("1", "true")
        prefix = f"{under}/" if under else ""
        entries: dict[str, dict[str, object]] = {}
        for (rev, path), entry in sorted(repo.files.items()):
            if rev != revision or not path.startswith(prefix):
                continue
            rest = path[len(prefix):].split("/")
            for depth in range(1, len(rest)):  # the folders on the way
                if recursive or depth == 1:
                    folder = prefix + "/".join(rest[:depth])
                    entries.setdefault(folder, {"type": "directory", "oid": sha256_of(folder.encode())[:40],
                                                "path": folder})
            if recursive or len(rest) == 1:
                blob = self.blobs[entry.blob]
                item: dict[str, object] = {"type": "file", "oid": blob.sha256[:40], "size": blob.size, "path": path}
                if entry.lfs:
                    item["lfs"] = {"oid": blob.sha256, "size": blob.size, "pointerSize": 134}
                entries[path] = item
        listed = list(entries.values())
        start = int(request.query.get("cursor") or 0)
        page = listed[start:start + self.tree_page_size]
        headers = {}
        if start + self.tree_page_size < len(listed):
            following = request.url.update_query({"cursor": str(start + self.tree_page_size)})
            headers["Link"] = f'<{following}>; rel="next"'
        record.status = 200
        return web.json_response(page, headers=headers)

    # --- Civitai ------------------------------------------------------------------------

    def _civitai_token(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        return header[7:] if header.startswith("Bearer ") else request.query.get("token", "")

    async def _civitai_download(self, request: web.Request) -> web.StreamResponse:
        version = self.civitai.get(int(request.match_info["version"]))
        record = self._record(request, version.blob if version else None)
        if version is None:
            record.status = 404
            return web.json_response({"error": "Model not found"}, status=404)
        token = self._civitai_token(request)
        if version.require_token and token not in self.civitai_tokens:
            record.status = 307
            raise web.HTTPTemporaryRedirect(f"/login?returnUrl=%2Fmodels%2F{version}&reason=download-auth")
        disposition = quote(f'attachment; filename="{version.filename}"')
        location = (
            f"{self.other_url}/r2/{quote(version.blob, safe='')}?X-Amz-Expires=86400"
            f"&response-content-disposition={disposition}&X-Amz-Signature={secrets.token_hex(8)}"
        )
        record.status = 307
        raise web.HTTPTemporaryRedirect(location)

    async def _civitai_version(self, request: web.Request) -> web.Response:
        version_id = int(request.match_info["version"])
        version = self.civitai.get(version_id)
        self._record(request, None)
        if version is None:
            return web.json_response({"error": f"No model version with id {version_id}"}, status=404)
        return web.json_response(self._civitai_answer(version_id, version))

    async def _civitai_by_hash(self, request: web.Request) -> web.Response:
        """The version whose file has this SHA256 (or AutoV2: its first ten characters), as Civitai answers."""
        wanted = request.match_info["hash"].lower()
        self._record(request, None)
        for version_id, version in self.civitai.items():
            digest = self.blobs[version.blob].sha256
            if wanted in (digest, digest[:10]):
                return web.json_response(self._civitai_answer(version_id, version))
        return web.json_response({"error": "Model not found"}, status=404)

    def _civitai_answer(self, version_id: int, version: CivitaiVersion) -> dict[str, object]:
        blob = self.blobs[version.blob]
        download = f"{self.url}/api/download/models/{version_id}"
        return {
            "id": version_id,
            "modelId": version_id // 10 or 1,
            "name": "v1.0",
            "model": {"name": version.model_name, "type": version.model_type},
            "downloadUrl": download,
            "files": [{
                "id": version_id * 10,
                "name": version.filename,
                "type": "Model",
                "primary": True,
                "sizeKB": blob.size / 1024,
                "hashes": {"SHA256": blob.sha256.upper(), "AutoV2": blob.sha256[:10].upper()},
                "downloadUrl": download,
            }],
        }

    async def _login(self, request: web.Request) -> web.Response:
        self._record(request, None)
        return web.Response(text=LOGIN_HTML, content_type="text/html")

    # --- bytes --------------------------------------------------------------------------

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["blob"]
        blob = self.blobs.get(name)
        record = self._record(request, name if blob else None)
        if blob is None:
            record.status = 404
            return web.Response(status=404, text="NoSuchKey")
        return await self._serve(request, blob, record, {})

    async def _file(self, request: web.Request) -> web.StreamResponse:
        return await self._cdn(request)

    async def _serve(
        self, request: web.Request, blob: Blob, record: RequestRecord, headers: dict[str, str]
    ) -> web.StreamResponse:
        b = blob.behaviour
        if b.status is not None:
            record.status = b.status
            return web.Response(status=b.status, text=f"status {b.status}")
        if b.fail_first > 0:
            b.fail_first -= 1
            record.status = b.fail_status
            extra = {"Retry-After": f"{b.retry_after:g}"} if b.retry_after is not None else {}
            return web.Response(status=b.fail_status, text="try again", headers=extra)
        if b.html:
            record.status = 200
            return web.Response(text=LOGIN_HTML, content_type="text/html")
        if blob.path is not None and b == Behaviour() and request.method == "GET":
            return self._file_response(blob, record, request)
        size = blob.size if b.serve_size is None else b.serve_size
        start, end, status = 0, size - 1, 200
        headers = {**headers, "ETag": headers.get("ETag", blob.etag), "Content-Type": "application/octet-stream"}
        if blob.content_disposition:
            headers["Content-Disposition"] = blob.content_disposition
        if not b.ignore_range:
            headers["Accept-Ranges"] = "bytes"
        wanted = request.headers.get("Range")
        if_range = request.headers.get("If-Range")
        if wanted and not b.ignore_range and (if_range is None or if_range == headers["ETag"]):
            match = _RANGE.match(wanted.strip())
            if match and (match.group(1) or match.group(2)):
                first, last = match.groups()
                if first:
                    start, end = int(first), min(int(last) if last else size - 1, size - 1)
                else:  # suffix range
                    start, end = max(0, size - int(last)), size - 1
                if start >= size:
                    record.status = 416
                    return web.Response(status=416, headers={"Content-Range": f"bytes */{size}"})
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        headers["Content-Length"] = str(max(0, end - start + 1))
        record.status = status
        if request.method == "HEAD":
            return web.Response(status=status, headers=headers)
        response = web.StreamResponse(status=status, headers=headers)
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        started = loop.time()
        position, sent = start, 0
        chunk_size = CHUNK if not b.rate else max(1024, min(CHUNK, int(b.rate / 20)))
        try:
            while position <= end:
                length = min(chunk_size, end + 1 - position)
                if b.drop_after is not None and b.drop_times > 0 and sent + length > b.drop_after:
                    length = b.drop_after - sent
                    if length > 0:
                        await response.write(self._slice(blob, position, length))
                        sent += length
                    b.drop_times -= 1
                    record.bytes_sent = sent
                    assert request.transport is not None
                    request.transport.close()  # the connection dies mid-body
                    return response
                if b.stall_after is not None and b.stall_times > 0 and sent >= b.stall_after:
                    b.stall_times -= 1
                    with contextlib.suppress(asyncio.TimeoutError):  # ends early when the server stops
                        await asyncio.wait_for(self._stopping.wait(), b.stall_seconds)
                await response.write(self._slice(blob, position, length))
                position += length
                sent += length
                record.bytes_sent = sent
                if b.rate:
                    ahead = sent / b.rate - (loop.time() - started)
                    if ahead > 0:
                        await asyncio.sleep(ahead)
            await response.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            pass
        return response

    @staticmethod
    def _slice(blob: Blob, position: int, length: int) -> bytes:
        if blob.data is not None:
            data = blob.data[position : position + length]
            # serve_size larger than the data: pad with zeros (a server sending the wrong file)
            return data + bytes(length - len(data)) if len(data) < length else data
        assert blob.path is not None
        with open(blob.path, "rb") as fh:
            fh.seek(position)
            return fh.read(length)

    def _file_response(self, blob: Blob, record: RequestRecord, request: web.Request) -> web.StreamResponse:
        """Full speed from a file on disk (benchmarks): aiohttp's sendfile, Range and If-Range."""
        assert blob.path is not None
        headers = {"Content-Disposition": blob.content_disposition} if blob.content_disposition else None
        size = blob.size
        match = _RANGE.match((request.headers.get("Range") or "").strip())
        if match and match.group(1):
            last = int(match.group(2)) if match.group(2) else size - 1
            record.bytes_sent = max(0, min(last, size - 1) - int(match.group(1)) + 1)
        else:
            record.bytes_sent = size
        return web.FileResponse(blob.path, headers=headers)


def _hash_path(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(8 * 2**20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def iter_yaml_presets(presets: dict[str, list[dict[str, object]]]) -> Iterator[str]:
    for preset_id, files in presets.items():
        yield f"  - id: {preset_id}\n    name: {preset_id}\n    category: image\n    files:\n"
        for item in files:
            lines = [f"{k}: {v!r}" if isinstance(v, str) else f"{k}: {v}" for k, v in item.items()]
            yield "      - " + "\n        ".join(lines) + "\n"


def write_presets(workspace: Path, presets: dict[str, list[dict[str, object]]], name: str = "test.yaml") -> Path:
    """Write user presets (``{id: [file entries as in catalog YAML]}``) into ``workspace``'s config."""
    directory = workspace / "config" / "presets"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("schema: 1\npresets:\n" + "".join(iter_yaml_presets(presets)), encoding="utf-8")
    return path
