"""Start-up benchmark: the image's start script against the old image's rsync.

    python benchmarks/bench_startup.py [--files 10000] [--runs 5] [--rsync-source /work/comfy]

Measures, on this machine, outside Docker:

1. the time from launching docker/scripts/start.sh to the ComfyUI command being executed, with
   ``--files`` files already on the volume (the workspace), over ``--runs`` runs. The ComfyUI
   command is a stand-in that stamps the time it was exec'd and then sleeps, so the figure is
   the start script's own cost (volume check, `launchpad paths`, flags, services, custom-node
   check), not ComfyUI's import time, which is the same either way;
2. ``rsync -a`` of a ComfyUI checkout plus its venv (the old image's first-start step) into a
   fresh directory, once, in the same run.

Prints the figures; asserts nothing (tests never assert on time). Needs rsync (apt-get install
rsync) for part 2; skips it with a note when rsync or the source is missing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START = ROOT / "docker" / "scripts" / "start.sh"
RUN_CLI = ROOT / "tests" / "support" / "run_cli.py"
STAMP_COMFY = """#!/bin/bash
printf '%s\\n' "$EPOCHREALTIME" > "$BENCH_STAMP"
exec sleep 600
"""


def populate(workspace: Path, count: int) -> None:
    """``count`` small files spread the way a used volume holds them."""
    places = ["models/checkpoints", "models/loras", "models/vae", "models/text_encoders", "output", "input",
              "user/default/workflows", "custom_nodes/SomePack/assets"]
    for place in places:
        (workspace / place).mkdir(parents=True, exist_ok=True)
    for index in range(count):
        place = places[index % len(places)]
        sub = workspace / place / f"batch{index // 1000:02d}"
        sub.mkdir(exist_ok=True)
        (sub / f"file{index:05d}.bin").write_bytes(b"x" * 512)


def one_start(tmp: Path, workspace: Path, run: int) -> tuple[float, str]:
    shim_dir = tmp / "bin"
    stamp = tmp / f"stamp{run}"
    env = {
        "PATH": f"{shim_dir}:{os.environ['PATH']}",
        "HOME": str(tmp),
        "TMPDIR": str(tmp),
        "WORKSPACE_ROOT": str(workspace),
        "VENV": str(Path(sys.executable).resolve().parent.parent),
        "LAUNCHPAD_PYTHON": sys.executable,
        "COMFYUI_DIR": str(tmp / "none"),
        "COMFYUI_CMD": str(tmp / "stamp-comfyui.sh"),
        "COMFYUI_PORT": "18999",
        "CUSTOM_NODES_STATE": str(tmp / "state"),
        "SSHD_BIN": str(tmp / "none"),
        "BENCH_STAMP": str(stamp),
    }
    out = tmp / f"run{run}.out"
    with open(out, "w") as fh:
        started = time.time()
        proc = subprocess.Popen(["bash", str(START)], env=env, stdout=fh, stderr=subprocess.STDOUT)
        while not stamp.exists() or not stamp.read_text().strip():
            if proc.poll() is not None:
                raise SystemExit(f"start.sh exited early:\n{out.read_text()}")
            time.sleep(0.002)
        took = float(stamp.read_text()) - started
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    return took, out.read_text()


def phase_times(output: str) -> str:
    parts = []
    for line in output.splitlines():
        if "] phase " in line and "(took " in line:
            name = line.split("] phase ", 1)[1].split(":", 1)[0]
            parts.append(f"{name} {line.rsplit('(took ', 1)[1].split(' s)')[0]}")
    return ", ".join(parts)


def bench_rsync(source: Path, tmp: Path) -> None:
    if not shutil.which("rsync"):
        print("rsync: not installed here (apt-get install rsync); skipped")
        return
    if not source.is_dir():
        print(f"rsync: {source} does not exist; skipped (--rsync-source DIR)")
        return
    files = sum(len(f) for _, _, f in os.walk(source))
    size = subprocess.run(["du", "-sh", str(source)], capture_output=True, text=True).stdout.split()[0]
    target = tmp / "rsync-target"
    started = time.time()
    subprocess.run(["rsync", "-a", f"{source}/", f"{target}/"], check=True)
    took = time.time() - started
    print(f"rsync -a {source} ({size}, {files} files) -> a fresh directory: {took:.1f} s")
    shutil.rmtree(target, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=10_000, help="files already on the volume")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rsync-source", type=Path, default=Path("/work/comfy"),
                        help="a ComfyUI checkout plus venv to copy (the old image's way)")
    parser.add_argument("--no-rsync", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-startup-") as name:
        tmp = Path(name)
        (tmp / "bin").mkdir()
        shim = tmp / "bin" / "launchpad"
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{RUN_CLI}" "$@"\n')
        shim.chmod(0o755)
        comfy = tmp / "stamp-comfyui.sh"
        comfy.write_text(STAMP_COMFY)
        comfy.chmod(0o755)
        workspace = tmp / "workspace"
        populate(workspace, args.files)
        print(f"start.sh -> ComfyUI command executed, {args.files} files on the volume, {args.runs} runs:")
        times = []
        for run in range(args.runs):
            took, output = one_start(tmp, workspace, run)
            times.append(took)
            print(f"  run {run + 1}: {took:.3f} s   ({phase_times(output)})")
        print(f"  median {statistics.median(times):.3f} s, best {min(times):.3f} s, worst {max(times):.3f} s")
        if not args.no_rsync:
            bench_rsync(args.rsync_source, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
