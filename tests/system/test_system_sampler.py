"""The system sampler: events while a lease lives, history for late panels, silence after."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

import pytest

from lp.launchpad.errors import InvalidInput
from lp.launchpad.events import SYSTEM, EventBus
from lp.launchpad.system import SystemReader, SystemSampler

WAIT = 20.0  # generous upper bounds for waits; nothing asserts how long anything took


class Received:
    """A real bus listener that records events and lets a test wait for them."""

    def __init__(self, bus: EventBus) -> None:
        self.events: list[tuple[str, dict]] = []
        self._changed = threading.Condition()
        bus.subscribe(self._on_event)

    def _on_event(self, event: str, data: dict) -> None:
        with self._changed:
            self.events.append((event, data))
            self._changed.notify_all()

    def wait_for(self, count: int) -> list[dict]:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.events) >= count, WAIT), f"got {len(self.events)} events"
            return [data for _, data in self.events]


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.01)


def scripted_readings() -> Callable[[], dict]:
    """Readings whose CPU percent counts up 1, 2, 3, ... with one GPU."""
    counter = itertools.count(1)

    def read() -> dict:
        n = next(counter)
        return {
            "time": float(n),
            "cpu": {"percent": float(n)},
            "memory": {"percent": 50.0},
            "gpu": {"devices": [{"index": 0, "utilization": 10.0 * n, "memory_percent": 25.0}], "reason": None},
        }

    return read


async def test_events_flow_while_watched_and_stop_after_the_lease_expires(tmp_path) -> None:
    bus = EventBus()
    received = Received(bus)
    reader = SystemReader({"workspace": tmp_path})
    sampler = SystemSampler(reader.read, bus, interval=0.05)
    try:
        first = await sampler.watch_async("tab-1", ttl=0.5)
        assert first["cpu"]["count"] >= 1 and first["watchers"] == 1
        assert sampler.sampling
        events = received.wait_for(4)
        assert {event for event, _ in received.events} == {SYSTEM}
        assert all("memory" in data and "gpu" in data and "history" in data for data in events)

        # nobody renews: the lease lapses, the thread stops, and no event follows
        wait_until(lambda: not sampler.sampling)
        count = len(received.events)
        time.sleep(0.3)  # several intervals
        assert len(received.events) == count
        assert sampler.watchers == 0
    finally:
        await sampler.close()
        reader.close()


async def test_history_lets_a_late_panel_draw_the_recent_past() -> None:
    bus = EventBus()
    received = Received(bus)
    sampler = SystemSampler(scripted_readings(), bus, interval=0.02, history=5)
    try:
        sampler.watch("tab-1", ttl=60)
        received.wait_for(8)
        late = sampler.watch("tab-2", ttl=60)  # a second tab opens later
        assert late["watchers"] == 2
        history = late["history"]
        assert history["interval"] == 0.02
        assert len(history["cpu"]) == 5  # only the last five samples are kept
        assert history["cpu"] == sorted(history["cpu"]) and history["cpu"][-1] >= 8
        assert history["time"] == history["cpu"]  # the scripted reading's time is its number
        assert history["memory"] == [50.0] * 5
        [gpu] = history["gpus"]
        assert gpu["index"] == 0
        assert gpu["utilization"] == [10.0 * n for n in history["cpu"]]
        assert gpu["memory"] == [25.0] * 5
    finally:
        await sampler.close()
    assert not sampler.sampling


class Clock:
    """The sampler's lease clock, moved by the test, so expiry does not depend on the machine's speed."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_renewing_keeps_sampling_expiry_and_unwatch_end_it() -> None:
    bus = EventBus()
    received = Received(bus)
    clock = Clock()
    sampler = SystemSampler(scripted_readings(), bus, interval=0.02, clock=clock)
    try:
        sampler.watch("tab", ttl=10)
        clock.now += 9
        sampler.watch("tab", ttl=10)  # renewed: now alive until +19
        clock.now += 6  # past the first lease's end
        count = len(received.events)
        received.wait_for(count + 3)  # still sampling
        assert sampler.sampling and sampler.watchers == 1

        clock.now += 5  # past the renewed lease's end
        wait_until(lambda: not sampler.sampling)
        assert sampler.watchers == 0

        # watching again starts afresh: a new thread and a history without the old gap
        again = sampler.watch("tab", ttl=10)
        assert sampler.sampling
        assert len(again["history"]["cpu"]) == 1
        received.wait_for(len(received.events) + 3)
        sampler.unwatch("tab")
        wait_until(lambda: not sampler.sampling)
    finally:
        await sampler.close()


async def test_plain_reading_takes_no_lease_and_close_stops_everything() -> None:
    bus = EventBus()
    received = Received(bus)
    sampler = SystemSampler(scripted_readings(), bus, interval=0.02)
    reading = await sampler.reading_async()
    assert reading["cpu"]["percent"] == 1.0 and reading["watchers"] == 0
    assert not sampler.sampling and received.events == []

    sampler.watch("tab", ttl=60)
    received.wait_for(2)
    await sampler.close()
    assert not sampler.sampling
    count = len(received.events)
    closed = sampler.watch("tab", ttl=60)  # answers, but samples nothing once closed
    assert "cpu" in closed and not sampler.sampling
    time.sleep(0.1)
    assert len(received.events) == count

    await sampler.start()  # open again
    sampler.watch("tab", ttl=60)
    received.wait_for(count + 2)
    await sampler.close()


async def test_a_failing_read_does_not_kill_the_sampler() -> None:
    bus = EventBus()
    received = Received(bus)
    calls = itertools.count()
    good = scripted_readings()

    def flaky() -> dict:
        if next(calls) % 2:
            raise OSError("NVML went away")
        return good()

    sampler = SystemSampler(flaky, bus, interval=0.02)
    try:
        sampler.watch("tab", ttl=60)
        received.wait_for(4)
        assert sampler.sampling
    finally:
        await sampler.close()


@pytest.mark.parametrize(("client_id", "ttl"), [("", 30), ("  ", 30), ("tab", 0), ("tab", -1), ("tab", float("nan"))])
def test_bad_leases_are_refused_with_a_message(client_id: str, ttl: float) -> None:
    sampler = SystemSampler(scripted_readings(), EventBus())
    with pytest.raises(InvalidInput):
        sampler.watch(client_id, ttl)
    assert not sampler.sampling
