#!/usr/bin/env python3
"""Copy standard input to standard output and to a size-rotated log file.

    logtee.py FILE        (LOG_MAX_BYTES, default 20 MB; LOG_KEEP, default 5 old files)

The start script pipes ComfyUI's output through this so it shows in the container log
(`docker logs`, RunPod's log view) and survives on the volume as FILE, FILE.1, ... Each run
starts a fresh FILE (the previous one becomes FILE.1). It ignores SIGTERM and SIGINT and stops
only at end of input, so the last lines ComfyUI prints while shutting down are never lost.
Standard library only: it runs before anything else is known to work.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys


def rotate(path: str, keep: int) -> None:
    """FILE -> FILE.1 -> ... -> FILE.<keep>; the oldest is dropped."""
    if keep < 1:
        with contextlib.suppress(OSError):
            os.remove(path)
        return
    for index in range(keep - 1, 0, -1):
        older = f"{path}.{index}"
        if os.path.exists(older):
            os.replace(older, f"{path}.{index + 1}")
    os.replace(path, f"{path}.1")


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: logtee.py FILE", file=sys.stderr)
        return 2
    path = sys.argv[1]
    max_bytes = int(os.environ.get("LOG_MAX_BYTES") or 20 * 2**20)
    keep = int(os.environ.get("LOG_KEEP") or 5)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    log = None
    try:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            rotate(path, keep)
        log = open(path, "ab")  # noqa: SIM115 (reopened on rotation)
    except OSError as exc:  # the volume went away: keep the console copy going
        print(f"[logtee] cannot write {path}: {exc}; console only", file=sys.stderr)

    out = sys.stdout.buffer
    size = 0
    for line in iter(sys.stdin.buffer.readline, b""):
        if out is not None:
            try:
                out.write(line)
                out.flush()
            except OSError:  # nobody reads the console any more; the file still matters
                out = None
        if log is not None:
            try:
                log.write(line)
                log.flush()
                size += len(line)
                if size >= max_bytes:
                    log.close()
                    rotate(path, keep)
                    log = open(path, "ab")  # noqa: SIM115
                    size = 0
            except OSError as exc:
                print(f"[logtee] stopped writing {path}: {exc}", file=sys.stderr)
                log = None
    if log is not None:
        log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
