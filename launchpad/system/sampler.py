"""Samples the machine only while someone is looking, and pushes each sample as an event.

A panel that shows system status calls :meth:`SystemSampler.watch` when it opens and again
every few seconds (a lease, renewed); while at least one lease is alive a thread reads the
machine every ``interval`` seconds and emits ``launchpad.system`` with the reading and a
short history, so a panel opened late draws its bars with the recent past. When the last
lease expires (the tab closed, the laptop slept) sampling stops: an unwatched pod spends
nothing on NVML calls or CPU-time deltas.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable

from ..errors import InvalidInput
from ..events import SYSTEM, EventBus

log = logging.getLogger(__name__)

MAX_TTL = 300.0  # a lease longer than this is shortened: a vanished client must not pin the sampler


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _point(reading: dict) -> dict:
    """The few figures of a reading that the history keeps."""
    cpu = reading.get("cpu") or {}
    memory = reading.get("memory") or {}
    gpus = {}
    for device in (reading.get("gpu") or {}).get("devices") or []:
        if isinstance(device, dict) and isinstance(device.get("index"), int):
            gpus[device["index"]] = (_number(device.get("utilization")), _number(device.get("memory_percent")))
    return {
        "time": _number(reading.get("time")),
        "cpu": _number(cpu.get("percent")) if isinstance(cpu, dict) else None,
        "memory": _number(memory.get("percent")) if isinstance(memory, dict) else None,
        "gpus": gpus,
    }


class SystemSampler:
    """Leases, a sampling thread while any lease lives, and the recent history of samples."""

    def __init__(
        self,
        read: Callable[[], dict],
        events: EventBus,
        interval: float = 2.0,
        history: int = 60,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self._read = read
        self._events = events
        self._clock = clock
        self._lock = threading.Lock()
        self._sampling = threading.RLock()
        self._leases: dict[str, float] = {}  # client id -> expiry on ``clock``
        self._history: deque[dict] = deque(maxlen=history)
        self._latest: dict | None = None
        self._latest_at = -math.inf
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._closed = False

    # --- what the HTTP layer calls ------------------------------------------------------

    def watch(self, client_id: str, ttl: float = 30.0) -> dict:
        """Start or renew ``client_id``'s lease for ``ttl`` seconds; returns the current sample.

        Blocking when it has to read (no sample younger than ``interval``): from a coroutine
        use :meth:`watch_async`. Raises InvalidInput for an empty id or a ttl that is not a
        positive number.
        """
        if not isinstance(client_id, str) or not client_id.strip():
            raise InvalidInput("client_id must be a non-empty string; send any id unique to your tab")
        if not isinstance(ttl, (int, float)) or isinstance(ttl, bool) or not ttl > 0 or not math.isfinite(ttl):
            raise InvalidInput(f"ttl must be a positive number of seconds (at most {MAX_TTL:g}); got {ttl!r}")
        with self._lock:
            now = self._clock()
            self._leases[client_id] = now + min(float(ttl), MAX_TTL)
            starting = self._thread is None and not self._closed
            if starting:
                self._stop = threading.Event()
                self._thread = threading.Thread(target=self._run, args=(self._stop,), name="launchpad-system-sampler")
                self._thread.daemon = True
                self._thread.start()
            latest = self._latest
            if latest is not None and now - self._latest_at < self.interval and not starting:
                return self._payload(latest)
            closed = self._closed
        if closed:
            return self.reading()
        sample = self._sample()
        return sample if sample is not None else self.reading()

    def unwatch(self, client_id: str) -> None:
        """End ``client_id``'s lease now (the panel closed); sampling stops with the last one."""
        with self._lock:
            self._leases.pop(client_id, None)

    def reading(self) -> dict:
        """A fresh reading plus the history, without taking a lease (a plain GET). Blocking."""
        try:
            reading = self._read()
        except Exception:
            log.exception("system reading failed")
            reading = {}
        with self._lock:
            return self._payload(reading)

    async def watch_async(self, client_id: str, ttl: float = 30.0) -> dict:
        return await asyncio.to_thread(self.watch, client_id, ttl)

    async def reading_async(self) -> dict:
        return await asyncio.to_thread(self.reading)

    @property
    def sampling(self) -> bool:
        """True while the sampling thread runs (some lease is alive, or just expired)."""
        with self._lock:
            return self._thread is not None

    @property
    def watchers(self) -> int:
        with self._lock:
            return self._live_leases(self._clock())

    async def start(self) -> None:
        """Allow sampling (again). A new sampler allows it already; this undoes :meth:`close`."""
        with self._lock:
            self._closed = False

    async def close(self) -> None:
        """Drop every lease and stop the sampling thread; waits for it without blocking the loop."""
        with self._lock:
            self._closed = True
            self._leases.clear()
            self._stop.set()
            thread = self._thread
        if thread is not None:
            await asyncio.to_thread(thread.join)

    # --- inside ------------------------------------------------------------------------

    def _live_leases(self, now: float) -> int:
        """Forget expired leases; how many are left. Call with the lock held."""
        for client_id in [c for c, expiry in self._leases.items() if expiry <= now]:
            del self._leases[client_id]
        return len(self._leases)

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            with self._lock:
                if self._closed or not self._live_leases(self._clock()):
                    # idle: the next watcher starts a fresh thread and a fresh history
                    self._thread = None
                    self._history.clear()
                    self._latest, self._latest_at = None, -math.inf
                    return
            self._sample()
        with self._lock:
            if self._thread is threading.current_thread():
                self._thread = None

    def _sample(self) -> dict | None:
        """Read, remember, emit; the payload sent, or None when the read failed."""
        # one sample at a time, so history and events keep the order the readings were taken
        with self._sampling:
            try:
                reading = self._read()
            except Exception:
                log.exception("system reading failed")
                return None
            with self._lock:
                self._history.append(_point(reading))
                self._latest, self._latest_at = reading, self._clock()
                payload = self._payload(reading)
            self._events.emit(SYSTEM, payload)
            return payload

    def _payload(self, reading: dict) -> dict:
        """The reading plus ``history`` and ``watchers``. Call with the lock held."""
        points = list(self._history)
        indexes = sorted({index for point in points for index in point["gpus"]})
        history = {
            "interval": self.interval,
            "time": [p["time"] for p in points],
            "cpu": [p["cpu"] for p in points],
            "memory": [p["memory"] for p in points],
            "gpus": [
                {
                    "index": index,
                    "utilization": [p["gpus"].get(index, (None, None))[0] for p in points],
                    "memory": [p["gpus"].get(index, (None, None))[1] for p in points],
                }
                for index in indexes
            ],
        }
        return {**reading, "history": history, "watchers": self._live_leases(self._clock())}
