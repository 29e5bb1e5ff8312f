"""Shared parts of the download benchmarks: a fake file server in its own process, big files,
this checkout's package and CLI. Benchmarks print figures; they assert nothing."""

from __future__ import annotations

import atexit
import functools
import importlib.util
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))

GiB = 2**30
MiB = 2**20


def load_package():
    """This checkout as the package ``comfyui_launchpad`` (what pip install gives)."""
    if "comfyui_launchpad" in sys.modules:
        return sys.modules["comfyui_launchpad"]
    spec = importlib.util.spec_from_file_location(
        "comfyui_launchpad", ROOT / "__init__.py", submodule_search_locations=[str(ROOT)]
    )
    assert spec is not None and spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    sys.modules["comfyui_launchpad"] = package
    spec.loader.exec_module(package)
    return package


def cli(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "tests" / "support" / "run_cli.py"), *args]


def big_file(directory: Path, size: int, name: str = "big.bin") -> Path:
    """A file of random bytes (made once per directory; 1 MiB pattern blocks keep it quick)."""
    path = directory / name
    if path.exists() and path.stat().st_size == size:
        return path
    block = os.urandom(MiB)
    with open(path, "wb") as fh:
        for index in range(size // MiB):
            fh.write(index.to_bytes(8, "little") + block[8:])  # every MiB differs
    return path


def _serve(conn, files: dict[str, str], rate: float | None, in_memory: bool) -> None:
    from fakehub import FakeHub

    hub = FakeHub().start()
    for name, path in files.items():
        data: bytes | Path = Path(path).read_bytes() if in_memory else Path(path)
        hub.add_file(name, data)
        if rate:
            hub.behave(name, rate=rate)
    conn.send((hub.url, {name: hub.blobs[name].sha256 for name in files}))
    conn.recv()  # until told to stop
    conn.send(hub.bytes_sent(next(iter(files))) if files else 0)
    hub.stop()


@contextmanager
def file_server(files: dict[str, Path], *, rate: float | None = None, in_memory: bool = False) -> Iterator[tuple]:
    """Serve ``files`` from a FakeHub in another process (its CPU use stays out of ours).

    Yields (base_url, {name: sha256}); URLs are ``base_url/files/<name>``.
    """
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(child, {k: str(v) for k, v in files.items()}, rate, in_memory))
    process.start()
    url, hashes = parent.recv()
    try:
        yield url, hashes
    finally:
        parent.send("stop")
        parent.recv()
        process.join(timeout=30)


@contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    base = Path(os.environ.get("BENCH_DIR", tempfile.gettempdir()))
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def write_preset(workspace: Path, url: str, *, sha256: str | None, size: int | None, name: str = "big.bin") -> None:
    from fakehub import write_presets

    entry: dict[str, object] = {"folder": "checkpoints", "name": name, "url": url}
    if sha256:
        entry["sha256"] = sha256
    if size:
        entry["size"] = size
    write_presets(workspace, {"BENCH": [entry]})


@functools.lru_cache(maxsize=1)
def _no_templates() -> Path:
    path = Path(tempfile.mkdtemp(prefix="lp-no-templates-"))
    atexit.register(shutil.rmtree, path, True)
    return path


def bench_env(**extra: str) -> dict[str, str]:
    """The CLI's environment: no free-space margin, no template presets to load."""
    empty = _no_templates()
    return {**os.environ, "DOWNLOAD_FREE_SPACE_MARGIN": "0", "LAUNCHPAD_TEMPLATES_DIR": str(empty), **extra}


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def need_curl() -> str:
    curl = shutil.which("curl")
    if curl is None:
        sys.exit("curl is needed: apt-get install -y curl")
    return curl


def drop_caches_hint() -> None:
    """Flush dirty pages so one run's writeback does not slow the next one down."""
    subprocess.run(["sync"], check=False)
