"""What the sources said about file sizes, kept in ``<workspace>/.launchpad/sizes.json``.

The catalog shows these as exact figures in place of any estimate. Each answer is kept with the
source URL it came from, so a preset that moves a file to another source asks again. A source
that could not say (offline, gated, missing) is remembered too, and asked again only after
:data:`RETRY_AFTER`, so a pod without network does not ask at every start. Several processes
may share a workspace: a save merges under an advisory lock, like the download journal.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..files import advisory_lock, atomic_write_text
from .schema import ModelFile

log = logging.getLogger(__name__)

VERSION = 1
RETRY_AFTER = 24 * 3600.0  # seconds before a source that could not say is asked again

@dataclass(frozen=True)
class Answer:
    source: str  # the file's source URL when asked
    size: int | None  # None: the source could not say
    at: float


class SizeCache:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "sizes.json"
        self._lock_path = state_dir / "sizes.lock"

    def load(self) -> dict[str, Answer]:
        """Every answer by file key (empty when there is no cache or it is unreadable). Blocking."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("size cache %s is unreadable (%s); asking the sources again", self.path, exc)
            return {}
        files = data.get("files") if isinstance(data, dict) and data.get("version") == VERSION else None
        answers = {}
        for key, item in (files if isinstance(files, dict) else {}).items():
            if not isinstance(item, dict) or not isinstance(item.get("source"), str):
                continue
            size = item.get("size")
            if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
                continue
            at = item.get("at")
            answers[str(key)] = Answer(item["source"], size, float(at) if isinstance(at, (int, float)) else 0.0)
        return answers

    def save(self, answers: Mapping[str, Answer]) -> None:
        """Merge ``answers`` into the cache. Blocking."""
        if not answers:
            return
        with advisory_lock(self._lock_path):
            merged = self.load()
            merged.update(answers)
            files = {key: {"source": a.source, "size": a.size, "at": a.at} for key, a in sorted(merged.items())}
            atomic_write_text(self.path, json.dumps({"version": VERSION, "files": files}, indent=1) + "\n")


def exact_sizes(answers: Mapping[str, Answer], files: Mapping[str, ModelFile]) -> dict[str, int]:
    """The sizes the sources gave for ``files`` (by key), from answers about their current source."""
    found = {}
    for key, model_file in files.items():
        answer = answers.get(key)
        if answer is not None and answer.size is not None and answer.source == model_file.source.url:
            found[key] = answer.size
    return found


def to_ask(answers: Mapping[str, Answer], files: Mapping[str, ModelFile], now: float | None = None) -> list[ModelFile]:
    """The files whose exact size no one knows yet and whose source was not asked lately."""
    now = time.time() if now is None else now
    todo = []
    for key, model_file in files.items():
        if model_file.size is not None:
            continue
        answer = answers.get(key)
        fresh = answer is not None and (answer.size is not None or now - answer.at < RETRY_AFTER)
        if not (fresh and answer is not None and answer.source == model_file.source.url):
            todo.append(model_file)
    return todo
