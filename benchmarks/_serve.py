"""Shared by the benchmarks: run `launchpad serve` from this checkout in a subprocess, time requests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve(workspace: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """`launchpad serve --workspace WORKSPACE` on a free port; yields its base URL once ready."""
    port = free_port()
    argv = [sys.executable, str(ROOT / "tests" / "support" / "run_cli.py"), "serve", "--workspace", str(workspace),
            "--port", str(port)]
    environment = {**os.environ, "LOG_LEVEL": "WARNING", **(env or {})}
    proc = subprocess.Popen(argv, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(wait_ready(base, proc))
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def wait_ready(base: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            try:
                async with session.get(f"{base}/launchpad/health") as response:
                    health = await response.json()
                    if health.get("state") == "ready":
                        return
                    if health.get("state") == "failed":
                        raise RuntimeError(f"Launchpad failed to start: {health.get('error')}")
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError("server did not become ready")


async def timed_get(session: aiohttp.ClientSession, url: str) -> float:
    """Seconds from sending the request to having read the whole body."""
    started = time.perf_counter()
    async with session.get(url) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"{url}: HTTP {response.status}")
    return time.perf_counter() - started


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def report(name: str, samples: list[float], target_ms: float, pct: float = 50) -> bool:
    value = percentile(samples, pct) * 1000
    ok = value < target_ms
    print(
        f"{name}: n={len(samples)} p{pct:g}={value:.2f} ms (target < {target_ms:g} ms, ratio {value / target_ms:.2f}) "
        f"p50={statistics.median(samples) * 1000:.2f} ms p99={percentile(samples, 99) * 1000:.2f} ms "
        f"{'OK' if ok else 'OVER'}"
    )
    return ok
