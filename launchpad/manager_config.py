"""ComfyUI-Manager's network mode on the workspace, set from whether our login guards the port.

ComfyUI 0.33 and on load the Manager as a package (``--enable-manager``); it keeps its settings
in ``<user directory>/__manager/config.ini`` (on the volume here). On a listener that is not
loopback, as on a pod, it refuses git-URL and pip installs unless ``network_mode`` is
``personal_cloud``, and that mode lets anyone who reaches the port install code. So it is
``personal_cloud`` exactly when Launchpad's login is on: switched to it from the default
``public`` when ENABLE_AUTH is on, and back to ``public`` when it is off. A mode the user chose
for other reasons (``private``, ``offline``) is left alone.
"""

from __future__ import annotations

import configparser
import io
from pathlib import Path

from .files import atomic_write_text

OPEN = "public"
GUARDED = "personal_cloud"


def config_path(user_dir: Path) -> Path:
    return user_dir / "__manager" / "config.ini"


def set_network_mode(user_dir: Path, *, login: bool) -> str | None:
    """Make ``network_mode`` follow the login; what changed, in words, or None when nothing did."""
    path = config_path(user_dir)
    config = configparser.ConfigParser()
    if path.exists():
        config.read(path, encoding="utf-8")
    if not config.has_section("default"):
        config.add_section("default")
    current = config.get("default", "network_mode", fallback=OPEN).strip().lower()
    if login and current == OPEN:
        wanted = GUARDED
    elif not login and current == GUARDED:
        wanted = OPEN
    else:
        return None
    config.set("default", "network_mode", wanted)
    text = io.StringIO()
    config.write(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text.getvalue())
    reason = "the login (ENABLE_AUTH) guards the port" if login else "no login (ENABLE_AUTH) guards the port"
    return f"ComfyUI-Manager network_mode {current} -> {wanted} in {path}: {reason}"
