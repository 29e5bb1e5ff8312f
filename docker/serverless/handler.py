#!/usr/bin/env python3
"""The serverless image's entry point: Launchpad's worker (launchpad/serverless/) on the runpod SDK.

    python handler.py                        on RunPod: take the endpoint's jobs
    python handler.py --test_input '{...}'   the SDK's local test mode: one job, then exit 0 or 1
    python handler.py                        elsewhere, with test_input.json in the working directory
"""

import sys

import runpod
from comfyui_launchpad.launchpad.serverless.worker import main

if __name__ == "__main__":
    sys.exit(main(runpod.serverless.start))
