"""The job handler: a worker-comfyui job in, ComfyUI's images out, or an error that names the node
and the reason.

Success: ``{"images": [{"filename", "type": "base64", "data"}]}`` (plus ``"errors"``: warnings,
e.g. outputs this worker does not return; ``"status": "success_no_images"`` when there are none).
Failure: ``{"error": "<one line>", "details": [...]}``, which the SDK reports as the job's error;
a workflow whose models are missing also gets ``"missing_models"``. Models the workflow names
are checked against ComfyUI's own model lists before it is queued, and fetched first when a
models lock may provide them (the volume is writable and MODELS_LOCK is set).
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from ..errors import InvalidInput
from ..workflow_models import named_models
from . import job_input
from .comfy_api import ComfyAPI, ComfyUnavailable, PromptRejected, Run
from .job_input import JobError

log = logging.getLogger("launchpad.serverless")

DETAIL_CHARS = 300  # ComfyUI's "not in list" details carry every file it has: cut them


@dataclass(frozen=True)
class ModelsVolume:
    """Where the worker's models come from, as the messages name it."""

    root: Path  # models under <root>/models/<folder>
    writable: bool
    network: bool  # False: no volume, the container disk stands in
    locks: tuple[Path, ...] = ()  # the models locks, resolved

    @property
    def models_dir(self) -> Path:
        return self.root / "models"


@dataclass(frozen=True)
class Worker:
    """What every job needs from the cold start."""

    comfy_url: str
    exited: Callable[[], int | None]  # ComfyUI's exit status, None while it runs
    models: ModelsVolume
    provision: Callable[[], Awaitable[bool]]  # fetch what the locks name; True when complete
    refresh_worker: bool = False
    comfy_org_api_key: str | None = field(default=None, repr=False)


@dataclass
class MissingModel:
    folder: str
    name: str
    nodes: list[dict[str, object]] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.folder}/{self.name}"

    @property
    def wanted_by(self) -> str:
        return ", ".join(f"node {node['id']} ({node['type']})" for node in self.nodes)

    def detail(self) -> str:
        return f"{self.key}: wanted by {self.wanted_by}"

    def to_dict(self) -> dict[str, object]:
        nodes = [{"id": node["id"], "type": node["type"]} for node in self.nodes]
        return {"folder": self.folder, "name": self.name, "nodes": nodes}


def make_handler(worker: Worker) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]:
    """The function the runpod SDK calls once per job."""

    async def handler(job: dict[str, Any]) -> dict[str, Any]:
        return await run_job(worker, job)

    return handler


async def run_job(worker: Worker, job: dict[str, Any]) -> dict[str, Any]:
    job_id = job.get("id", "?")
    try:
        request = job_input.parse(job.get("input"))
        extra = {"api_key_comfy_org": key} if (key := request.api_key_comfy_org or worker.comfy_org_api_key) else {}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10)) as session:
            api = ComfyAPI(worker.comfy_url, session, worker.exited)
            await _ensure_models(worker, api, request.workflow)
            for image in request.images:
                await api.upload_image(image.name, image.data)
            run = await api.run(request.workflow, extra)
            result = await _outputs(api, run)
        log.info("job %s: %d image(s)", job_id, len(result["images"]))
    except PromptRejected as rejected:
        result = _rejected(rejected.body, request.workflow).result()
    except ComfyUnavailable as gone:
        result = JobError(f"{gone}; this worker cannot run jobs any more and asks for a fresh one",
                          refresh_worker=True).result()
    except JobError as failed:
        result = failed.result()
    except ValueError as refused:  # an input image or an output file ComfyUI would not take or give
        result = JobError(str(refused)).result()
    if "error" in result:
        log.error("job %s failed: %s", job_id, result["error"])
        for line in result.get("details", []):
            log.error("job %s:   %s", job_id, line)
    if worker.refresh_worker:
        result["refresh_worker"] = True
    return result


# --- models ---------------------------------------------------------------------------


async def missing_models(api: ComfyAPI, workflow: dict[str, Any]) -> list[MissingModel]:
    """The model files ``workflow`` names that ComfyUI does not list (folders it lacks are left
    to its own validation)."""
    try:
        named = list(named_models(workflow))
    except InvalidInput as exc:
        raise JobError(exc.message) from None
    wanted: dict[str, MissingModel] = {}
    for folder, name, node, _ in named:
        model = wanted.setdefault(f"{folder}/{name}", MissingModel(folder, name.replace("\\", "/")))
        if node is not None:  # a workflow's top-level `models` entry names no node
            model.nodes.append(node)
    listings: dict[str, set[str] | None] = {}
    for model in wanted.values():
        if model.folder not in listings:
            listings[model.folder] = await api.model_names(model.folder)
    missing = []
    for model in wanted.values():
        names = listings[model.folder]
        if names is not None and model.name not in names:
            missing.append(model)
    return missing


async def _ensure_models(worker: Worker, api: ComfyAPI, workflow: dict[str, Any]) -> None:
    missing = await missing_models(api, workflow)
    fetched = False
    if missing and worker.models.locks and worker.models.writable:
        log.info("%d model(s) missing (%s): provisioning from the models lock first",
                 len(missing), ", ".join(m.key for m in missing))
        await worker.provision()
        fetched = True
        missing = await missing_models(api, workflow)
    if missing:
        named = "; ".join(f"{m.key} (wanted by {m.wanted_by})" for m in missing)
        raise JobError(
            f"Missing models: {named}. {_missing_hint(worker.models, fetched)}",
            [m.detail() for m in missing],
            output={"missing_models": [m.to_dict() for m in missing]},
        )


