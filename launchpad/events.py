"""Events the core publishes, and the bus that fans them out to sinks.

One envelope everywhere: an event type (``launchpad.*``) and a plain-JSON ``data`` mapping.
Sinks are ComfyUI's ``PromptServer.send_sync`` (which puts ``{"type", "data"}`` on ComfyUI's
WebSocket), the standalone WebSocket hub, or the CLI's progress display.

ComfyUI exits if a WebSocket payload cannot be serialised (docs/comfyui-facts.md, PromptServer), so
every payload is round-tripped through ``json`` here, before any sink sees it.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable, Mapping
from datetime import date, datetime
from enum import Enum
from pathlib import PurePath

log = logging.getLogger(__name__)

DOWNLOAD = "launchpad.download"  # one file job changed (state, bytes, speed, ETA, error)
PRESET = "launchpad.preset"  # a preset's aggregate install progress changed
SYSTEM = "launchpad.system"  # a system status sample (only while someone watches)
CATALOG = "launchpad.catalog"  # the catalog was reloaded (presets or warnings changed)
MODEL = "launchpad.model"  # a model file was deleted through Launchpad
RESOLVE = "launchpad.resolve"  # lookups for a workflow's models answered: analyse it again (keys: which)

Listener = Callable[[str, dict], None]


def _default(value: object) -> object:
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _finite(value: object) -> object:
    # browsers' JSON.parse rejects NaN and Infinity, so an unknown ETA must travel as null
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def json_safe(data: Mapping[str, object]) -> dict:
    """A deep copy of ``data`` made only of JSON types; TypeError/ValueError when impossible."""
    result = _finite(json.loads(json.dumps(data, default=_default)))
    if not isinstance(result, dict):
        raise TypeError("event data must be a mapping")
    return result


class EventBus:
    """Thread-safe fan-out. Listeners run in the emitting thread and must not block."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add ``listener``; returns a function that removes it."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def emit(self, event: str, data: Mapping[str, object]) -> None:
        try:
            payload = json_safe(data)
        except (TypeError, ValueError) as exc:
            # dropping one event is better than taking ComfyUI down with it
            log.error("dropped event %s: payload is not plain JSON (%s)", event, exc)
            return
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event, payload)
            except Exception:
                log.exception("event listener failed for %s", event)
