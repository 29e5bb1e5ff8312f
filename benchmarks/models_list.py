"""GET /launchpad/models over 10,000 model files: first call < 300 ms, repeated calls < 30 ms.

    python benchmarks/models_list.py [--files 10000] [--requests 200]

Creates the files (empty, in 10 folders x 20 subdirectories) in a temporary workspace, runs
`launchpad serve` on it, and times full requests from a client: the first listing (a cold
scan of every directory), repeated listings (served from the per-directory mtime cache), a
filtered search, and a listing right after one file was added (one directory rescanned).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from _serve import report, serve, timed_get

FOLDERS = ("checkpoints", "loras", "vae", "text_encoders", "diffusion_models", "controlnet", "upscale_models",
           "embeddings", "clip_vision", "style_models")


def make_files(models: Path, count: int) -> None:
    per_dir = max(1, count // (len(FOLDERS) * 20))
    made = 0
    for folder in FOLDERS:
        for sub in range(20):
            directory = models / folder / f"family-{sub:02d}"
            directory.mkdir(parents=True, exist_ok=True)
            for index in range(per_dir):
                if made >= count:
                    return
                (directory / f"model-{index:04d}.safetensors").touch()
                made += 1


async def measure(base: str, models: Path, requests: int) -> dict[str, list[float]]:
    url = f"{base}/launchpad/models?limit=100"
    async with aiohttp.ClientSession() as session:
        first = await timed_get(session, url)
        async with session.get(url) as response:
            total = (await response.json())["total"]
        repeated = [await timed_get(session, url) for _ in range(requests)]
        search = [await timed_get(session, f"{base}/launchpad/models?search=family-07+model-003&limit=100")
                  for _ in range(requests // 4)]
        after_change = []
        for index in range(20):
            (models / "loras" / "family-03" / f"new-{index}.safetensors").touch()
            after_change.append(await timed_get(session, url))
    print(f"files listed: {total}")
    return {"first": [first], "repeated": repeated, "search": search, "after_change": after_change}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp) / "workspace"
        started = time.perf_counter()
        make_files(workspace / "models", args.files)
        print(f"created {args.files} files in {time.perf_counter() - started:.1f} s")
        with serve(workspace) as base:
            results = asyncio.run(measure(base, workspace / "models", args.requests))
    ok = report("models list, first call (cold scan)", results["first"], 300, pct=100)
    ok &= report("models list, repeated", results["repeated"], 30)
    report("models list, repeated (p99)", results["repeated"], 30, pct=99)
    report("models list, search", results["search"], 30)
    report("models list, after adding a file", results["after_change"], 300)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
