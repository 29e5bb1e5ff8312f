"""The download queue on disk, so a process that dies or restarts picks its jobs up again.

``<workspace>/.launchpad/downloads.json`` holds one record per file key (the newest job for
that file) and, per preset, the files it had when installed. Several processes may share a
workspace (the boot-time CLI, ComfyUI), so a save merges: under an advisory lock it reads
the file, replaces only the records this process changed, and writes it back atomically.
:class:`JournalWrites` collects what changed and saves it at most every ``SAVE_DELAY``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ..catalog.schema import CivitaiSource, HFSource, ModelFile, Source, UrlSource
from ..files import atomic_write_text
from .jobs import ACTIVE, Job, JobState

if TYPE_CHECKING:
    from .api import JobError

log = logging.getLogger(__name__)

VERSION = 1
KEEP_FINISHED = 7 * 24 * 3600  # finished jobs older than this are dropped from the journal
SAVE_DELAY = 0.5  # seconds: the journal is written at most this often while things change

if sys.platform != "win32":  # Windows: one process per workspace is the norm there, no lock
    import fcntl


def source_from_dict(data: Mapping[str, object]) -> Source:
    kind = data.get("kind")
    if kind == "hf":
        return HFSource(str(data["repo"]), str(data["path"]), str(data.get("revision") or "main"))
    if kind == "civitai":
        return CivitaiSource(_whole(data["version"]))
    if kind == "url":
        return UrlSource(str(data["url"]))
    raise ValueError(f"unknown source kind {kind!r}")


def job_record(job: Job) -> dict[str, object]:
    data: dict[str, object] = {key: value for key, value in job.to_dict().items() if key not in ("speed", "eta")}
    data["file"] = job.file.to_dict()
    if job.guarded:  # kept across restarts: a resumed download is checked like the first attempt
        data["guarded"] = True
    return data


def job_from_record(data: Mapping[str, object]) -> Job:
    """The job a record describes; ValueError (or KeyError, TypeError) for one that is not a job's."""
    file_data = data["file"]
    if not isinstance(file_data, dict) or not isinstance(file_data.get("source"), dict):
        raise ValueError("no file in the record")
    size, sha256 = file_data.get("size"), file_data.get("sha256")
    model_file = ModelFile(
        folder=str(file_data["folder"]),
        name=str(file_data["name"]),
        source=source_from_dict(file_data["source"]),
        size=_whole(size) if size is not None else None,
        sha256=str(sha256) if sha256 is not None else None,
    )
    preset_ids, total, error, message = (data.get(k) for k in ("preset_ids", "bytes_total", "error", "message"))
    job = Job(
        file=model_file,
        target=Path(str(data["path"])),
        preset_ids=[str(p) for p in preset_ids] if isinstance(preset_ids, list) else [],
        id=str(data["id"]),
        state=JobState(data["state"]),
        bytes_done=_whole(data.get("bytes_done") or 0),
        bytes_total=_whole(total) if total is not None else None,
        error=cast("JobError", error) if isinstance(error, dict) else None,
        message=str(message) if message is not None else None,
        attempts=_whole(data.get("attempts") or 0),
        guarded=bool(data.get("guarded")),
        created_at=_number(data.get("created_at") or time.time()),
        updated_at=_number(data.get("updated_at") or time.time()),
    )
    source = data.get("source")
    if isinstance(source, dict):
        job.origin = {k: str(source[k]) for k in ("commit", "filename") if source.get(k)}
    if job.state in ACTIVE:
        job.state = JobState.QUEUED  # whatever it was doing was interrupted; it starts again from the queue
    return job


def _whole(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"{value!r} is not a whole number")
    return int(value)


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"{value!r} is not a number")
    return float(value)


