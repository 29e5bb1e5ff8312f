"""Making a models lock from presets, a workflow's analysis, or what is installed.

Each file needs its source, the commit a Hugging Face revision resolves to, its size and its
sha256. They come, in order, from what we already know (the catalog; for an installed file,
the download journal's record of the commit its bytes came from), from the source (the same
resolution a download does: huggingface_hub's metadata, Civitai's version API, a one-byte
probe), and for the sha256 last from the installed file itself, hashed in a thread. What
nobody knows stays null, with a warning that says what provisioning will do without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..catalog import Catalog, HFSource, ModelFile, UrlSource
from ..config import Settings
from ..errors import DownloadError, LaunchpadError
from ..model_library import Listing
from ..model_roots import ModelRoots
from ..workflow_models import NeededModel
from .format import COMMIT_PATTERN, LockedFile, ModelsLock

log = logging.getLogger(__name__)

RESOLVE_AT_ONCE = 8  # sources asked in parallel
HASH_AT_ONCE = 2  # installed files hashed in parallel (a network volume gives little more)
RESOLVE_RETRIES = 1
RESOLVE_TIMEOUT = 60.0  # seconds for all the sources together: a lock is for now, not for a stalled host


@dataclass(frozen=True)
class Wanted:
    """A file to lock, with the commit its installed bytes came from when the journal knows it."""

    file: ModelFile
    commit: str | None = None


@dataclass
class Built:
    lock: ModelsLock
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"lock": self.lock.to_data(), "warnings": list(self.warnings)}


# --- what to lock ---------------------------------------------------------------------------


def from_presets(catalog: Catalog, preset_ids: Sequence[str]) -> list[Wanted]:
    """The files of the presets (NotFound for an unknown id)."""
    return [Wanted(f) for pid in dict.fromkeys(preset_ids) for f in catalog.get(pid).files]


def from_analysis(models: Iterable[NeededModel]) -> tuple[list[Wanted], list[str]]:
    """A workflow's models (workflow_models.analyze, as the Workflow view shows them) that have a
    source: present ones, and missing ones the view could install. The rest are warnings."""
    wanted, warnings = [], []
    for model in models:
        if model.file is None:
            why = model.reason or "no download link in the workflow and no catalog preset lists it"
            warnings.append(f"{model.key}: left out, no source is known ({why})")
        elif model.state == "missing" and not model.installable:
            warnings.append(f"{model.key}: left out, {model.reason}")
        else:
            wanted.append(Wanted(model.file))
    return wanted, warnings


def from_installed(
    listing: Listing, catalog: Catalog, journal_jobs: Sequence[object]
) -> tuple[list[Wanted], list[str]]:
    """Every model file on disk whose source is known: the download journal's finished job for that
    very path first (it knows the commit), else a catalog preset listing the file."""
    catalog_files: dict[str, ModelFile] = {}
    for preset in catalog.presets.values():
        for model_file in preset.files:
            catalog_files.setdefault(model_file.key, model_file)
    downloaded: dict[str, Wanted] = {}
    for job in journal_jobs:
        if getattr(job, "state", None) != "done":
            continue
        model_file = job.file  # type: ignore[attr-defined]
        if model_file.size is None and job.bytes_total is not None:  # type: ignore[attr-defined]
            model_file = replace(model_file, size=job.bytes_total)  # type: ignore[attr-defined]
        downloaded[str(job.target)] = Wanted(model_file, job.origin.get("commit"))  # type: ignore[attr-defined]
    wanted, warnings = [], []
    seen: set[str] = set()
    for entry in listing.entries:
        if entry.key in seen:
            continue
        found = downloaded.get(entry.path)
        if found is not None and found.file.key != entry.key:
            found = Wanted(replace(found.file, folder=entry.folder, name=entry.name), found.commit)
        if found is None and entry.key in catalog_files:
            found = Wanted(catalog_files[entry.key])
        if found is None:
            warnings.append(f"{entry.key}: left out, no source is known (no catalog preset lists it and "
                            "Launchpad did not download it)")
            continue
        seen.add(entry.key)
        wanted.append(found)
    return wanted, warnings


def journal_jobs(state_dir: Path) -> list[object]:
    """The download journal's jobs, or none when there is no journal or it cannot be read. Blocking."""
    from ..downloads.journal import Journal

    if not (state_dir / "downloads.json").is_file():
        return []
    try:
        return list(Journal(state_dir).load()[0])
    except OSError as exc:  # a read-only volume refuses the journal's lock file
        log.info("cannot read the download journal in %s: %s", state_dir, exc)
        return []


# --- filling in what is not known ------------------------------------------------------------


async def build(
    wanted: Sequence[Wanted],
    settings: Settings,
    roots: ModelRoots,
    *,
    presets: Sequence[str] = (),
    workflows: Sequence[str] = (),
    installed: bool = False,
    guarded: bool = False,
    warnings: Sequence[str] = (),
) -> Built:
    """The lock of ``wanted``, asking the sources for what is missing (``guarded``: plain URLs came
    from a client, so every hop is checked as a download of them would be)."""
    unique = list({w.file.key: w for w in wanted}.values())
    notes: list[str] = list(warnings)
    todo = [w for w in unique if _needs_source(w)]
    answers = await _resolve(todo, settings, guarded) if todo else {}
    hashing = asyncio.Semaphore(HASH_AT_ONCE)

    async def lock_one(item: Wanted) -> tuple[LockedFile, list[str]]:
        return await _lock_file(item, answers.get(item.file.key), roots, hashing)

    results = await asyncio.gather(*(lock_one(item) for item in unique))
    for _, file_notes in results:
        notes.extend(file_notes)
    lock = ModelsLock(tuple(locked for locked, _ in results), tuple(presets), tuple(workflows), installed)
    return Built(lock, notes)


