"""The CLI's exit statuses, defined once for every command.

A LaunchpadError ends a command with the status its code maps to in :data:`EXIT_CODES`
(anything not listed is FAILED); scripts such as the container's start script rely on them.
"""

from __future__ import annotations

OK, FAILED, USAGE, WORKSPACE, CATALOG, NOT_FOUND, INTERRUPTED = 0, 1, 2, 3, 4, 5, 130
CHANGED = 1  # `catalog sizes` without --write: the curated sizes are out of date (like a failed check)

# error code -> exit status
EXIT_CODES: dict[str, int] = {
    "invalid_setting": USAGE,
    "invalid_input": USAGE,
    "workspace_unavailable": WORKSPACE,
    "catalog_invalid": CATALOG,
    "not_found": NOT_FOUND,
}


def status_for(code: str) -> int:
    return EXIT_CODES.get(code, FAILED)
