"""A server that caps every connection (like a CDN edge): segmented `launchpad install` vs one curl stream.

    python benchmarks/bench_capped_segments.py [--size-mib 256] [--rate-mb 20] [--segments 8]

Target: at least 3x curl's single-stream throughput.
"""

from __future__ import annotations

import argparse

from _common import MiB, bench_env, big_file, cli, file_server, need_curl, timed, workdir, write_preset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--rate-mb", type=float, default=20.0, help="cap per connection, MB/s")
    parser.add_argument("--segments", type=int, default=8)
    args = parser.parse_args()
    curl = need_curl()
    size = args.size_mib * MiB
    rate = args.rate_mb * 1e6
    with workdir("lp-bench-cap-") as work:
        source = big_file(work, size)
        with file_server({"big.bin": source}, rate=rate, in_memory=True) as (base, hashes):
            url = f"{base}/files/big.bin"
            with workdir("lp-bench-ws-") as workspace:
                write_preset(workspace, url, sha256=hashes["big.bin"], size=size)
                env = bench_env(DOWNLOAD_SEGMENTS=str(args.segments))
                ours = timed(cli("install", "BENCH", "--workspace", str(workspace)), env)
            with workdir("lp-bench-curl-") as out:
                theirs = timed([curl, "-s", "-f", "-o", str(out / "big.bin"), url])
    ours_rate, curl_rate = size / ours / 1e6, size / theirs / 1e6
    print(f"file: {size / MiB:.0f} MiB, server cap {args.rate_mb:g} MB/s per connection")
    print(f"launchpad install ({args.segments} segments, sha256 verified): {ours_rate:7.1f} MB/s ({ours:.1f} s)")
    print(f"curl -o (one stream):                            {curl_rate:7.1f} MB/s ({theirs:.1f} s)")
    print(f"ratio: {ours_rate / curl_rate:.1f}x (target >= 3)")


if __name__ == "__main__":
    main()
