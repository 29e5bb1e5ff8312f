"""One big file from a loopback server: `launchpad install` against `curl -o`, same file, same run.

    python benchmarks/bench_loopback_vs_curl.py [--size-gib 2] [--runs 3] [--no-sha256]

Our CLI does more than curl: it checks the sha256 (while downloading) and fsyncs before the
atomic rename. So the script also times `curl -o` followed by `sync`, the nearest curl gets
to "the file is safely on disk". Target: ours >= 0.9 x curl's throughput.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time

from _common import (
    GiB,
    bench_env,
    big_file,
    cli,
    drop_caches_hint,
    file_server,
    need_curl,
    timed,
    workdir,
    write_preset,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-gib", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-sha256", action="store_true", help="leave the sha256 out of the preset")
    args = parser.parse_args()
    curl = need_curl()
    size = int(args.size_gib * GiB)
    with workdir("lp-bench-loop-") as work:
        source = big_file(work, size)
        with file_server({"big.bin": source}) as (base, hashes):
            url = f"{base}/files/big.bin"
            ours, engine, plain, synced = [], [], [], []
            for run in range(args.runs):
                with workdir("lp-bench-ws-") as workspace:
                    write_preset(workspace, url, sha256=None if args.no_sha256 else hashes["big.bin"], size=size)
                    drop_caches_hint()
                    started = time.perf_counter()
                    result = subprocess.run(cli("install", "BENCH", "--workspace", str(workspace), "--json"),
                                            env=bench_env(), check=True, capture_output=True, text=True)
                    ours.append(time.perf_counter() - started)
                    (job,) = json.loads(result.stdout)["jobs"]
                    engine.append(job["updated_at"] - job["created_at"])  # queued -> done, inside the process
                with workdir("lp-bench-curl-") as out:
                    drop_caches_hint()
                    plain.append(timed([curl, "-s", "-f", "-o", str(out / "big.bin"), url]))
                with workdir("lp-bench-curl-") as out:
                    drop_caches_hint()
                    target = out / "big.bin"
                    synced.append(timed(["sh", "-c", f'"{curl}" -s -f -o "{target}" "{url}" && sync "{target}"']))
                print(f"run {run + 1}: launchpad {ours[-1]:.2f} s (engine {engine[-1]:.2f} s), curl {plain[-1]:.2f} s, "
                      f"curl+sync {synced[-1]:.2f} s")

    def rate(seconds: list[float]) -> float:
        return size / statistics.median(seconds) / 1e6

    print(f"file: {size / GiB:.2f} GiB over loopback; sha256 {'off' if args.no_sha256 else 'verified'} by launchpad")
    print(f"launchpad install: {rate(ours):8.0f} MB/s (median of {len(ours)}, whole command incl. start-up)")
    print(f"  of which the download itself (queued -> verified, fsynced, renamed): {rate(engine):.0f} MB/s")
    print(f"curl -o:           {rate(plain):8.0f} MB/s")
    print(f"curl -o && sync:   {rate(synced):8.0f} MB/s")
    print(f"ratio vs curl:      {rate(ours) / rate(plain):.2f}x (target >= 0.9)")
    print(f"ratio vs curl+sync: {rate(ours) / rate(synced):.2f}x")


if __name__ == "__main__":
    main()
