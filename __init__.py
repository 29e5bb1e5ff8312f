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
    """Whether to fail closed: a login asked for, or an ENABLE_AUTH we cannot read."""
    try:
        from .launchpad.config import auth_requested

        return auth_requested()
    except Exception:
        # the configuration module itself is what failed: read the one flag that decides
        # between failing open and failing closed directly (the only such read outside config.py);
        # anything but unset or an explicit "off" counts as on
        import os

        return os.environ.get("ENABLE_AUTH", "").strip().lower() not in {"", "0", "false", "no", "off"}


def _lock_down(reason: str) -> None:
    """A login is asked for but our guard is not installed: refuse every request rather than run open."""
    app = getattr(_prompt_server(), "app", None)
    if app is None or any(getattr(mw, "__name__", "") == "launchpad_auth" for mw in app.middlewares):
        return
    from aiohttp import web

    message = (
        f"ComfyUI-Launchpad could not start ({reason}), and the environment asks for a login "
        "(ENABLE_AUTH or ACCESS_PASSWORD), so ComfyUI is locked rather than served without a login. "
        "Fix that and restart ComfyUI."
    )

    @web.middleware
    async def launchpad_locked(request: web.Request, handler: object) -> web.Response:
        # server_routes.errors.AuthUnavailable's code, written out: that module may be what failed
        return web.json_response({"error": {"code": "auth_unavailable", "message": message}}, status=503)

    app.middlewares.insert(0, launchpad_locked)  # before every other middleware, like the login
    log.error(message)


def _reason(exc: Exception) -> str:
    """What went wrong, for the lock message: our own errors say it (never a secret's value)."""
    from .launchpad.errors import InvalidSetting

    return exc.message if isinstance(exc, InvalidSetting) else "see the error above in ComfyUI's log"


try:
    _load()
except Exception as failure:  # ComfyUI must keep starting whatever happens in here
    if type(failure).__name__ == "InvalidSetting":  # the user's setting, not our bug: no traceback
        log.error("ComfyUI-Launchpad is disabled for this run: %s", failure)
    else:
        log.exception(
            "ComfyUI-Launchpad could not load and is disabled for this run; ComfyUI continues without it. "
            "Please report this log at https://github.com/comfyui-launchpad/ComfyUI-Launchpad/issues"
        )
    try:
        if _auth_required():
            _lock_down(_reason(failure))
    except Exception:
        log.exception("ComfyUI-Launchpad could not lock ComfyUI down after failing to load")
