"""Run the `launchpad` CLI from this checkout (whatever is pip-installed), for subprocess tests.

    python tests/support/run_cli.py paths --workspace /tmp/ws
"""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

spec = importlib.util.spec_from_file_location(
    "comfyui_launchpad", ROOT / "__init__.py", submodule_search_locations=[str(ROOT)]
)
package = importlib.util.module_from_spec(spec)
sys.modules["comfyui_launchpad"] = package
spec.loader.exec_module(package)

from comfyui_launchpad.launchpad.cli.main import main  # noqa: E402

sys.exit(main())