class Journal:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "downloads.json"
        self._lock_path = state_dir / "downloads.lock"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if sys.platform == "win32":
            yield
            return
        with open(self._lock_path, "a+") as fh:
            with contextlib.suppress(OSError):  # some network file systems refuse flock: merge without it
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            yield

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"jobs": {}, "presets": {}}
        except (OSError, ValueError) as exc:
            log.warning("download journal %s is unreadable (%s); starting with an empty queue", self.path, exc)
            return {"jobs": {}, "presets": {}}
        if not isinstance(data, dict) or data.get("version") != VERSION:
            return {"jobs": {}, "presets": {}}
        jobs, presets = data.get("jobs"), data.get("presets")
        return {"jobs": jobs if isinstance(jobs, dict) else {}, "presets": presets if isinstance(presets, dict) else {}}

    def load(self) -> tuple[list[Job], dict[str, dict[str, int | None]]]:
        """Jobs (unfinished ones back to queued) and each preset's files. Blocking."""
        with self._locked():
            data = self._read()
        jobs = []
        for key, record in data["jobs"].items():
            try:
                jobs.append(job_from_record(record))
            except (KeyError, TypeError, ValueError, AssertionError) as exc:
                log.warning("skipping download journal entry %s: %s", key, exc)
        presets = {
            str(pid): {str(k): v for k, v in files.items()}
            for pid, files in data["presets"].items()
            if isinstance(files, dict)
        }
        return jobs, presets

    def save(
        self,
        jobs: Mapping[str, dict[str, object]],
        presets: Mapping[str, Mapping[str, int | None]],
        forget_jobs: Mapping[str, str],
        forget_presets: set[str],
    ) -> None:
        """Merge this process's changes into the journal. Blocking: run in a thread.

        ``jobs``: key -> record of changed jobs; ``forget_jobs``: key -> id of a job to drop
        (only dropped while the journal still has that very job).
        """
        with self._locked():
            data = self._read()
            merged_jobs = data["jobs"]
            merged_jobs.update(jobs)
            for key, job_id in forget_jobs.items():
                if isinstance(merged_jobs.get(key), dict) and merged_jobs[key].get("id") == job_id:
                    del merged_jobs[key]
            cutoff = time.time() - KEEP_FINISHED
            for key in [k for k, r in merged_jobs.items() if _stale(r, cutoff)]:
                del merged_jobs[key]
            merged_presets = data["presets"]
            merged_presets.update({pid: dict(files) for pid, files in presets.items()})
            for pid in forget_presets:
                merged_presets.pop(pid, None)
            text = json.dumps({"version": VERSION, "jobs": merged_jobs, "presets": merged_presets}, indent=1)
            atomic_write_text(self.path, text + "\n")


def _stale(record: object, cutoff: float) -> bool:
    if not isinstance(record, dict):
        return True
    updated = record.get("updated_at")
    return record.get("state") not in ACTIVE and isinstance(updated, (int, float)) and updated < cutoff




class JournalWrites:
    """What changed since the last save: jobs by file key, presets' file lists, what to forget."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._keys: set[str] = set()
        self._presets: set[str] = set()
        self._forget_jobs: dict[str, str] = {}  # key -> id of the job to drop
        self._forget_presets: set[str] = set()
        self._wanted = asyncio.Event()

    def reset(self) -> None:
        """A fresh wake-up event for a new start (an event belongs to the loop that waited on it)."""
        self._wanted = asyncio.Event()

    def job(self, key: str) -> None:
        self._keys.add(key)
        self._wanted.set()

    def preset(self, preset_id: str) -> None:
        self._presets.add(preset_id)
        self._forget_presets.discard(preset_id)
        self._wanted.set()

    def forget_job(self, job: Job) -> None:
        self._forget_jobs[job.key] = job.id
        self._keys.discard(job.key)
        self._wanted.set()

    def forget_preset(self, preset_id: str) -> None:
        self._forget_presets.add(preset_id)
        self._presets.discard(preset_id)
        self._wanted.set()

    async def run(self, job_of: Callable[[str], Job | None], files_of: Callable[[str], Mapping[str, int | None] | None]
                  ) -> None:
        """Save soon after each change, until cancelled."""
        while True:
            await self._wanted.wait()
            await asyncio.sleep(SAVE_DELAY)
            self._wanted.clear()
            try:
                await self.save(job_of, files_of)
            except Exception:
                log.exception("cannot write the download journal")

    async def save(
        self, job_of: Callable[[str], Job | None], files_of: Callable[[str], Mapping[str, int | None] | None]
    ) -> None:
        """Write what changed now (in a thread), reading each changed job and preset through the lookups."""
        jobs = {}
        for key in self._keys:
            job = job_of(key)
            if job is not None:
                jobs[key] = job_record(job)
        presets = {}
        for pid in self._presets:
            files = files_of(pid)
            if files is not None:
                presets[pid] = dict(files)
        forget_jobs, forget_presets = dict(self._forget_jobs), set(self._forget_presets)
        if not (jobs or presets or forget_jobs or forget_presets):
            return
        self._keys.clear()
        self._presets.clear()
        self._forget_jobs.clear()
        self._forget_presets.clear()
        await asyncio.get_running_loop().run_in_executor(
            None, self.journal.save, jobs, presets, forget_jobs, forget_presets
        )
