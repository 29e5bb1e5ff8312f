"""Runs tests/support/fakehub.py's FakeHub in its own process (so its work does not share a GIL with the
client that measures), serving COUNT random files of SIZE bytes capped at RATE bytes/s per
connection. Prints one JSON line ``{"url", "files": [{"name", "url", "size", "sha256"}]}`` and
serves until its standard input closes.

    python benchmarks/_hub_process.py COUNT SIZE RATE
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
from fakehub import FakeHub


def main() -> None:
    count, size, rate = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    hub = FakeHub().start()
    files = []
    block = os.urandom(size)
    for index in range(count):
        # each file different (a different first byte), so a mix-up between files would show
        data = bytes([index]) + block[1:]
        name = f"bench-{index}.safetensors"
        url = hub.add_file(name, data)
        if rate > 0:
            hub.behave(name, rate=rate)
        files.append({"name": name, "url": url, "size": size, "sha256": hashlib.sha256(data).hexdigest()})
    del block
    print(json.dumps({"url": hub.url, "files": files}), flush=True)
    sys.stdin.read()  # until the parent closes our stdin (or dies)
    hub.stop()


if __name__ == "__main__":
    main()
