"""Entry point of the download worker process (see worker.py); run as a script only.

It loads this repository as a package under a private name without running the root
``__init__`` (that is ComfyUI's entry), then serves the worker protocol.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import signal
import sys
from pathlib import Path

PACKAGE = "launchpad_download_worker"


def main() -> None:
    # Ctrl+C in ComfyUI's terminal reaches the whole process group; the worker stops when its
    # parent does (its stdin closes), without a KeyboardInterrupt traceback of its own
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location(PACKAGE, root / "__init__.py", submodule_search_locations=[str(root)])
    assert spec is not None
    sys.modules[PACKAGE] = importlib.util.module_from_spec(spec)
    worker = importlib.import_module(f"{PACKAGE}.launchpad.downloads.worker")
    asyncio.run(worker.child_main())


if __name__ == "__main__":
    main()
