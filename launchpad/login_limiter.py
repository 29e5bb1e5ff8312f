"""Failed-login throttling per client: a few tries, then a lockout that doubles each time.

A client is whatever key the HTTP layer derives (its address as the proxy saw it). After
``max_failures`` wrong secrets within ``window`` seconds the client is locked out for
``base_lockout`` seconds; every further lockout in a row doubles, up to ``max_lockout``.
A right secret clears the client's record. The table is bounded so a flood of addresses
cannot grow it without limit (the least recently seen client is forgotten first).

The clock is injectable so tests never sleep.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Record:
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0
    strikes: int = 0  # lockouts in a row; each doubles the next one
    last_failure: float = 0.0


class LoginLimiter:
    def __init__(
        self,
        *,
        max_failures: int = 5,
        window: float = 15 * 60,
        base_lockout: float = 60,
        max_lockout: float = 60 * 60,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.base_lockout = base_lockout
        self.max_lockout = max_lockout
        self.max_clients = max_clients
        self.clock = clock
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def retry_after(self, client: str) -> float | None:
        """Seconds until ``client`` may try again, or None when it may try now."""
        record = self._records.get(client)
        if record is None:
            return None
        remaining = record.locked_until - self.clock()
        return remaining if remaining > 0 else None

    def failure(self, client: str) -> float | None:
        """Record a wrong secret; returns the lockout in seconds when this one triggered it."""
        now = self.clock()
        record = self._records.pop(client, None) or _Record()
        self._records[client] = record  # most recently seen last
        while len(self._records) > self.max_clients:
            self._records.popitem(last=False)
        if now - record.last_failure > self.max_lockout + self.window:
            record.strikes = 0  # a long quiet spell forgives earlier lockouts
        record.last_failure = now
        record.failures = [t for t in record.failures if now - t < self.window]
        record.failures.append(now)
        if len(record.failures) < self.max_failures:
            return None
        lockout = min(self.base_lockout * 2**record.strikes, self.max_lockout)
        record.strikes += 1
        record.failures.clear()
        record.locked_until = now + lockout
        return lockout

    def success(self, client: str) -> None:
        self._records.pop(client, None)
