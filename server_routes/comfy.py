"""Registration on ComfyUI's PromptServer, called from the package's ``__init__`` at import."""

from __future__ import annotations

import logging

from aiohttp import web

from ..launchpad import __version__

log = logging.getLogger("launchpad")


def register(prompt_server: object) -> None:
    """Add Launchpad's routes to ``prompt_server.routes`` (ComfyUI mirrors them under /api)."""
    routes: web.RouteTableDef = prompt_server.routes  # type: ignore[attr-defined]

    @routes.get("/launchpad/health")
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "version": __version__, "mode": "comfyui"})

    log.info("Launchpad %s registered its routes under /launchpad/", __version__)
