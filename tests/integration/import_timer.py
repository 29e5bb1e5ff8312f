"""Run ComfyUI's main.py, timing each custom-node import to the microsecond.

ComfyUI prints import times with one decimal; this wraps ``nodes.load_custom_node`` (the
call ComfyUI times) as soon as ``nodes`` is imported and writes the exact figures as JSON.
It runs under ComfyUI's Python, started by bench_import_time.py:

    python import_timer.py REPORT.json COMFYUI/main.py [ComfyUI flags...]
"""

from __future__ import annotations

import atexit
import importlib.abc
import importlib.machinery
import json
import os
import runpy
import sys
import time

report_path, main_py, *flags = sys.argv[1:]
timings: list[dict[str, object]] = []


def _wrap(nodes: object) -> None:
    load = nodes.load_custom_node  # type: ignore[attr-defined]

    async def timed(module_path: str, *args: object, **kwargs: object) -> bool:
        started = time.perf_counter()
        ok = await load(module_path, *args, **kwargs)
        timings.append({"path": module_path, "seconds": time.perf_counter() - started, "ok": bool(ok)})
        return ok

    nodes.load_custom_node = timed  # type: ignore[attr-defined]


class _NodesHook(importlib.abc.MetaPathFinder):
    """Patches ComfyUI's ``nodes`` module right after it executes, before anything calls it."""

    def find_spec(self, name, path, target=None):  # type: ignore[no-untyped-def]
        if name != "nodes":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module: object) -> None:
            execute(module)  # type: ignore[arg-type]
            _wrap(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _write() -> None:
    with open(report_path, "w", encoding="utf-8") as out:
        json.dump(timings, out)


atexit.register(_write)
sys.meta_path.insert(0, _NodesHook())
sys.path[0] = os.path.dirname(os.path.abspath(main_py))  # as if main.py were the script
sys.argv = [main_py, *flags]
runpy.run_path(main_py, run_name="__main__")
