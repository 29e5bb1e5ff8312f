"""A job's input, in worker-comfyui's shape, checked before anything reaches ComfyUI.

    {"input": {"workflow": {<API format>}, "images": [{"name": "in.png", "image": "<base64>"}],
               "api_key_comfy_org": "<optional key for ComfyUI's API nodes>"}}

The input may also be that object as a JSON string; an image may be a data URI
(``data:image/png;base64,...``), as worker-comfyui accepts.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from ..files import unsafe_reason


class JobError(Exception):
    """The job cannot run or did not succeed; ``message`` and ``details`` go back to the client.

    ``output`` carries more machine-readable fields (e.g. ``missing_models``); ``refresh_worker``
    asks RunPod for a fresh worker (this one's ComfyUI is gone).
    """

    def __init__(
        self,
        message: str,
        details: list[str] | None = None,
        *,
        output: dict[str, Any] | None = None,
        refresh_worker: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []
        self.output = output or {}
        self.refresh_worker = refresh_worker

    def result(self) -> dict[str, Any]:
        """What the handler returns: the SDK reports ``error`` as the job's error."""
        result: dict[str, Any] = {"error": self.message, **self.output}
        if self.details:
            result["details"] = self.details
        if self.refresh_worker:
            result["refresh_worker"] = True
        return result


@dataclass(frozen=True)
class InputImage:
    name: str
    data: bytes


@dataclass(frozen=True)
class JobInput:
    workflow: dict[str, Any]
    images: tuple[InputImage, ...] = ()
    api_key_comfy_org: str | None = None


def parse(raw: object) -> JobInput:
    """The job's ``input``, checked; JobError saying what is wrong and how to send it."""
    if raw is None:
        raise JobError("Please provide input: {\"input\": {\"workflow\": {...}}}")
    raw = _decoded(raw, "Invalid JSON format in input")
    if not isinstance(raw, dict):
        raise JobError(f"the input must be a JSON object with 'workflow', not {type(raw).__name__}")
    if raw.get("workflow") is None:
        raise JobError("Missing 'workflow' parameter: send the workflow in ComfyUI's API format")
    workflow = _decoded(raw["workflow"], "'workflow' is a string but not JSON")
    _check_api_format(workflow)
    if not isinstance(workflow, dict):  # what _check_api_format refuses; said again for the type checker
        raise JobError("'workflow' must be a JSON object in ComfyUI's API format")
    key = raw.get("api_key_comfy_org")
    if key is not None and not isinstance(key, str):
        raise JobError("'api_key_comfy_org' must be a string")
    return JobInput(workflow, _images(raw.get("images")), key or None)


def _decoded(value: object, refusal: str) -> object:
    """``value``, or the JSON it holds when it is a string (clients send either)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise JobError(f"{refusal} ({exc.msg} at character {exc.pos})") from None


def _check_api_format(workflow: object) -> None:
    if isinstance(workflow, dict) and isinstance(workflow.get("nodes"), list):
        raise JobError(
            "the workflow is in ComfyUI's UI format (it has 'nodes'); send the API format instead: "
            "in ComfyUI, Workflow > Export (API)"
        )
    if not isinstance(workflow, dict) or not workflow:
        raise JobError(
            "'workflow' must be a non-empty JSON object in ComfyUI's API format: {node id: {class_type, inputs}}"
        )
    bad = [str(node_id) for node_id, node in workflow.items() if not isinstance(node, dict) or "class_type" not in node]
    if bad:
        raise JobError(
            f"'workflow' is not in ComfyUI's API format: node {', '.join(bad[:5])} has no class_type "
            "(export the workflow with Workflow > Export (API))"
        )


def _images(raw: object) -> tuple[InputImage, ...]:
    if raw is None:
        return ()
    shape = "'images' must be a list of objects with 'name' and 'image' keys"
    if not isinstance(raw, list) or not all(isinstance(i, dict) and "name" in i and "image" in i for i in raw):
        raise JobError(shape)
    images = []
    for item in raw:
        name, data = item["name"], item["image"]
        if not isinstance(name, str) or not isinstance(data, str):
            raise JobError(f"{shape}, both strings")
        problem = unsafe_reason(name)
        if problem or "/" in name:
            reason = problem or "contains a /"
            raise JobError(f"input image name {name!r} {reason}: give a plain file name like input.png")
        payload = data.split(",", 1)[1] if data.startswith("data:") and "," in data else data
        try:  # line breaks (as `base64` writes them) are fine; other stray characters are not
            images.append(InputImage(name, base64.b64decode("".join(payload.split()), validate=True)))
        except (binascii.Error, ValueError) as exc:
            raise JobError(f"input image {name!r} is not valid base64 ({exc})") from None
    return tuple(images)
