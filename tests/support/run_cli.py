"""Run the `launchpad` CLI from this checkout (whatever is pip-installed), for subprocess tests.

    python tests/support/run_cli.py paths --workspace /tmp/ws
"""

import sys

from checkout_package import load

load()

from comfyui_launchpad.launchpad.cli.main import main  # noqa: E402

sys.exit(main())
