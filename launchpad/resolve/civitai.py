"""Source 4: Civitai, asked by the hash a workflow gives for a file.

``GET {CIVITAI_ENDPOINT}/api/v1/model-versions/by-hash/{hash}`` answers the model version whose
file has that hash (SHA256, AutoV2 and Civitai's other kinds alike), with CIVITAI_TOKEN as a
bearer token when set. The file found is a ``hash`` candidate: saved under the workflow's name,
checked against Civitai's SHA256. Answers are kept in ``.launchpad/resolve/civitai.json``; a hash
Civitai does not know is asked again after a day, one it could not answer (offline, slow) at the
next analysis.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from ..catalog.schema import CIVITAI_DOWNLOAD, CivitaiSource
from ..config import Settings
from .candidates import HASH, SHA256, Candidate, Wanted
from .store import StateFile

log = logging.getLogger(__name__)

TIMEOUT = aiohttp.ClientTimeout(total=8)
RETRY_AFTER = 24 * 3600.0  # a hash Civitai does not know is asked again after this
MAX_PARALLEL = 4


class CivitaiByHash:
    def __init__(self, settings: Settings, state_dir: Path) -> None:
        self.settings = settings
        self.store = StateFile(state_dir, "civitai")

    def load(self) -> dict[str, dict]:
        """What Civitai answered, by hash (blocking)."""
        return self.store.load()

    @staticmethod
    def to_ask(hashes: Sequence[str], answers: Mapping[str, dict], now: float | None = None) -> list[str]:
        now = time.time() if now is None else now

        def stale(answer: dict) -> bool:
            return answer.get("found") is None and now - float(answer.get("at", 0)) > RETRY_AFTER

        return [h for h in dict.fromkeys(hashes) if h not in answers or stale(answers[h])]

    @staticmethod
    def candidates(wanted: Wanted, answers: Mapping[str, dict]) -> list[Candidate]:
        found = answers.get(wanted.hash or "", {}).get("found")
        if not isinstance(found, dict) or not isinstance(found.get("version"), int):
            return []
        sha256 = found.get("sha256") if isinstance(found.get("sha256"), str) else None
        size = found.get("size") if isinstance(found.get("size"), int) else None
        name = found.get("filename") if isinstance(found.get("filename"), str) else None
        return [Candidate(
            "civitai", HASH, CivitaiSource(found["version"], str(found.get("query") or "")), size=size,
            sha256=sha256, where=f"Civitai: {found.get('model') or 'model version ' + str(found['version'])}",
            found_as=name if name != wanted.basename else None,
        )]

    async def ask(self, hashes: Sequence[str]) -> int:
        """Ask Civitai about ``hashes`` and keep the answers; how many it knew. Failures are logged."""
        if not hashes:
            return 0
        headers = {"Accept": "application/json"}
        if self.settings.civitai_token:
            headers["Authorization"] = f"Bearer {self.settings.civitai_token}"
        gate = asyncio.Semaphore(MAX_PARALLEL)
        async with aiohttp.ClientSession(timeout=TIMEOUT, headers=headers) as session:
            async def one(digest: str) -> tuple[str, dict | None, bool]:
                async with gate:
                    return await self._ask_one(session, digest)

            results = await asyncio.gather(*(one(h) for h in hashes))
        now = time.time()
        answered = {digest: {"found": found, "at": now} for digest, found, ok in results if ok}
        await asyncio.to_thread(self.store.merge, answered)
        return sum(found is not None for _, found, _ in results)

    async def _ask_one(self, session: aiohttp.ClientSession, digest: str) -> tuple[str, dict | None, bool]:
        """(hash, what was found or None, whether Civitai answered at all)."""
        url = f"{self.settings.civitai_endpoint}/api/v1/model-versions/by-hash/{digest}"
        try:
            async with session.get(url, allow_redirects=False) as response:
                if response.status == 404:
                    return digest, None, True
                if response.status != 200:
                    log.info("Civitai answered HTTP %s for a hash lookup; asking again later", response.status)
                    return digest, None, False
                data = await response.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            log.info("Civitai could not be asked about a hash (%s); asking again later", exc or type(exc).__name__)
            return digest, None, False
        return digest, _found(data, digest), True


def _found(data: object, digest: str) -> dict | None:
    """The file of the answer that has ``digest`` among its hashes, as we keep it."""
    if not isinstance(data, dict) or not isinstance(data.get("id"), int):
        return None
    files = [f for f in data.get("files") or [] if isinstance(f, dict)]
    match = next((f for f in files if digest in _hashes(f)), None)
    if match is None:
        return None
    sha256 = next((h for h in _hashes(match) if SHA256.match(h)), None)
    size_kb = match.get("sizeKB")
    model = data.get("model")
    if not isinstance(model, dict):
        model = {}
    title = " ".join(str(part) for part in (model.get("name"), data.get("name")) if part)
    return {
        "version": data["id"],
        "query": _query(match.get("downloadUrl"), data["id"]),
        "filename": match.get("name") if isinstance(match.get("name"), str) else None,
        "size": round(size_kb * 1024) if isinstance(size_kb, (int, float)) and size_kb > 0 else None,
        "sha256": sha256,
        "model": title or None,
    }


def _hashes(entry: Mapping[str, object]) -> list[str]:
    hashes = entry.get("hashes")
    return [str(v).lower() for v in hashes.values() if isinstance(v, str)] if isinstance(hashes, dict) else []


def _query(url: object, version: int) -> str:
    """The file choice a version's download link carries (``type=Model&format=SafeTensor``), if it is
    that version's link; the token never."""
    if not isinstance(url, str):
        return ""
    parts = urlsplit(url)
    match = CIVITAI_DOWNLOAD.match(parts.path)
    if not match or int(match.group(1)) != version:
        return ""
    return "&".join(p for p in parts.query.split("&") if p and not p.lower().startswith("token="))
