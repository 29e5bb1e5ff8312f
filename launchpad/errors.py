"""The vocabulary of things that go wrong, each with a stable code and a message that says what to do.

The HTTP layer maps ``code`` to a status (server_routes/errors.py) and the CLI maps it to an
exit code (launchpad/cli/main.py); nothing else needs to know the classes.
"""

from __future__ import annotations


class LaunchpadError(Exception):
    """Base of every error Launchpad reports to a person. ``str(err)`` is the full message."""

    code = "internal"

    def __init__(self, message: str, *, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {"code": self.code, "message": self.message}
        if self.details:
            data["details"] = self.details
        return data


def error_classes() -> dict[str, type[LaunchpadError]]:
    """Every LaunchpadError class defined so far, by code (the most general class of a shared code)."""
    found: dict[str, type[LaunchpadError]] = {}
    todo: list[type[LaunchpadError]] = [LaunchpadError]
    while todo:
        cls = todo.pop(0)
        found.setdefault(cls.code, cls)
        todo.extend(cls.__subclasses__())
    return found


def error_from_dict(data: dict[str, object]) -> LaunchpadError:
    """Rebuild an error from its :meth:`LaunchpadError.to_dict` (e.g. after it crossed a pipe) as an
    instance of its own class, found by code; a code no class here has keeps the code on the base."""
    code, message = str(data.get("code") or "internal"), str(data.get("message") or "")
    details = data.get("details")
    cls = error_classes().get(code)
    error = LaunchpadError.__new__(cls or LaunchpadError)
    LaunchpadError.__init__(error, message, details=dict(details) if isinstance(details, dict) else None)
    if cls is None:
        error.code = code
    return error


# --- input and configuration ---------------------------------------------------------


class InvalidSetting(LaunchpadError):
    """An environment variable or option has a value Launchpad cannot use."""

    code = "invalid_setting"


class InvalidInput(LaunchpadError):
    """A request or command argument is malformed (bad JSON, unknown field, unsafe name)."""

    code = "invalid_input"


class NotFound(LaunchpadError):
    """An id (preset, job, model) that does not exist."""

    code = "not_found"


class Conflict(LaunchpadError):
    """The request cannot be done in the current state (e.g. deleting a file being downloaded)."""

    code = "conflict"


class InUse(Conflict):
    """Another live pod on the volume serves the file (its lease names it); ``details.pods`` says who."""

    code = "in_use"


class Forbidden(LaunchpadError):
    """The request would act outside what Launchpad manages (e.g. a file outside the model roots)."""

    code = "forbidden"


class CatalogError(LaunchpadError):
    """A preset file or entry is invalid. The message names file, preset and field."""

    code = "catalog_invalid"


# --- workspace -------------------------------------------------------------------------


class WorkspaceError(LaunchpadError):
    """The workspace (network volume) is missing, not writable or unusable."""

    code = "workspace_unavailable"


# --- downloads -------------------------------------------------------------------------


class DownloadError(LaunchpadError):
    """A file could not be downloaded; ``retryable`` says whether trying again may help."""

    code = "download_failed"
    retryable = True


class SourceUnauthorized(DownloadError):
    """The source refused our credentials or needs some (401/403, gated repo, login page)."""

    code = "unauthorized"
    retryable = False


class SourceNotFound(DownloadError):
    """The repository, revision, file or model version does not exist at the source."""

    code = "source_not_found"
    retryable = False


class RateLimited(DownloadError):
    """The source asked us to slow down; ``retry_after`` is in seconds when it said."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, details={"retry_after": retry_after} if retry_after else None)

    @property
    def retry_after(self) -> float | None:
        value = self.details.get("retry_after")
        return float(value) if isinstance(value, (int, float)) else None


class IntegrityError(DownloadError):
    """The bytes received do not match the expected size or sha256."""

    code = "integrity"


class ChecksumMismatch(IntegrityError):
    """The source advertises another sha256 than the catalog states, found before any byte was fetched."""

    code = "checksum_mismatch"
    retryable = False


class InsufficientSpace(DownloadError):
    """Not enough free disk for the queued downloads plus the safety margin."""

    code = "insufficient_space"
    retryable = False


class TooLarge(DownloadError):
    """A file is larger than MAX_DOWNLOAD_SIZE."""

    code = "too_large"
    retryable = False


class Cancelled(DownloadError):
    """The job was cancelled by the user."""

    code = "cancelled"
    retryable = False
