"""Inside ComfyUI: its ``folder_paths`` follow the adopted record while it runs.

`launchpad migrate --adopt` (a terminal on the pod, another process) writes
``<workspace>/config/adopted_model_dirs.json`` and the generated extra_model_paths.yaml, which
ComfyUI reads only at start. So the pack looks at the record every few seconds (a ``stat`` in
a worker thread) and, when it changed, adds the new directories with
``folder_paths.add_model_folder_path`` (after ComfyUI's own: the workspace stays each folder's
default) and takes out those an undo removed. ComfyUI's ``GET /models/<folder>`` and the
Models view list the adopted files without a restart.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..launchpad.service import LaunchpadService

log = logging.getLogger("launchpad")

POLL_SECONDS = 2.0

Pair = tuple[str, str]  # (folder, directory)


def sync(folder_paths: Any, wanted: set[Pair], applied: set[Pair]) -> bool:
    """Make ComfyUI's folder paths hold ``wanted``; ``applied`` is what earlier calls put there. True if changed."""
    changed = False
    table = folder_paths.folder_names_and_paths
    for folder, directory in sorted(wanted - applied):
        if folder not in table or directory not in table[folder][0]:
            folder_paths.add_model_folder_path(folder, directory)
            changed = True
        applied.add((folder, directory))
    for folder, directory in sorted(applied - wanted):
        paths = table.get(folder, ([],))[0]
        if directory in paths:
            # folder_paths has no remove: take it out of the list and drop the folder's cached listing
            paths.remove(directory)
            getattr(folder_paths, "filename_list_cache", {}).pop(folder, None)
            changed = True
        applied.discard((folder, directory))
    return changed


async def follow(service: LaunchpadService, folder_paths: Any, interval: float = POLL_SECONDS) -> None:
    """Apply the adopted record to ``folder_paths`` now and whenever it changes, until cancelled;
    a change is announced as a ``launchpad.model`` event, so open panels list the files again."""
    from ..launchpad.events import MODEL
    from ..launchpad.migrate import adopted

    config_dir = service.workspace.config
    seen: object = object()
    applied: set[Pair] = set()
    while True:
        try:
            signature = await asyncio.to_thread(adopted.signature, config_dir)
            if signature != seen:
                seen = signature
                pairs = await asyncio.to_thread(adopted.directories, config_dir)
                if sync(folder_paths, {(folder, str(path)) for folder, path in pairs}, applied):
                    log.info("Launchpad: adopted model folders changed; ComfyUI's model lists follow")
                    service.bus.emit(MODEL, {"action": "adopted"})
        except Exception:  # a broken record must never stop ComfyUI, nor this loop
            log.exception("Launchpad could not apply the adopted model folders")
        await asyncio.sleep(interval)
