"""GET /launchpad/presets with every template-derived preset (~260): p50 must stay under 20 ms.

    python benchmarks/presets_list.py [--requests 300]

Needs the templates packages (the test extra installs comfyui-workflow-templates-core/-json).
Runs `launchpad serve` on a fresh temporary workspace and times full requests from a client.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

import aiohttp
from _serve import report, serve, timed_get


async def measure(base: str, requests: int) -> tuple[list[float], int]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/launchpad/presets") as response:
            count = len((await response.json())["presets"])
        for _ in range(10):  # warm up
            await timed_get(session, f"{base}/launchpad/presets")
        samples = [await timed_get(session, f"{base}/launchpad/presets") for _ in range(requests)]
        filtered = [await timed_get(session, f"{base}/launchpad/presets?category=video&search=wan")
                    for _ in range(requests // 3)]
    report("presets list, filtered (category=video&search=wan)", filtered, 20)
    return samples, count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, serve(Path(tmp) / "workspace") as base:
        samples, count = asyncio.run(measure(base, args.requests))
    print(f"presets in the catalog: {count}")
    if count < 200:
        print("warning: fewer than 200 presets; are the workflow templates packages installed?")
    return 0 if report("presets list (all)", samples, 20) else 1


if __name__ == "__main__":
    sys.exit(main())
