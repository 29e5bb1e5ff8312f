"""`launchpad provision` with nothing to do: a workspace that already matches its lock.

    python benchmarks/bench_provision_noop.py [--files 200] [--runs 7]

Writes a lock of ``--files`` files and a workspace holding every one of them (sparse files of
the locked sizes, spread over several model folders), then runs `launchpad provision LOCK
--json` as a subprocess ``--runs`` times, the way an init container or a boot script does.
Prints the wall time of the whole process (interpreter start included, next to a bare
``python -c pass`` and ``launchpad --version`` for scale) and the time provisioning itself
reports. Asserts nothing (tests never assert on time).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import cli

FOLDERS = ("checkpoints", "loras", "vae", "text_encoders", "diffusion_models", "upscale_models")
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def make(root: Path, count: int) -> Path:
    files = []
    for index in range(count):
        folder = FOLDERS[index % len(FOLDERS)]
        name = f"set{index // 50}/model_{index:04d}.safetensors"
        size = 2**30 + index  # GB-sized, sparse: only their size is looked at
        path = root / "workspace" / "models" / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            fh.truncate(size)
        files.append({"folder": folder, "name": name, "size": size, "sha256": f"{index:064x}",
                      "source": {"hf": "acme/models", "revision": "main", "commit": COMMIT, "path": name}})
    lock = root / "models.lock.json"
    lock.write_text(json.dumps({"format": "launchpad.models-lock", "version": 1, "files": files}))
    return lock


def timed(argv: list[str], runs: int) -> tuple[list[float], list[str]]:
    walls, outputs = [], []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
        walls.append(time.perf_counter() - started)
        outputs.append(done.stdout)
    return walls, outputs


def show(label: str, walls: list[float]) -> None:
    print(f"{label:<44} median {statistics.median(walls) * 1000:7.1f} ms   max {max(walls) * 1000:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-provision-") as tmp:
        root = Path(tmp)
        lock = make(root, args.files)
        workspace = str(root / "workspace")
        show("python -c pass", timed([sys.executable, "-c", "pass"], args.runs)[0])
        show("launchpad --version", timed(cli("--version"), args.runs)[0])
        walls, outputs = timed(cli("provision", str(lock), "--workspace", workspace, "--json"), args.runs)
        summaries = [json.loads(out.splitlines()[-1]) for out in outputs]
        assert all(s["complete"] and s["present"] == args.files for s in summaries), summaries[-1]
        show(f"launchpad provision ({args.files} files present)", walls)
        inside = [s["seconds"] for s in summaries]
        print(f"{'  of which provisioning itself':<44} median {statistics.median(inside) * 1000:7.1f} ms   "
              f"max {max(inside) * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
