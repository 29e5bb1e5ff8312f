"""Peak memory growth of the process while it downloads one big file (segmented, sha256 verified).

    python benchmarks/bench_memory.py [--size-gib 2]

Target: peak RSS growth under 100 MB for a 2 GiB file.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import threading
import time

import psutil
from _common import GiB, big_file, file_server, workdir
from _manager import manager_for


async def download(url: str, sha256: str, segments: int) -> tuple[int, int, float]:
    process = psutil.Process()
    manager = manager_for({"big.bin": (url, sha256)}, segments=segments)
    await manager.start()
    baseline = process.memory_info().rss
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    await manager.install(["BENCH"])
    await manager.wait()
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    assert [j["state"] for j in (await manager.snapshot())["jobs"]] == ["done"]
    shutil.rmtree(manager.workspace.root, ignore_errors=True)
    await manager.close()
    return baseline, peak, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-gib", type=float, default=2.0)
    parser.add_argument("--segments", type=int, help="one configuration (default: 8, then 1, each in a fresh process)")
    args = parser.parse_args()
    if args.segments is None:
        for segments in (8, 1):
            subprocess.run([sys.executable, __file__, "--size-gib", str(args.size_gib), "--segments", str(segments)],
                           check=True)
        return
    size = int(args.size_gib * GiB)
    with workdir("lp-bench-mem-") as work:
        source = big_file(work, size)
        with file_server({"big.bin": source}) as (base, hashes):
            url = f"{base}/files/big.bin"
            baseline, peak, elapsed = asyncio.run(download(url, hashes["big.bin"], args.segments))
    print(
        f"{size / GiB:.1f} GiB, {args.segments} segment(s), {size / elapsed / 1e6:.0f} MB/s: RSS "
        f"{baseline / 1e6:.0f} MB before, peak {peak / 1e6:.0f} MB, growth {(peak - baseline) / 1e6:.1f} MB "
        "(target < 100 MB)"
    )


if __name__ == "__main__":
    main()
