"""The worker's life: cold start, ComfyUI ready, then the runpod SDK takes jobs until it is stopped.

``main(start)`` is called by the image's entry point with ``runpod.serverless.start``. On RunPod
the SDK loops over the endpoint's jobs; run by hand with ``--test_input '{...}'`` (or a
``test_input.json`` in the working directory) it runs that one job and exits with 0 or 1,
the SDK's local test mode. ComfyUI is stopped however the SDK leaves.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..config import ServerlessSettings
from ..errors import InvalidSetting
from . import coldstart
from .coldstart import ColdStartFailed
from .handler import Worker, make_handler

log = logging.getLogger("launchpad.serverless")

OK, FAILED, USAGE = 0, 1, 2
RULE = "!" * 78


def _fail(message: str) -> None:
    log.error(RULE)
    log.error("!! the worker cannot take jobs: %s", message)
    log.error(RULE)


def _stop_on_sigterm() -> None:
    """RunPod stops a worker with SIGTERM: exit through the `finally` that stops ComfyUI."""

    def stop(signum: int, frame: object) -> None:
        log.info("SIGTERM: stopping ComfyUI and the worker")
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def main(start: Callable[[dict[str, Any]], object], env: Mapping[str, str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="[launchpad serverless] %(levelname)s %(message)s",
                        stream=sys.stdout, force=True)
    environ = os.environ if env is None else env
    started = time.monotonic()
    try:
        config = ServerlessSettings.from_env(environ)
    except InvalidSetting as exc:
        _fail(exc.message)
        return USAGE
    comfy = None
    try:
        plan = coldstart.prepare(config, environ)
        _stop_on_sigterm()
        comfy = coldstart.ComfyUI(plan, cwd=config.comfyui_dir)
        took = comfy.wait_ready(config.comfyui_start_timeout)
        log.info("ComfyUI ready on %s after %.1f s; cold start took %.1f s", plan.url, took, time.monotonic() - started)
        worker = Worker(
            comfy_url=plan.url,
            exited=comfy.exited,
            models=plan.models,
            provision=functools.partial(coldstart.provision_again, config, plan.models, environ),
            refresh_worker=config.refresh_worker,
            comfy_org_api_key=config.comfy_org_api_key,
        )
        start({"handler": make_handler(worker)})
        return OK
    except ColdStartFailed as exc:
        _fail(str(exc))
        return FAILED
    finally:
        if comfy is not None:
            comfy.stop()
