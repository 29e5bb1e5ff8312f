"""Is the event loop ever blocked? p99 latency of an aiohttp endpoint on the loop that runs 3 downloads.

    python benchmarks/bench_loop_latency.py [--size-mib 1024]

The downloads go full speed over loopback (file writes and hashing must stay in threads);
another process requests GET /ping on the same loop back to back. Target: p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import multiprocessing
import shutil
import statistics
import time

from _common import MiB, big_file, file_server, workdir
from _manager import manager_for
from aiohttp import web


def _pinger(port: int, stop, results) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    latencies = []
    while not stop.is_set():
        started = time.perf_counter()
        connection.request("GET", "/ping")
        connection.getresponse().read()
        latencies.append((time.time(), time.perf_counter() - started))
        time.sleep(0.005)
    results.put(latencies)


async def measure(urls: dict[str, tuple[str, str | None]]) -> tuple[list[float], list[float], list[float], float]:
    app = web.Application()

    async def ping(request: web.Request) -> web.Response:
        return web.Response(text="pong")

    app.router.add_get("/ping", ping)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]

    lags: list[float] = []

    async def lag_probe() -> None:  # the loop's own view: how late does a 10 ms sleep wake up?
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - started - 0.01)

    context = multiprocessing.get_context("spawn")
    stop, results = context.Event(), context.Queue()
    pinger = context.Process(target=_pinger, args=(port, stop, results))
    manager = manager_for(urls, concurrent_downloads=3)
    await manager.start()
    pinger.start()
    await asyncio.sleep(2.0)  # idle: the baseline
    probe = asyncio.ensure_future(lag_probe())
    started, wall = time.perf_counter(), time.time()
    await manager.install(["BENCH"])
    await manager.wait()
    elapsed = time.perf_counter() - started
    probe.cancel()
    stop.set()
    samples = await asyncio.get_running_loop().run_in_executor(None, results.get)
    idle = [latency for at, latency in samples[5:] if at < wall]  # the first few warm the connection up
    latencies = [latency for at, latency in samples if at >= wall]
    pinger.join()
    states = {job["state"] for job in (await manager.snapshot())["jobs"]}
    assert states == {"done"}, states
    shutil.rmtree(manager.workspace.root, ignore_errors=True)
    await manager.close()
    await runner.cleanup()
    return idle, latencies, lags, elapsed


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="size of each of the 3 files")
    args = parser.parse_args()
    size = args.size_mib * MiB
    with workdir("lp-bench-lat-") as work:
        files = {f"f{i}.bin": big_file(work, size, f"f{i}.bin") for i in range(3)}
        with file_server(files) as (base, hashes):
            urls = {name: (f"{base}/files/{name}", hashes[name]) for name in files}
            idle, latencies, lags, elapsed = asyncio.run(measure(urls))
    total = 3 * size
    print(f"3 downloads of {args.size_mib} MiB (sha256 verified) in {elapsed:.1f} s = {total / elapsed / 1e6:.0f} MB/s")
    print(f"GET /ping on the same loop: {len(latencies)} requests, p50 {pct(latencies, 0.5):.1f} ms, "
          f"p99 {pct(latencies, 0.99):.1f} ms, max {max(latencies) * 1000:.1f} ms (target p99 < 50 ms)")
    print(f"GET /ping with no download (baseline): p50 {pct(idle, 0.5):.1f} ms, p99 {pct(idle, 0.99):.1f} ms")
    print(f"loop lag (10 ms sleeps): median {statistics.median(lags) * 1000:.1f} ms, p99 {pct(lags, 0.99):.1f} ms, "
          f"max {max(lags) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
