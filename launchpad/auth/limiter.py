"""Failed-login throttling per client key: a few free tries, then a short wait that grows.

A key is whatever the HTTP layer derives: the client's address as the direct peer or a trusted
proxy reports it (server_routes/forwarded.py). After ``free_failures`` wrong secrets within
``window`` seconds, the key must wait before its next try: ``base_delay`` seconds, doubling with
each further failure, never more than ``max_delay``. The wait is short on purpose: where many
people share one key (behind a proxy nobody told us to trust), a guesser must never be able to
lock everyone out for long, while still getting only about one guess a minute. Failures while
waiting are refused without being counted, so hammering does not lengthen anyone's wait. One
key's failures never touch another's; the HTTP layer lets valid API tokens and sessions through
whatever the key's state (auth.py). The table is bounded: a flood of keys forgets the least
recently seen first.

The clock is injectable so tests never sleep.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Record:
    failures: list[float] = field(default_factory=list)  # times of recent wrong secrets
    wait_until: float = 0.0


class LoginLimiter:
    def __init__(
        self,
        *,
        free_failures: int = 5,
        window: float = 15 * 60,
        base_delay: float = 2,
        max_delay: float = 60,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.free_failures = free_failures
        self.window = window
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_clients = max_clients
        self.clock = clock
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def retry_after(self, client: str) -> float | None:
        """Seconds until ``client`` may try again, or None when it may try now."""
        record = self._records.get(client)
        if record is None:
            return None
        remaining = record.wait_until - self.clock()
        return remaining if remaining > 0 else None

    def failure(self, client: str) -> float | None:
        """Record a wrong secret; returns the wait in seconds it earned, or None while still free."""
        now = self.clock()
        record = self._records.pop(client, None) or _Record()
        self._records[client] = record  # most recently seen last
        while len(self._records) > self.max_clients:
            self._records.popitem(last=False)
        record.failures = [t for t in record.failures if now - t < self.window]
        record.failures.append(now)
        beyond = len(record.failures) - self.free_failures
        if beyond < 0:
            return None
        delay = min(self.base_delay * 2 ** min(beyond, 32), self.max_delay)
        record.wait_until = now + delay
        return delay

    def success(self, client: str) -> None:
        self._records.pop(client, None)
