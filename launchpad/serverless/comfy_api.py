"""ComfyUI's HTTP and WebSocket API on loopback, the few calls a job needs (comfyui-contract.md 2.5-2.7)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

# How often a wait looks at ComfyUI's history besides listening: a finish whose message was
# missed (a dropped socket) is still seen, and a ComfyUI that died is noticed.
HISTORY_POLL_SECONDS = 2.0


class ComfyUnavailable(Exception):
    """ComfyUI does not answer, or its process has exited."""


class PromptRejected(Exception):
    """ComfyUI refused the workflow (POST /prompt answered 400); ``body`` is its JSON answer."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(json.dumps(body)[:500])
        self.body = body


@dataclass(frozen=True)
class Run:
    """A finished prompt: its history entry, and the validation errors of outputs ComfyUI skipped."""

    prompt_id: str
    history: dict[str, Any]
    node_errors: dict[str, Any] = field(default_factory=dict)


class ComfyAPI:
    """One job's calls to the ComfyUI at ``base_url``. ``exited`` tells whether its process is gone."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession, exited: Callable[[], int | None]) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.exited = exited

    async def _json(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        try:
            async with self.session.request(method, self.base_url + path, **kwargs) as reply:
                text = await reply.text()
                try:
                    return reply.status, json.loads(text) if text else None
                except json.JSONDecodeError:
                    return reply.status, text
        except aiohttp.ClientConnectionError as exc:
            raise ComfyUnavailable(self._gone(f"ComfyUI at {self.base_url} does not answer ({exc})")) from None

    def _gone(self, fallback: str) -> str:
        code = self.exited()
        return f"ComfyUI exited with status {code}" if code is not None else fallback

    async def upload_image(self, name: str, data: bytes) -> None:
        form = aiohttp.FormData()
        form.add_field("image", data, filename=name, content_type="application/octet-stream")
        form.add_field("overwrite", "true")
        status, body = await self._json("POST", "/upload/image", data=form)
        if status != 200:
            raise ValueError(f"ComfyUI refused the input image {name!r} (HTTP {status}: {str(body)[:200]})")

    async def model_names(self, folder: str) -> set[str] | None:
        """The files ComfyUI finds for ``folder`` (relative paths, ``/`` separated); None when it
        has no such folder (then only its own validation can tell)."""
        status, body = await self._json("GET", f"/models/{folder}")
        if status == 404 or not isinstance(body, list):
            return None
        return {str(name).replace("\\", "/") for name in body}

    async def run(self, prompt: dict[str, Any], extra_data: dict[str, Any]) -> Run:
        """Queue ``prompt`` and wait until ComfyUI has finished it (successfully or not)."""
        client_id = uuid.uuid4().hex
        try:
            # listening before queueing: the prompt's messages go to this client id only
            async with self.session.ws_connect(f"{self.base_url}/ws?clientId={client_id}", heartbeat=30) as ws:
                prompt_id, node_errors = await self._queue(prompt, client_id, extra_data)
                history = await self._until_finished(ws, prompt_id)
        except aiohttp.ClientConnectionError as exc:
            raise ComfyUnavailable(self._gone(f"lost ComfyUI at {self.base_url} ({exc})")) from None
        return Run(prompt_id, history, node_errors)

    async def _queue(self, prompt: dict[str, Any], client_id: str, extra_data: dict[str, Any]) -> tuple[str, dict]:
        body: dict[str, Any] = {"prompt": prompt, "client_id": client_id}
        if extra_data:
            body["extra_data"] = extra_data
        status, answer = await self._json("POST", "/prompt", json=body)
        if status == 400 and isinstance(answer, dict):
            raise PromptRejected(answer)
        if status != 200 or not isinstance(answer, dict) or not answer.get("prompt_id"):
            raise ComfyUnavailable(f"ComfyUI answered POST /prompt with HTTP {status}: {str(answer)[:300]}")
        return str(answer["prompt_id"]), answer.get("node_errors") or {}

    async def _until_finished(self, ws: aiohttp.ClientWebSocketResponse[bool], prompt_id: str) -> dict[str, Any]:
        listening = True
        while True:
            if listening:
                try:
                    message = await ws.receive(timeout=HISTORY_POLL_SECONDS)
                except asyncio.TimeoutError:
                    message = None
                if message is not None and message.type == aiohttp.WSMsgType.TEXT:
                    if not _finished(message.data, prompt_id):
                        continue
                elif message is not None and message.type == aiohttp.WSMsgType.BINARY:
                    continue  # previews
                elif message is not None:  # closed or broken: the history alone tells from now on
                    listening = False
            else:
                await asyncio.sleep(HISTORY_POLL_SECONDS / 4)
            # the end message (sent after ComfyUI wrote the history), a quiet spell, or no socket
            if self.exited() is not None:
                raise ComfyUnavailable(self._gone("ComfyUI stopped"))
            entry = await self._history(prompt_id)
            if entry is not None:
                return entry

    async def _history(self, prompt_id: str) -> dict[str, Any] | None:
        status, body = await self._json("GET", f"/history/{prompt_id}")
        entry = body.get(prompt_id) if status == 200 and isinstance(body, dict) else None
        return entry if isinstance(entry, dict) else None

    async def file(self, filename: str, subfolder: str, kind: str) -> bytes:
        """An output file's bytes, through /view as ComfyUI serves them."""
        params = {"filename": filename, "subfolder": subfolder, "type": kind}
        try:
            async with self.session.get(self.base_url + "/view", params=params) as reply:
                if reply.status != 200:
                    raise ValueError(f"ComfyUI could not serve its output {filename!r} (HTTP {reply.status})")
                return await reply.read()
        except aiohttp.ClientConnectionError as exc:
            raise ComfyUnavailable(self._gone(f"ComfyUI at {self.base_url} does not answer ({exc})")) from None


def _finished(text: str, prompt_id: str) -> bool:
    """Whether a WebSocket message marks the end of ``prompt_id``: `executing` with no node."""
    try:
        message = json.loads(text)
    except json.JSONDecodeError:
        return False
    data = message.get("data") if isinstance(message, dict) else None
    return (
        isinstance(data, dict)
        and message.get("type") == "executing"
        and data.get("node") is None
        and data.get("prompt_id") == prompt_id
    )
