"""ComfyUI's own GET /system_stats while Launchpad downloads 3 files: p99 at most 2x the idle p99.

    COMFYUI_DIR=/path/to/ComfyUI python benchmarks/system_stats_under_downloads.py \
        [--size-mb 600] [--rate-mb 12] [--idle 400]

Starts a real ComfyUI (the integration harness in tests/integration/real_comfyui.py: our
workspace, our generated flags, this checkout as a custom node) and a fake file server in a
separate process serving three random files (each connection capped at --rate-mb MB/s; a
large file uses several ranged connections). It measures /system_stats with sequential
requests: idle, then while the three downloads of one preset run (CONCURRENT_DOWNLOADS=3), then
idle again (idle figures pool both idle runs), and prints p50/p99 of both and the ratio of the
p99s. The file server runs at the lowest CPU priority, as the remote host it stands for would
take no CPU here at all. With --reference a separate `launchpad serve` process does the same
downloads: the ratio it gets is what the machine's CPU contention alone costs ComfyUI, the
floor for the in-ComfyUI figure (on a shared two-core machine that floor is well above 1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

EXTRA_ENV = dict(item.split("=", 1) for item in os.environ.get("BENCH_COMFY_ENV", "").split() if "=" in item)
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from _serve import percentile, serve  # noqa: E402

from conftest import cli_argv  # noqa: E402
from tests.integration.real_comfyui import ComfyUIInstall, LaunchOptions, prepare, start  # noqa: E402


def preset_yaml(files: list[dict]) -> str:
    lines = ["schema: 1", "presets:", "  - id: bench-three", "    name: Three big files", "    category: image",
             "    files:"]
    for item in files:
        lines += ["      - folder: checkpoints", f"        name: {item['name']}", f"        url: {item['url']}",
                  f"        size: {item['size']}", f"        sha256: {item['sha256']}"]
    return "\n".join(lines) + "\n"


async def sample(session: aiohttp.ClientSession, base: str, count: int | None, until=None) -> list[float]:  # type: ignore[no-untyped-def]
    samples = []
    while (count is None or len(samples) < count) and (until is None or not await until()):
        started = time.perf_counter()
        async with session.get(f"{base}/system_stats") as response:
            await response.read()
            assert response.status == 200
        samples.append(time.perf_counter() - started)
        await asyncio.sleep(0.005)
    return samples


async def run(base: str, idle_count: int, downloader: str) -> tuple[list[float], list[float], float]:
    """Idle samples before and after the downloads (the machine's background load drifts), busy during.

    ``downloader`` is the base URL of the Launchpad that downloads: ComfyUI's own, or (for the
    reference run) a separate `launchpad serve` process.
    """
    async with aiohttp.ClientSession() as session:
        for _ in range(60):
            async with session.get(f"{base}/api/launchpad/health") as response:
                if (await response.json())["state"] == "ready":
                    break
            await asyncio.sleep(0.5)
        await sample(session, base, 20)  # warm up
        idle = await sample(session, base, idle_count)

        async with session.post(f"{downloader}/api/launchpad/presets/install", json={"presets": ["bench-three"]}) as r:
            assert r.status == 202, await r.text()
        started = time.monotonic()
        state = {"checked": 0.0, "done": False, "downloading_seen": False}

        async def finished() -> bool:
            if time.monotonic() - state["checked"] < 0.5:
                return False
            state["checked"] = time.monotonic()
            async with session.get(f"{downloader}/api/launchpad/downloads") as response:
                jobs = (await response.json())["jobs"]
            active = [j for j in jobs if j["state"] in ("queued", "resolving", "downloading", "verifying")]
            if sum(j["state"] == "downloading" for j in jobs) == 3:
                state["downloading_seen"] = True
            failed = [j for j in jobs if j["state"] == "failed"]
            if failed:
                raise RuntimeError(f"download failed: {failed[0]['error']}")
            return not active

        busy = await sample(session, base, None, until=finished)
        seconds = time.monotonic() - started
        await asyncio.sleep(2)  # let the last file's verification and the journal settle
        idle += await sample(session, base, idle_count)
        return idle, busy, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=600)
    parser.add_argument("--rate-mb", type=float, default=12, help="per connection; 0 for full speed")
    parser.add_argument("--idle", type=int, default=400)
    parser.add_argument(
        "--reference", action="store_true",
        help="let a separate `launchpad serve` process do the same downloads: what the machine's CPU alone costs",
    )
    args = parser.parse_args()
    install = ComfyUIInstall.from_env()
    if install is None or install.problems():
        print("set COMFYUI_DIR to a ComfyUI checkout (and COMFYUI_PYTHON if its Python is not ../venv)")
        return 2
    # the file server stands in for a remote host: at the lowest priority it takes CPU from
    # ComfyUI as little as a remote server would
    hub = subprocess.Popen(
        ["nice", "-n", "19", sys.executable, str(HERE / "_hub_process.py"), "3",
         str(args.size_mb * 2**20), str(args.rate_mb * 2**20)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        served = json.loads(hub.stdout.readline())  # type: ignore[union-attr]
        with tempfile.TemporaryDirectory() as tmp:
            def seed(workspace: Path) -> None:
                (workspace / "config" / "presets").mkdir(parents=True)
                (workspace / "config" / "presets" / "bench.yaml").write_text(preset_yaml(served["files"]))

            options = LaunchOptions(env={"DOWNLOAD_FREE_SPACE_MARGIN": "0", "CONCURRENT_DOWNLOADS": "3",
                                         "LOG_LEVEL": "WARNING", **EXTRA_ENV}, prepare=seed)
            setup = prepare(Path(tmp) / "run", cli_argv, options)
            comfy = start(install, setup)
            try:
                if args.reference:
                    other = Path(tmp) / "reference"
                    seed(other)
                    with serve(other, env={"DOWNLOAD_FREE_SPACE_MARGIN": "0"}) as downloader:
                        idle, busy, seconds = asyncio.run(run(comfy.base_url, args.idle, downloader))
                    landed = sorted(p.name for p in (other / "models" / "checkpoints").glob("bench-*"))
                else:
                    idle, busy, seconds = asyncio.run(run(comfy.base_url, args.idle, comfy.base_url))
                    landed = sorted(p.name for p in (setup.workspace / "models" / "checkpoints").glob("bench-*"))
            finally:
                comfy.stop()
                if os.environ.get("BENCH_KEEP_LOG"):
                    Path(os.environ["BENCH_KEEP_LOG"]).write_text(comfy.log_text())
    finally:
        if hub.stdin:
            hub.stdin.close()
        hub.wait(timeout=30)
    total_mb = 3 * args.size_mb
    who = "a separate `launchpad serve` (reference)" if args.reference else "Launchpad inside ComfyUI"
    print(f"downloader: {who}")
    print(f"downloaded 3 x {args.size_mb} MiB in {seconds:.1f} s ({total_mb / seconds:.0f} MiB/s); files: {landed}")
    idle_p99, busy_p99 = percentile(idle, 99) * 1000, percentile(busy, 99) * 1000
    print(f"idle:  n={len(idle)} p50={percentile(idle, 50) * 1000:.2f} ms p99={idle_p99:.2f} ms")
    print(f"busy:  n={len(busy)} p50={percentile(busy, 50) * 1000:.2f} ms p99={busy_p99:.2f} ms")
    ratio = busy_p99 / idle_p99
    print(f"p99 ratio busy/idle: {ratio:.2f} (target <= 2.00) {'OK' if ratio <= 2 else 'OVER'}")
    return 0 if ratio <= 2 and len(landed) == 3 else 1


if __name__ == "__main__":
    sys.exit(main())