def _commit_of(item: Wanted) -> str | None:
    source = item.file.source
    if not isinstance(source, HFSource):
        return None
    if item.commit:
        return item.commit
    return source.revision if COMMIT_PATTERN.match(source.revision) else None


def _needs_source(item: Wanted) -> bool:
    unpinned = isinstance(item.file.source, HFSource) and _commit_of(item) is None
    return unpinned or item.file.size is None or item.file.sha256 is None


async def _resolve(todo: Sequence[Wanted], settings: Settings, guarded: bool) -> dict[str, object]:
    """key -> the source's :class:`Resolved`, or the LaunchpadError it answered with."""
    import aiohttp

    from ..downloads import guard
    from ..downloads.credentials import Credentials
    from ..downloads.sources import Resolver
    from ..url_policy import HopPolicy

    quick = replace(settings, retries=min(settings.retries, RESOLVE_RETRIES))
    credentials = Credentials(settings)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=settings.stall_timeout)
    session = aiohttp.ClientSession(timeout=timeout, auto_decompress=False)
    checked = None
    if guarded and any(isinstance(w.file.source, UrlSource) for w in todo):
        policy = HopPolicy.from_settings(settings)
        checked = Resolver(quick, guard.guarded_session(policy, timeout=timeout, auto_decompress=False),
                           credentials, policy)
    resolver = Resolver(quick, session, credentials)
    limit = asyncio.Semaphore(RESOLVE_AT_ONCE)

    async def one(item: Wanted) -> object:
        model_file = item.file
        commit = _commit_of(item)
        if commit and isinstance(model_file.source, HFSource):  # what the installed bytes came from
            model_file = replace(model_file, source=replace(model_file.source, revision=commit))
        use = checked if checked is not None and isinstance(model_file.source, UrlSource) else resolver
        async with limit:
            try:
                return await use.resolve(model_file)
            except LaunchpadError as exc:
                return exc
            except Exception as exc:  # one odd answer must not lose the whole lock
                log.exception("resolving %s for a lock failed", item.file.key)
                return DownloadError(str(exc))

    tasks = {item.file.key: asyncio.ensure_future(one(item)) for item in todo}
    try:
        await asyncio.wait(tasks.values(), timeout=RESOLVE_TIMEOUT)
        answers: dict[str, object] = {}
        for key, task in tasks.items():
            if task.done():
                answers[key] = task.result()
            else:
                task.cancel()
                answers[key] = DownloadError(f"no answer within {RESOLVE_TIMEOUT:g} s")
        return answers
    finally:
        pending = [task for task in tasks.values() if not task.done()]
        if pending:
            await asyncio.wait(pending)
        await session.close()
        if checked is not None:
            await checked.session.close()


async def _lock_file(
    item: Wanted, answer: object, roots: ModelRoots, hashing: asyncio.Semaphore
) -> tuple[LockedFile, list[str]]:
    model_file, key = item.file, item.file.key
    notes: list[str] = []
    commit, size, sha256 = _commit_of(item), model_file.size, model_file.sha256
    if isinstance(answer, LaunchpadError):
        notes.append(f"{key}: the source could not be asked ({answer.message})")
    elif answer is not None:
        commit = commit or getattr(answer, "commit", None)
        size = size if size is not None else getattr(answer, "size", None)
        sha256 = sha256 or getattr(answer, "sha256", None)
    path = await asyncio.to_thread(roots.find, model_file.folder, model_file.name)
    on_disk = None
    if path is not None:
        with contextlib.suppress(OSError):
            on_disk = path.stat().st_size
    if on_disk is not None and size is not None and on_disk != size:
        notes.append(f"{key}: the installed file is {on_disk} bytes but the source's is {size}; the lock "
                     "describes the source, so a provisioned workspace gets the source's file")
    elif on_disk is not None and size is None:
        size = on_disk
    if sha256 is None and path is not None and on_disk == size:
        from ..downloads.verify import hash_file

        async with hashing:
            with contextlib.suppress(OSError):
                sha256 = await asyncio.to_thread(hash_file, path)
    source = model_file.source
    if isinstance(source, HFSource) and commit is None:
        notes.append(f"{key}: the commit of {source.repo}@{source.revision} is unknown; provisioning downloads "
                     "that revision as it is then")
    if size is None:
        notes.append(f"{key}: size unknown; provisioning checks an installed copy only by its sha256 (if known)")
    if sha256 is None:
        notes.append(f"{key}: no sha256 known (not in the catalog, the source publishes none and the file "
                     "is not installed here); provisioning checks it by size only")
    return LockedFile(model_file.folder, model_file.name, source, commit, size, sha256), notes
