"""Make ``comfyui_launchpad`` this checkout (whatever is pip-installed), for the scripts that run
its entry points in a subprocess (run_cli.py, run_serverless.py)."""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load() -> None:
    spec = importlib.util.spec_from_file_location(
        "comfyui_launchpad", ROOT / "__init__.py", submodule_search_locations=[str(ROOT)]
    )
    package = importlib.util.module_from_spec(spec)
    sys.modules["comfyui_launchpad"] = package
    spec.loader.exec_module(package)
