"""The download engine's interface: one protocol, its typed answers, and what a proxy needs of it.

:class:`Downloads` is what the service asks of the engine. :class:`~.manager.DownloadManager`
implements it on the caller's loop; the worker proxy (worker.py, the manager in a child
process) and the in-process runner (local.py, the manager on a loop thread) are derived from
it: they forward every call in :data:`CALLS`, so a method added here reaches the manager
through both without another list to keep. The answers are plain JSON-ready dicts (they cross
a pipe and become the API's bodies), typed here so that callers see their shape.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypedDict

from ..catalog.schema import ModelFile

# --- the answers ---------------------------------------------------------------------------------


class JobError(TypedDict, total=False):
    code: str  # a LaunchpadError code (errors.py)
    message: str  # what went wrong and what to do
    details: dict[str, object]  # partial_kept: bytes a retry resumes from, ...


class JobData(TypedDict):
    """One job as the API lists it and ``launchpad.download`` carries it (jobs.Job.to_dict)."""

    id: str
    key: str  # folder/name
    folder: str
    name: str
    preset_ids: list[str]  # presets and groups (``workflow:<name>``) that want the file
    source: dict[str, object]  # kind, url, and what the source said (commit, filename)
    state: str  # a JobState value
    active: bool  # the job still has work to do (queued or in progress)
    bytes_done: int
    bytes_total: int | None
    speed: float | None  # bytes per second while transferring
    eta: float | None  # seconds
    error: JobError | None
    message: str | None
    path: str
    attempts: int
    created_at: float
    updated_at: float


class PresetProgress(TypedDict):
    """A preset's (or group's) jobs added up; the ``launchpad.preset`` event payload."""

    preset_id: str
    state: str  # a PresetState value
    active: bool  # still queued or downloading: the one rule, so no client derives it from the state
    bytes_done: int
    bytes_total: int | None  # None while a file's size is unknown
    speed: float | None
    eta: float | None
    files_total: int
    files_done: int
    files_failed: int


class Snapshot(TypedDict):
    jobs: list[JobData]  # oldest first
    presets: dict[str, PresetProgress]


class InstallResult(TypedDict):
    jobs: list[JobData]  # queued now, or already queued and joined
    skipped: list[str]  # keys of files already on disk


class KeptFile(TypedDict):
    key: str
    used_by: list[str]  # the installed presets (or running jobs' presets) that still need it


class UninstallResult(TypedDict):
    deleted: list[str]  # paths
    kept: list[KeptFile]


# --- the interface --------------------------------------------------------------------------------


class Downloads(Protocol):
    """The download engine as the service drives it. Every call is a coroutine; ``start`` and
    ``close`` bracket the rest. Errors are LaunchpadErrors (NotFound, Conflict, InvalidInput,
    Forbidden), whichever side of a pipe they were raised on."""

    async def start(self) -> None: ...

    async def close(self) -> None:
        """Stop transfers, keeping partial files and the journal: the next start resumes."""
        ...

    async def install(self, preset_ids: Sequence[str]) -> InstallResult:
        """Queue the missing files of these presets."""
        ...

    async def install_file(self, model_file: ModelFile, guarded: bool = False) -> JobData:
        """Queue one file of no preset (a custom URL download); ``guarded``: check every hop."""
        ...

    async def install_files(self, files: Sequence[ModelFile], label: str, guarded: bool = False) -> InstallResult:
        """Queue files of no preset as the group ``label`` (``workflow:<name>``, ``node:<name>``)."""
        ...

    async def sizes(self, files: Sequence[ModelFile], guarded: bool = False) -> dict[str, int | None]:
        """Each file's size at its source, by key (None when it does not say in time)."""
        ...

    async def cancel(self, job_id: str) -> JobData: ...

    async def cancel_preset(self, preset_id: str) -> list[JobData]: ...

    async def retry(self, job_id: str) -> JobData: ...

    async def uninstall(self, preset_id: str) -> UninstallResult: ...

    async def snapshot(self) -> Snapshot:
        """Every job and every preset's progress."""
        ...

    async def wait(self, job_ids: Sequence[str] | None = None) -> None:
        """Until the given jobs (default: all known now) are no longer active."""
        ...

    async def clear_finished(self) -> list[str]:
        """Forget every finished job and every group with nothing left to download (files stay)."""
        ...

    async def drop_gone(self) -> list[str]:
        """Forget the done jobs whose file was deleted since."""
        ...


LIFECYCLE = ("start", "close")  # each side starts and stops in its own way
CALLS: tuple[str, ...] = tuple(
    name for name, member in vars(Downloads).items()
    if inspect.iscoroutinefunction(member) and not name.startswith("_") and name not in LIFECYCLE
)
# calls that read the user's presets: a proxy in another process re-reads them first
READS_CATALOG = frozenset({"install", "uninstall", "cancel_preset"})


# --- arguments across a boundary ------------------------------------------------------------------

Encoder = Callable[[ModelFile], object]
Decoder = Callable[[object], ModelFile]


def _file_params(call: str) -> dict[str, bool]:
    """The parameters of ``call`` that hold catalog files: name -> whether it is a list of them."""
    hints = typing.get_type_hints(getattr(Downloads, call))
    found: dict[str, bool] = {}
    for name, hint in hints.items():
        if hint is ModelFile:
            found[name] = False
        elif typing.get_origin(hint) is Sequence and typing.get_args(hint) == (ModelFile,):
            found[name] = True
    return found


FILE_PARAMS: dict[str, dict[str, bool]] = {call: _file_params(call) for call in CALLS}


def bind_args(call: str, args: Sequence[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The arguments of ``call`` by name, defaults filled in (TypeError as for a direct call)."""
    signature = inspect.signature(getattr(Downloads, call))
    bound = signature.bind(None, *args, **kwargs)  # None stands for self
    bound.apply_defaults()
    return dict(list(bound.arguments.items())[1:])


def map_files(call: str, arguments: dict[str, Any], convert: Callable[[Any], Any]) -> dict[str, Any]:
    """``arguments`` with every catalog file passed through ``convert`` (encode or decode)."""
    converted = dict(arguments)
    for name, is_list in FILE_PARAMS[call].items():
        value = converted.get(name)
        if value is not None:
            converted[name] = [convert(item) for item in value] if is_list else convert(value)
    return converted
