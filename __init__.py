"""ComfyUI-Launchpad, as ComfyUI loads it from custom_nodes/.

ComfyUI imports this file under a path-like module name, so everything below is imported
relatively. Whatever goes wrong in here is logged and ComfyUI keeps starting; nothing heavy
is imported at this point (ComfyUI reports each pack's import time).
"""

from __future__ import annotations

import logging
import sys

log = logging.getLogger("launchpad")

WEB_DIRECTORY = "./web"
NODE_CLASS_MAPPINGS: dict[str, type] = {}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}


def _prompt_server() -> object | None:
    """ComfyUI's PromptServer when we are being loaded by ComfyUI, else None.

    ComfyUI imports its ``server`` module and builds the PromptServer before it loads custom
    nodes, so looking in sys.modules is enough and never imports anything.
    """
    server = sys.modules.get("server")
    return getattr(getattr(server, "PromptServer", None), "instance", None)


def _load() -> None:
    global NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
    from .nodes import NODE_CLASS_MAPPINGS as classes
    from .nodes import NODE_DISPLAY_NAME_MAPPINGS as names

    prompt_server = _prompt_server()
    if prompt_server is not None:
        from .server_routes.comfy import register

        register(prompt_server)
    NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = classes, names


def _auth_required() -> bool:
    try:
        from .launchpad.config import Settings

        return Settings.from_env().enable_auth
    except Exception:
        # the configuration module itself is what failed: read the one flag that decides
        # between failing open and failing closed directly (the only such read outside config.py)
        import os

        return os.environ.get("ENABLE_AUTH", "").strip().lower() in {"1", "true", "yes", "on"}


def _lock_down() -> None:
    """ENABLE_AUTH is on but our guard is not installed: refuse every request rather than run open."""
    app = getattr(_prompt_server(), "app", None)
    if app is None or any(getattr(mw, "__name__", "") == "launchpad_auth" for mw in app.middlewares):
        return
    from aiohttp import web

    message = (
        "ENABLE_AUTH is on but ComfyUI-Launchpad failed to load, so ComfyUI is locked rather than "
        "served without a login. Fix the error in ComfyUI's log and restart."
    )

    @web.middleware
    async def launchpad_locked(request, handler):  # type: ignore[no-untyped-def]
        return web.json_response({"error": {"code": "auth_unavailable", "message": message}}, status=503)

    app.middlewares.insert(0, launchpad_locked)  # before every other middleware, like the login
    log.error(message)


try:
    _load()
except Exception:  # ComfyUI must keep starting whatever happens in here
    log.exception(
        "ComfyUI-Launchpad could not load and is disabled for this run; ComfyUI continues without it. "
        "Please report this log at https://github.com/comfyui-launchpad/ComfyUI-Launchpad/issues"
    )
    try:
        if _auth_required():
            _lock_down()
    except Exception:
        log.exception("ComfyUI-Launchpad could not lock ComfyUI down after failing to load")
