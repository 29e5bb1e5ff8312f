"""Run the serverless image's entry point (docker/serverless/handler.py) on this checkout, whatever
is pip-installed, with the runpod SDK of this Python: what the image runs, outside the image.

    python tests/support/run_serverless.py --test_input '{"input": {...}}'
"""

import runpy
import sys

from checkout_package import ROOT, load

load()
entry = ROOT / "docker" / "serverless" / "handler.py"
sys.argv[0] = str(entry)
runpy.run_path(str(entry), run_name="__main__")
