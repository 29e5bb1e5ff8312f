"""How long importing this checkout costs ComfyUI, in milliseconds (ComfyUI prints 0.1 s steps).

    COMFYUI_DIR=/path/to/ComfyUI python tests/integration/bench_import_time.py [--runs 5] [--cold]

Each run is a fresh `main.py --quick-test-for-ci` with our generated flags (as in the
integration tests), timed by import_timer.py around ComfyUI's own load_custom_node call.
--cold deletes this checkout's __pycache__ first, as on a fresh install.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/conftest.py before this folder's conftest.py

from real_comfyui import REPO, ComfyUIInstall, command, environment, prepare  # noqa: E402

from conftest import cli_argv  # noqa: E402


def one_run(install: ComfyUIInstall, run_dir: Path, cold: bool) -> float:
    setup = prepare(run_dir, cli_argv)
    if cold:  # after prepare: our CLI has just compiled the package again
        for cache in REPO.rglob("__pycache__"):
            shutil.rmtree(cache, ignore_errors=True)
    report = run_dir / "timings.json"
    argv = command(install, setup, "--quick-test-for-ci")
    timed = [argv[0], str(HERE / "import_timer.py"), str(report), *argv[1:]]
    with open(setup.log_path, "wb") as log:
        done = subprocess.run(timed, cwd=setup.cwd, env=environment(setup), stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        sys.exit(f"ComfyUI exited {done.returncode}; see {setup.log_path}")
    ours = [t for t in json.loads(report.read_text()) if t["path"] == str(setup.pack_dir)]
    if not ours or not ours[0]["ok"]:
        sys.exit(f"the pack did not load; see {setup.log_path}")
    return float(ours[0]["seconds"]) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cold", action="store_true", help="delete __pycache__ before each run")
    args = parser.parse_args()
    install = ComfyUIInstall.from_env()
    if install is None:
        sys.exit("set COMFYUI_DIR to a ComfyUI checkout")
    with tempfile.TemporaryDirectory(prefix="launchpad-bench-") as tmp:
        figures = [one_run(install, Path(tmp) / f"run{i}", args.cold) for i in range(args.runs)]
    label = "cold (no __pycache__)" if args.cold else "warm"
    print(f"ComfyUI import of the pack, {label}, {args.runs} runs: " + ", ".join(f"{f:.1f}" for f in figures) + " ms")
    print(f"min {min(figures):.1f} ms, median {statistics.median(figures):.1f} ms, max {max(figures):.1f} ms")


if __name__ == "__main__":
    main()