def _missing_hint(models: ModelsVolume, fetched: bool) -> str:
    place = f"{models.models_dir}/<folder>/"
    locks = ", ".join(map(str, models.locks))
    if not models.network:
        return (f"This worker has no network volume ({models.root} is on the container disk): attach one "
                "with the models under models/<folder>/, or bake them into the image")
    if fetched:
        return (f"The models lock ({locks}) does not list them, or they did not download (see the worker's log): "
                f"add them to the lock, or put them on the volume under {place}")
    if models.locks:
        return (f"The volume {models.root} is read-only, so the models lock ({locks}) cannot fetch them: put them "
                f"under {place} from a pod, or attach the volume read-write")
    return (f"Put them on the network volume under {place} (from a pod, e.g. `launchpad install`), or name a "
            "models lock in MODELS_LOCK so the workers fetch them")


# --- what ComfyUI said --------------------------------------------------------------------


def _short(text: object) -> str:
    text = str(text).strip()
    return text if len(text) <= DETAIL_CHARS else text[:DETAIL_CHARS] + "..."


def _node_error_lines(node_errors: object) -> list[str]:
    """One line per reason in POST /prompt's ``node_errors``: ``node 4 (CheckpointLoaderSimple): ...``."""
    lines = []
    for node_id, entry in (node_errors or {}).items() if isinstance(node_errors, dict) else ():
        entry = entry if isinstance(entry, dict) else {}
        for error in entry.get("errors") or []:
            if not isinstance(error, dict):
                continue
            reason = str(error.get("message") or error.get("type") or "invalid")
            if error.get("details"):
                reason += f": {_short(error['details'])}"
            lines.append(f"node {node_id} ({entry.get('class_type', '?')}): {reason}")
    return lines


def _rejected(body: dict[str, Any], workflow: dict[str, Any]) -> JobError:
    """ComfyUI's 400 to POST /prompt as an error naming the nodes and their reasons."""
    lines = _node_error_lines(body.get("node_errors"))
    error = body.get("error")
    if not lines and isinstance(error, dict):
        message = str(error.get("message") or error.get("type") or "the workflow was refused")
        node = _error_node(error)
        if node is not None:
            kind = (workflow.get(node) or {}).get("class_type", "?")
            lines = [f"node {node} ({kind}): {message}"]
        else:
            lines = [f"{message}: {_short(error['details'])}" if error.get("details") else message]
    elif not lines:
        lines = [_short(error or body)]
    more = f" (and {len(lines) - 1} more, see details)" if len(lines) > 1 else ""
    return JobError(f"Workflow validation failed: {lines[0]}{more}", lines)


def _error_node(error: dict[str, Any]) -> str | None:
    """The node a prompt-level error is about: ``extra_info.node_id`` (0.33 and on), or the
    ``Node ID '#9'`` that older ComfyUI writes in ``details``."""
    info = error.get("extra_info")
    if not isinstance(info, dict):
        info = {}
    if info.get("node_id") is not None:
        return str(info["node_id"])
    match = re.fullmatch(r"Node ID '#([^']+)'", str(error.get("details") or "").strip())
    return match.group(1) if match else None


def _failure(status: dict[str, Any]) -> JobError | None:
    """The execution error or interruption recorded in a history entry's status, if any."""
    for event, data in status.get("messages") or []:
        if not isinstance(data, dict):
            continue
        node = f"node {data.get('node_id')} ({data.get('node_type')})"
        if event == "execution_error":
            reason = f"{data.get('exception_type', 'error')}: {str(data.get('exception_message', '')).strip()}"
            return JobError(f"Workflow execution failed: {node}: {_short(reason)}", [f"{node}: {reason}"])
        if event == "execution_interrupted":
            return JobError(f"Workflow execution was interrupted at {node}")
    if status.get("status_str") == "error":
        return JobError("Workflow execution failed; ComfyUI recorded no reason (see the worker's log)")
    return None


async def _outputs(api: ComfyAPI, run: Run) -> dict[str, Any]:
    failure = _failure(run.history.get("status") or {})
    if failure is not None:
        raise failure
    warnings = [f"skipped by ComfyUI: {line}" for line in _node_error_lines(run.node_errors)]
    images = []
    for node_id, output in (run.history.get("outputs") or {}).items():
        for kind, items in (output or {}).items():
            files = [i for i in items if isinstance(i, dict) and i.get("filename")] if isinstance(items, list) else []
            if files and kind != "images":
                count = f"{len(files)} file(s)"
                warnings.append(f"node {node_id} produced {kind} ({count}), which this worker does not return")
                continue
            for item in files:
                if item.get("type") == "temp":  # previews, not results
                    continue
                data = await api.file(str(item["filename"]), str(item.get("subfolder") or ""), str(item.get("type")))
                images.append({"filename": item["filename"], "type": "base64", "data": base64.b64encode(data).decode()})
    result: dict[str, Any] = {"images": images}
    if warnings:
        result["errors"] = warnings
    if not images:
        result["status"] = "success_no_images"
    return result
