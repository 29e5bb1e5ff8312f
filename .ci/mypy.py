"""Type-check the package with mypy under its installed name, from any checkout folder.

The repository root is the package (ComfyUI loads it by path; pip installs it as
``comfyui_launchpad``), and a checkout's folder name is rarely a valid module name, so mypy
is pointed at a temporary ``comfyui_launchpad`` link to it. Settings come from pyproject.toml.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("launchpad", "server_routes", "nodes")


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        link = Path(scratch) / "comfyui_launchpad"
        link.symlink_to(ROOT, target_is_directory=True)
        command = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
                   "--cache-dir", str(Path(scratch) / "cache"), "-m", "comfyui_launchpad",
                   *(arg for name in PACKAGES for arg in ("-p", f"comfyui_launchpad.{name}")), *sys.argv[1:]]
        return subprocess.call(command, cwd=scratch)


if __name__ == "__main__":
    sys.exit(main())
