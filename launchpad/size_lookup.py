"""Asking the sources, once, for the file sizes nobody knows yet (the long-running hosts do it).

One ``paths-info`` request per Hugging Face repository and revision (``sources.hf_sizes``), one
resolution each through the download engine for Civitai and plain URLs; every answer, and every
source that could not say, goes into the size cache (catalog/size_cache.py), and the catalog's
figures are worked out again when anything was learned.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from .catalog.schema import HFSource
from .catalog.size_cache import Answer, SizeCache, to_ask
from .catalog.store import CatalogStore
from .config import Settings

if TYPE_CHECKING:
    from pathlib import Path

    from .downloads.api import Downloads

log = logging.getLogger("launchpad.service")


async def ask_sources(settings: Settings, state_dir: Path, catalogs: CatalogStore, downloads: Downloads) -> int:
    """Ask, keep the answers, and reload the figures; the number of sizes learned."""
    from .downloads.sources import hf_sizes  # huggingface_hub only when asking

    cache = SizeCache(state_dir)
    answers = await asyncio.to_thread(cache.load)
    todo = to_ask(answers, catalogs.current().files())
    if not todo:
        return 0
    hub = [f for f in todo if isinstance(f.source, HFSource)]
    found = await asyncio.to_thread(hf_sizes, settings, hub) if hub else {}
    others = [f for f in todo if not isinstance(f.source, HFSource)]
    if others:  # Civitai and plain URLs: one resolution each, as the download would do
        found.update(await downloads.sizes(others))
    now = time.time()
    await asyncio.to_thread(cache.save, {f.key: Answer(f.source.url, found.get(f.key), now) for f in todo})
    learned = sum(found.get(f.key) is not None for f in todo)
    log.info("asked the sources for %d file sizes: %d answered", len(todo), learned)
    if learned:
        await asyncio.to_thread(catalogs.sizes_changed)
    return learned
