"""The resolver chain: every source asked about every model a workflow wants, best answer first.

What is on this machine answers at once (:meth:`ModelResolver.known`: the workflow's links, the
catalog, ComfyUI-Manager's list, the Hub listings and Civitai answers kept in the workspace); what
needs the network (Civitai by hash, listing a repository) runs in the background
(:meth:`ModelResolver.look_up`), once per hash or repository at a time, and announces itself with
a ``launchpad.resolve`` event when it has answers, so a view that showed what was known asks again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .. import events
from ..catalog import Catalog, ModelFile
from ..config import Settings
from ..events import EventBus
from . import manager_list
from .candidates import Candidate, Wanted, judged, only_one, ranked
from .catalog_files import CatalogIndex
from .civitai import CivitaiByHash
from .hub_listings import HubIndex, HubListings, Repo, repos_of

log = logging.getLogger(__name__)

FAILED_PAUSE = 300.0  # seconds before a lookup that failed (offline) is tried again


@dataclass
class Known:
    """What the sources on this machine say, read once for one analysis."""

    catalog: CatalogIndex
    manager: manager_list.ManagerList
    hub: HubIndex
    civitai: dict[str, dict]
    repos: list[Repo]  # the repositories worth listing
    hub_listings: dict[str, dict] = field(default_factory=dict)

    def candidates(self, wanted: Wanted, links: Sequence[Candidate] = ()) -> list[Candidate]:
        found = [*links, *self.catalog.candidates(wanted), *self.hub.candidates(wanted),
                 *self.manager.candidates(wanted), *CivitaiByHash.candidates(wanted, self.civitai)]
        listed = self.catalog.get(wanted.key)
        if listed is not None:  # the catalog's checks hold for its file whoever links to it
            found = [_with_catalog_checks(c, listed.file) if c.origin == "workflow" else c for c in found]
        return [judged(wanted, c) for c in found]

    def sources(self) -> dict[str, object]:
        """What was consulted, for the view and the CLI."""
        return {
            "catalog": len(self.catalog.by_key),
            "manager": {"files": self.manager.count, "lists": [str(p) for p in self.manager.paths]},
            "huggingface": {"repos": len(self.repos), "listed": self.hub.repos},
            "civitai": sum(isinstance(a.get("found"), dict) for a in self.civitai.values()),
        }


def _with_catalog_checks(candidate: Candidate, catalog_file: ModelFile) -> Candidate:
    """A workflow's link to a file the catalog lists gets the catalog's sha256 and exact size, so
    every install of that file is checked the same way."""
    sha256 = catalog_file.sha256 or candidate.sha256
    if catalog_file.size is not None:
        return replace(candidate, sha256=sha256, size=catalog_file.size, size_exact=True)
    return replace(candidate, sha256=sha256)


def best_first(candidates: Sequence[Candidate], hosts: Sequence[str]) -> list[Candidate]:
    """Ranked (candidates.ranked), with exact matches that disagree made name matches."""
    return ranked(only_one(ranked(candidates, hosts)), hosts)


class ModelResolver:
    """The chain's sources and their background lookups, for one workspace."""

    def __init__(
        self, settings: Settings, state_dir: Path, *, custom_nodes: Callable[[], Sequence[Path]] = lambda: (),
        bus: EventBus | None = None, search_path: Sequence[str] | None = None,
    ) -> None:
        self.settings = settings
        self.state_dir = state_dir
        self.custom_nodes = custom_nodes
        self.search_path = search_path  # where an installed comfyui_manager is looked for (default sys.path)
        self.bus = bus
        self.civitai = CivitaiByHash(settings, state_dir)
        self.hub = HubListings(settings, state_dir)
        self._manager = manager_list.ManagerList()
        self._hub_index: tuple[object, HubIndex] | None = None
        self._running: dict[str, asyncio.Future[None]] = {}  # "civitai:<hash>" / "hub" -> its lookup
        self._failed_at: dict[str, float] = {}
        self._reading = threading.Lock()  # analyses run in worker threads, the parsed sources are shared

    def known(self, catalog: Catalog) -> Known:
        """The sources on this machine (blocking: reads files; unchanged ones are kept parsed)."""
        paths = manager_list.locate(self.state_dir, self.custom_nodes(), self.search_path)
        with self._reading:
            listings = self.hub.load()
            stamp = tuple(sorted((k, v.get("at")) for k, v in listings.items()))
            if self._hub_index is None or self._hub_index[0] != stamp:
                self._hub_index = (stamp, HubIndex(listings))
            manager = self._manager.load(paths)
            return Known(CatalogIndex(catalog), manager, self._hub_index[1], self.civitai.load(), repos_of(catalog),
                         listings)

    def pending(self, known: Known, unsure: Sequence[Wanted]) -> tuple[list[str], list[Repo]]:
        """The lookups that could tell more about ``unsure`` models: hashes to ask Civitai about,
        repositories to list. Empty when switched off (LAUNCHPAD_MODEL_LOOKUP=0)."""
        if not self.settings.model_lookup or not unsure:
            return [], []
        now = time.time()
        hashes = [w.hash for w in unsure if w.hash]
        ask = [h for h in CivitaiByHash.to_ask(hashes, known.civitai, now) if self._may_try(f"civitai:{h}", now)]
        repos = HubListings.to_list(known.repos, known.hub_listings, now) if self._may_try("hub", now) else []
        return ask, repos

    def _may_try(self, what: str, now: float) -> bool:
        return what in self._running or now - self._failed_at.get(what, 0.0) > FAILED_PAUSE

    def look_up(self, hashes: Sequence[str], repos: Sequence[Repo], keys: Sequence[str]) -> asyncio.Future[None]:
        """Start (or join) the lookups; a ``launchpad.resolve`` event names ``keys`` when they are done."""
        parts = [self._start(f"civitai:{digest}", self._ask_civitai(digest)) for digest in hashes]
        if repos:
            parts.append(self._start("hub", self._list_hub(repos)))
        done = asyncio.ensure_future(self._announce(parts, list(keys)))
        done.add_done_callback(_log_failure)
        return done

    def _start(self, what: str, lookup: Coroutine[Any, Any, None]) -> asyncio.Future[None]:
        """``lookup`` as the one running for ``what``, or the one already running (``lookup`` is dropped)."""
        running = self._running.get(what)
        if running is not None and not running.done():
            lookup.close()
            return running
        started = asyncio.ensure_future(lookup)
        self._running[what] = started
        started.add_done_callback(lambda _: self._running.pop(what, None))
        return started

    async def _ask_civitai(self, digest: str) -> None:
        found = await self.civitai.ask([digest])
        answers = await asyncio.to_thread(self.civitai.load)
        if digest not in answers:
            self._failed_at[f"civitai:{digest}"] = time.time()
        log.info("asked Civitai about a workflow model's hash: %s", "found" if found else "not found")

    async def _list_hub(self, repos: Sequence[Repo]) -> None:
        listed = await self.hub.fetch(repos)
        if not listed:
            self._failed_at["hub"] = time.time()

    async def _announce(self, parts: Sequence[asyncio.Future[None]], keys: list[str]) -> None:
        results = await asyncio.gather(*parts, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                log.warning("a model lookup failed: %s", result)
        if self.bus is not None:
            self.bus.emit(events.RESOLVE, {"keys": keys})

    async def refresh(self, catalog: Catalog) -> dict[str, object]:
        """Fetch ComfyUI-Manager's newest list (MANAGER_MODEL_LIST_URL) and list every repository the
        catalog uses again, whatever the caches' age (`launchpad workflow --refresh`)."""
        import aiohttp

        from ..documents import DocumentError

        repos = repos_of(catalog)
        report: dict[str, object] = {"manager_url": self.settings.manager_model_list_url, "repos": len(repos),
                                     "listed": await self.hub.fetch(repos)}
        try:
            timeout = aiohttp.ClientTimeout(total=60)
            async with (aiohttp.ClientSession(timeout=timeout) as session,
                        session.get(self.settings.manager_model_list_url) as response):
                response.raise_for_status()
                raw = await response.read()
            report["manager_files"] = await asyncio.to_thread(manager_list.save_refreshed, self.state_dir, raw)
        except (aiohttp.ClientError, asyncio.TimeoutError, DocumentError, OSError) as exc:
            report["manager_error"] = str(exc) or type(exc).__name__
        return report

    def close(self) -> None:
        self.hub.close()


def _log_failure(task: asyncio.Future) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("model lookup failed: %s", task.exception())
