"""Source 5: the file listings of the Hugging Face repositories the catalog already uses.

The catalog (curated presets and the official templates' links) names about a hundred and fifty
repositories, Comfy-Org's repackaged ones among them; they hold many more files than any preset
lists (other precisions, other sizes, LoRAs). Each is listed once with huggingface_hub's
``list_repo_tree`` (recursive, against HF_ENDPOINT, with HF_TOKEN), only model files kept, in
``.launchpad/resolve/hub-listings.json``, listed again after a week (a repository that could not be
listed: after a day). A file whose name is the wanted one is an ``exact`` candidate, unless its path
names another model folder (``split_files/vae/...`` for a LoRA), which makes it a ``name`` match;
its size is exact and its LFS sha256 is checked against the workflow's hash.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .. import model_folders
from ..catalog import Catalog
from ..catalog.schema import HFSource
from ..config import Settings
from ..url_policy import MODEL_EXTENSIONS
from .candidates import EXACT, NAME, Candidate, Wanted
from .store import StateFile

log = logging.getLogger(__name__)

REFRESH_AFTER = 7 * 24 * 3600.0
RETRY_AFTER = 24 * 3600.0
LIST_TIMEOUT = 30.0  # seconds one repository's listing may take before the round goes on without it
PROBE_TIMEOUT = 5.0  # seconds the Hub has to answer at all
WORKERS = 4
Repo = tuple[str, str]  # (repo id, revision)


@dataclass(frozen=True)
class HubFile:
    repo: str
    revision: str
    path: str
    size: int | None
    sha256: str | None


def repos_of(catalog: Catalog) -> list[Repo]:
    """The repositories (and revisions) the catalog's files come from."""
    found = {(f.source.repo, f.source.revision) for f in catalog.files().values() if isinstance(f.source, HFSource)}
    return sorted(found)


def label(repo: Repo) -> str:
    return f"{repo[0]}@{repo[1]}"


class HubListings:
    def __init__(self, settings: Settings, state_dir: Path) -> None:
        self.settings = settings
        self.store = StateFile(state_dir, "hub-listings")
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    def load(self) -> dict[str, dict]:
        """Every listing by ``repo@revision`` (blocking)."""
        return self.store.load()

    @staticmethod
    def to_list(repos: Iterable[Repo], listings: Mapping[str, dict], now: float | None = None) -> list[Repo]:
        now = time.time() if now is None else now
        todo = []
        for repo in repos:
            known = listings.get(label(repo))
            if known is None:
                todo.append(repo)
                continue
            age = now - float(known.get("at", 0))
            if age > (REFRESH_AFTER if known.get("files") is not None else RETRY_AFTER):
                todo.append(repo)
        return todo

    async def fetch(self, repos: Sequence[Repo]) -> int:
        """List ``repos`` (in threads; huggingface_hub blocks) and keep what they hold; how many were
        listed. Nothing is tried when the Hub does not answer at all (huggingface_hub would retry each
        repository for half a minute)."""
        if not repos:
            return 0
        if not await self._reachable(repos[0]):
            log.info("the Hub (%s) did not answer; repository listings are asked again later",
                     self.settings.hf_endpoint)
            return 0
        loop = asyncio.get_running_loop()
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(WORKERS, thread_name_prefix="launchpad-hub-list")
        pool = self._pool

        async def one(repo: Repo) -> tuple[Repo, list[list] | None, str | None]:
            try:
                files = await asyncio.wait_for(loop.run_in_executor(pool, self._list, repo), LIST_TIMEOUT)
            except asyncio.TimeoutError:
                return repo, None, "network"
            except Exception as exc:  # gated, private, missing, offline: the reason decides what follows
                return repo, None, _failure(exc)
            return repo, files, None

        results = await asyncio.gather(*(one(repo) for repo in repos))
        now = time.time()
        kept = {label(repo): {"at": now, "files": files} for repo, files, why in results if why != "network"}
        await asyncio.to_thread(self.store.merge, kept)
        listed = sum(files is not None for _, files, _ in results)
        log.info("listed %d of %d Hugging Face repositories for workflow models", listed, len(repos))
        return listed

    async def _reachable(self, repo: Repo) -> bool:
        """Whether the Hub answers at all (any HTTP status) within a few seconds."""
        import aiohttp

        url = f"{self.settings.hf_endpoint}/api/models/{repo[0]}"
        try:
            async with (aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PROBE_TIMEOUT)) as session,
                        session.head(url, allow_redirects=False)):
                return True
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return False

    def _list(self, repo: Repo) -> list[list]:
        """``[path, size, sha256]`` of every model file in ``repo`` (blocking)."""
        from huggingface_hub import HfApi

        api = HfApi(endpoint=self.settings.hf_endpoint, token=self.settings.hf_token or False)
        files = []
        for item in api.list_repo_tree(repo[0], revision=repo[1], recursive=True):
            path = getattr(item, "path", "")
            if PurePosixPath(path.lower()).suffix not in MODEL_EXTENSIONS or not hasattr(item, "size"):
                continue
            lfs = getattr(item, "lfs", None)
            files.append([path, item.size, getattr(lfs, "sha256", None)])
        return files

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def _failure(exc: BaseException) -> str:
    """"network" when the Hub did not answer (try again soon), else what it said (a day)."""
    response = getattr(exc, "response", None)
    if getattr(response, "status_code", None) is None:
        return "network"
    return type(exc).__name__


class HubIndex:
    """The listed files by file name."""

    def __init__(self, listings: Mapping[str, dict]) -> None:
        self.repos = 0
        self.by_name: dict[str, list[HubFile]] = {}
        for key, listing in listings.items():
            files = listing.get("files")
            repo, _, revision = key.rpartition("@")
            if not isinstance(files, list) or not repo:
                continue
            self.repos += 1
            for item in files:
                if not (isinstance(item, list) and len(item) == 3 and isinstance(item[0], str)):
                    continue
                size = item[1] if isinstance(item[1], int) else None
                sha256 = item[2] if isinstance(item[2], str) else None
                hub_file = HubFile(repo, revision, item[0], size, sha256)
                self.by_name.setdefault(PurePosixPath(item[0]).name.lower(), []).append(hub_file)

    def candidates(self, wanted: Wanted) -> list[Candidate]:
        found = []
        for hub_file in self.by_name.get(wanted.basename.lower(), []):
            named = {model_folders.canonical(part) for part in PurePosixPath(hub_file.path).parts[:-1]} - {None}
            elsewhere = bool(named) and wanted.folder not in named
            exact = PurePosixPath(hub_file.path).name == wanted.basename and not elsewhere
            found.append(Candidate(
                "huggingface", EXACT if exact else NAME, HFSource(hub_file.repo, hub_file.path, hub_file.revision),
                size=hub_file.size, size_exact=hub_file.size is not None, sha256=hub_file.sha256,
                where=hub_file.repo, found_as=hub_file.path,
            ))
        return found
