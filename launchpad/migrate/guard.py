"""Whether the volume is quiet enough to move files on it.

A move takes files from under whoever uses them. Launchpad knows its own users of a volume
(:func:`volume_in_use`); a pod of the old template does not announce itself, so a tree that
changed in the last few minutes (:func:`recent_change`) counts as in use unless the person
says ``--force``.
"""

from __future__ import annotations

import time

from ..downloads.locks import live_holders
from ..workspace import Workspace
from .plan import Plan

RECENT_SECONDS = 300.0  # "the old tree changed in the last few minutes"


def volume_in_use(workspace: Workspace, lock_ttl: float) -> list[str]:
    """What of Launchpad is live on this volume now, in words; empty when nothing is.

    The one place that answers "is anything live on this volume": download locks today; pod
    leases join here when they exist.
    """
    holders = live_holders(workspace.state / "locks", lock_ttl)
    return [f"the download of {holder.key} by {holder.describe()}" for holder in holders]


def recent_change(plan: Plan, now: float | None = None) -> tuple[float, str] | None:
    """(seconds ago, path) of the newest change in what a move would take, when within RECENT_SECONDS."""
    now = time.time() if now is None else now
    newest = max((source.newest for source in plan.sources), default=(0.0, ""))
    age = now - newest[0]
    return (max(age, 0.0), newest[1]) if newest[1] and age < RECENT_SECONDS else None
