"""The Workflow view's server side: what a workflow needs, with every source the resolver chain
knows (resolve/), installs of what that analysis calls installable, and the workflow's models
lock. The analysis itself is workflow_models.py; this joins it to the catalog, the resolver and
the download engine, off the event loop where it reads files."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from . import views
from .catalog.loader import Catalog
from .catalog.schema import ModelFile
from .config import Settings
from .downloads.api import InstallResult
from .model_roots import ModelRoots
from .resolve.chain import Known, ModelResolver
from .workflow_models import NeededModel, analyze, group_label, plan_install, summarize

if TYPE_CHECKING:
    from .downloads.api import Downloads

InstallFiles = Callable[[Sequence[ModelFile], str, bool], Awaitable[InstallResult]]


class WorkflowDesk:
    def __init__(
        self,
        settings: Settings,
        catalog: Callable[[], Awaitable[Catalog]],
        roots: Callable[[], ModelRoots],
        resolver: ModelResolver,
        downloads: Callable[[], Downloads],
        install_files: InstallFiles,
        comfyui_version: Callable[[], str | None],
    ) -> None:
        self.settings = settings
        self._catalog = catalog
        self._roots = roots
        self.resolver = resolver
        self._downloads = downloads
        self._install_files = install_files
        self._comfyui_version = comfyui_version

    async def models(self, workflow: object, wait: float = 0, name: str | None = None) -> dict[str, object]:
        """What ``workflow`` needs: present, missing (every candidate source, how sure, how big) and
        unknown models. What is known here answers at once; lookups that could tell more (Civitai by
        hash, Hub listings) run on, ``resolving`` says so, and a ``launchpad.resolve`` event follows.
        ``wait``: seconds to wait for those lookups before answering; ``name``: the workflow's file
        name (a template's tells the ComfyUI it needs)."""
        models, known = await self._resolved(workflow, sizes=True)
        lookups = self._look_up(models, known)
        if lookups is not None and wait > 0:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(lookups), wait)
            models, known = await self._resolved(workflow, sizes=True)
            lookups = self._look_up(models, known)
        jobs = views.latest_jobs((await self._downloads().snapshot())["jobs"])
        return {
            "models": [{**model.to_dict(), "job": jobs.get(model.key)} for model in models],
            "summary": summarize(models, name, (await self._catalog()).comfyui_for(name), self._comfyui_version()),
            "allowed_hosts": list(self.settings.allowed_url_hosts),
            "resolving": lookups is not None,
            "sources": known.sources(),
        }

    async def install(
        self, workflow: object, name: str | None = None, keys: Sequence[str] | None = None, optional: bool = False,
        choices: Mapping[str, str] | None = None,
    ) -> dict[str, object]:
        """Queue the workflow's missing models whose chosen source is sure and on an allowed host.

        The server analyses the workflow itself: only what that analysis calls installable is
        queued, never a URL or path the client names. ``choices`` (model key -> candidate id from
        the analysis) picks another candidate, a name match included: the user said so. ``keys``
        narrows it to some models; models of muted or bypassed nodes are left out unless
        ``optional`` (or named in ``keys`` or ``choices``).
        """
        plan = plan_install(await self._analyze(workflow, sizes=False), keys, optional, choices)
        label = group_label(name)
        result: InstallResult = {"jobs": [], "skipped": []}
        if plan.todo:  # links from a client: every hop checked
            result = await self._install_files(plan.todo, label, True)
        skipped = [*result["skipped"], *plan.present]
        return {"jobs": result["jobs"], "skipped": skipped, "label": label, "refused": plan.refused}

    async def lock(self, workflow: object, name: str | None = None) -> dict[str, object]:
        """The models lock of what ``workflow`` needs (the same analysis as :meth:`models`)."""
        from .lock import build

        wanted, notes = build.from_analysis(await self._analyze(workflow, sizes=False))
        stem = group_label(name).split(":", 1)[1]
        built = await build.build(wanted, self.settings, self._roots(), workflows=[stem], guarded=True, warnings=notes)
        return {**built.to_dict(), "filename": f"{stem}.lock.json"}

    def _look_up(self, models: Sequence[NeededModel], known: Known) -> asyncio.Future[None] | None:
        """Start (or join) the lookups that could tell more about the models no source is sure of."""
        unsure = [m for m in models if m.state != "present" and not (m.choice and m.choice.confident)]
        hashes, repos = self.resolver.pending(known, [m.wanted for m in unsure if m.wanted])
        if not (hashes or repos):
            return None
        return self.resolver.look_up(hashes, repos, [m.key for m in unsure])

    async def _analyze(self, workflow: object, *, sizes: bool) -> list[NeededModel]:
        return (await self._resolved(workflow, sizes=sizes))[0]

    async def _resolved(self, workflow: object, *, sizes: bool) -> tuple[list[NeededModel], Known]:
        """The analysis, with what the resolver's sources on this machine knew for it."""
        catalog = await self._catalog()

        def run() -> tuple[list[NeededModel], Known]:
            known = self.resolver.known(catalog)
            return analyze(workflow, catalog, self._roots(), self.settings.allowed_url_hosts, known), known

        models, known = await asyncio.to_thread(run)
        unsized = [m.file for m in models
                   if m.state == "missing" and m.installable and (m.size is None or m.size_estimated) and m.file]
        if sizes and unsized:  # templates' links carry no size: ask the sources (allowed hosts only)
            found = await self._downloads().sizes(unsized, guarded=True)  # a workflow's links
            for model in models:
                if (model.size is None or model.size_estimated) and found.get(model.key) is not None:
                    model.size, model.size_estimated = found[model.key], False
        return models, known
