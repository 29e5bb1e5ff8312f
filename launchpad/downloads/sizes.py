"""What files weigh at their sources, before anything is downloaded.

For telling what an install will take before it starts: the same resolution a download does,
without retries, and remembered for a while (failures too) so a view that refreshes does not
ask the sources again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import replace

from ..catalog.schema import ModelFile, UrlSource
from .pipeline import Pipeline
from .sources import Resolver

log = logging.getLogger(__name__)

SIZE_TIMEOUT = 8.0  # seconds :meth:`Sizes.of` waits for the sources
SIZE_TTL = 600.0  # seconds a source's answer about a size is remembered


class Sizes:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self._known: dict[tuple[str, str], tuple[int | None, float]] = {}  # (key, url) -> (size, when)

    async def of(
        self, files: Sequence[ModelFile], guarded: bool = False, timeout: float = SIZE_TIMEOUT
    ) -> dict[str, int | None]:
        """Each file's size in bytes at its source (by key; None when the source does not say in time).
        ``guarded``: the links came from a client (a workflow's), so every hop of a URL is checked."""
        now = time.monotonic()
        result: dict[str, int | None] = {}
        todo: dict[str, ModelFile] = {}
        for model_file in files:
            cached = self._known.get((model_file.key, model_file.source.url))
            if model_file.size is not None:
                result[model_file.key] = model_file.size
            elif cached is not None and now - cached[1] < SIZE_TTL:
                result[model_file.key] = cached[0]
            else:
                todo[model_file.key] = model_file
        if not todo:
            return result
        pipeline = self.pipeline
        quick = replace(pipeline.settings, retries=0)
        resolver = Resolver(quick, pipeline.session, pipeline.credentials)
        checked = resolver
        if guarded and any(isinstance(f.source, UrlSource) for f in todo.values()):
            checked = Resolver(quick, pipeline.guarded_session(), pipeline.credentials, pipeline.policy)
        tasks = {
            key: asyncio.ensure_future((checked if isinstance(f.source, UrlSource) else resolver).resolve(f))
            for key, f in todo.items()
        }
        await asyncio.wait(tasks.values(), timeout=timeout)
        for key, task in tasks.items():
            size = None
            if not task.done():
                task.cancel()
            elif task.exception() is not None:
                log.debug("no size for %s: %s", key, task.exception())
            else:
                size = task.result().size
            if task.done():
                self._known[(key, todo[key].source.url)] = (size, now)
            result[key] = size
        return result
