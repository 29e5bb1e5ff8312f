"""Run the serverless image's entry point (docker/serverless/handler.py) on this checkout, whatever
is pip-installed, with the runpod SDK of this Python: what the image runs, outside the image.

    python tests/run_serverless.py --test_input '{"input": {...}}'
"""

import importlib.util
import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

spec = importlib.util.spec_from_file_location(
    "comfyui_launchpad", ROOT / "__init__.py", submodule_search_locations=[str(ROOT)]
)
package = importlib.util.module_from_spec(spec)
sys.modules["comfyui_launchpad"] = package
spec.loader.exec_module(package)

entry = ROOT / "docker" / "serverless" / "handler.py"
sys.argv[0] = str(entry)
runpy.run_path(str(entry), run_name="__main__")
