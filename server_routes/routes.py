"""THE route table: every endpoint of the Launchpad API, in one place.

Inside ComfyUI these are added to PromptServer.routes (ComfyUI mirrors each under /api);
standalone they are served at both prefixes. The OpenAPI document at
/launchpad/openapi.json is generated from this list, so it cannot drift from what exists.
"""

from __future__ import annotations

from ..launchpad import model_folders
from . import handlers as h
from . import login
from .schema import (
    ANY_OBJECT,
    BOOL,
    INT,
    NUMBER,
    PRESET_ID,
    STRING,
    STRINGS,
    array,
    nullable,
    obj,
    ref,
)
from .table import Link, Param, Route

P = "/launchpad"

EMPTY_BODY = obj({})  # POST actions whose target is in the path still send {} as JSON

HEALTH = obj(
    {
        "status": {"type": "string", "enum": ["ok", "failed"]},
        "state": {"type": "string", "enum": ["starting", "ready", "failed"]},
        "version": STRING,
        "mode": {"type": "string", "enum": ["comfyui", "standalone"]},
        "workspace": nullable(STRING),
        "uptime": NUMBER,
        "presets": INT,
        "error": {"type": ["object", "null"]},
    },
    required=("status", "state"),  # all an anonymous caller gets while auth is on
)

PRESET_LIST = obj(
    {
        "presets": array(ref("PresetSummary")),
        "total": INT,
        "categories": STRINGS,
        "warnings": INT,
        "comfyui_version": nullable(STRING),
        "sources": ref("PresetSources"),
        "sources_line": {"type": "string", "description": "where the presets come from, in one line for people"},
    }
)

INSTALL_BODY = obj({"presets": array(PRESET_ID, minItems=1, maxItems=500)})
INSTALL_RESULT = obj({"jobs": array(ref("Job")), "skipped": STRINGS, "warnings": STRINGS}, closed=False)
CANCEL_PRESET_RESULT = obj({"preset_id": STRING, "cancelled": array(ref("Job"))})
UNINSTALL_RESULT = obj(
    {"deleted": STRINGS, "kept": array(obj({"key": STRING, "used_by": STRINGS}, closed=False))}, closed=False
)

MODEL_LIST = obj(
    {
        "models": array(ref("Model")),
        "total": INT,
        "total_bytes": INT,
        "offset": INT,
        "limit": INT,
        "folders": STRINGS,
        # where each folder's downloads go: the panel shows the room left there
        "space": {"type": "object", "additionalProperties": obj({"free": nullable(INT), "total": nullable(INT)})},
    }
)

OLD_TREE = {"layout": STRING, "title": STRING, "root": STRING, "models": nullable(STRING),
            "custom_nodes": nullable(STRING), "user": nullable(STRING), "input": nullable(STRING),
            "output": nullable(STRING)}
MIGRATION = obj(
    {
        # old model directories ComfyUI reads where they are (config/adopted_model_dirs.json)
        "adopted": array(obj({"id": STRING, "source": STRING, "layout": STRING, "at": NUMBER,
                              "folders": {"type": "object", "additionalProperties": STRINGS},
                              "move": STRING})),
        "found": array(obj({**OLD_TREE, "state": {"type": "string", "enum": ["not migrated", "adopted", "moved"]},
                            "plan": STRING, "move": STRING})),
        "last": {"type": ["object", "null"]},
        # what the Models view shows: a sentence for each tree, and the command to copy
        "notes": array(obj({"text": STRING, "command": STRING})),
    }
)

WATCH_BODY = obj(
    {
        "client_id": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,64}$"},
        "ttl": {"type": "number", "minimum": 1, "maximum": 300},
    },
    required=("client_id",),
)
WATCH_RESULT = obj({"client_id": STRING, "ttl": NUMBER, "interval": NUMBER, "reading": ref("SystemReading")})

QUEUE = obj(
    {
        "running": array(ref("QueueItem")),
        "pending": array(ref("QueueItem")),
        "remaining": INT,
        "available": BOOL,
        # how to cancel a prompt in this ComfyUI: its jobs API (0.33 and later) or /interrupt and /queue
        "cancel": {"type": ["string", "null"], "enum": ["jobs", "queue", None]},
        "now": NUMBER,
    }
)

WARNINGS = obj(
    {"presets": INT, "warnings": array(ref("CatalogWarning")), "templates_dir": nullable(STRING)}
)

WORKFLOW: dict = {
    "description": "a ComfyUI workflow in UI format (`nodes`, `links`, ...) or API format "
    "(`{node_id: {class_type, inputs}}`)",
    "anyOf": [
        {"type": "object", "required": ["nodes"], "properties": {"nodes": {"type": "array"}}},
        {"type": "object", "minProperties": 1,
         "additionalProperties": {"type": "object", "required": ["class_type"], "properties": {"class_type": STRING}}},
    ],
}
WORKFLOW_BODY = obj(
    {"workflow": WORKFLOW, "wait": {"type": "number", "minimum": 0, "maximum": 30,
                                    "description": "seconds to wait for Civitai and the Hub before answering"},
     "name": {"type": "string", "maxLength": 256, "description": "the workflow's file name: a template's tells "
              "the ComfyUI it needs, and the summary's headline and command name it"}},
    required=("workflow",),
)
WORKFLOW_INSTALL_BODY = obj(
    {
        "workflow": WORKFLOW,
        "name": {"type": "string", "maxLength": 256, "description": "the workflow's name; labels its downloads"},
        "keys": array({"type": "string", "maxLength": 1100}, minItems=1, maxItems=500,
                      description="only these models (`folder/name` keys from the analysis)"),
        "optional": {"type": "boolean", "description": "also the models of muted and bypassed nodes"},
        "choices": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 64},
                    "description": "model key -> the id of the candidate to install it from (a name match "
                    "installs only when chosen here)"},
    },
    required=("workflow",),
)
WORKFLOW_MODELS = obj(
    {
        "models": array(ref("WorkflowModel")),
        "summary": ref("WorkflowSummary"),
        "allowed_hosts": STRINGS,
        "resolving": {"type": "boolean", "description": "lookups that could tell more run on; a `launchpad.resolve` "
                      "event says when to ask again"},
        "sources": ANY_OBJECT,
    }
)
WORKFLOW_INSTALL_RESULT = obj(
    {
        "jobs": array(ref("Job")),
        "skipped": STRINGS,
        "label": STRING,
        "refused": array(obj({"key": STRING, "state": STRING, "reason": STRING})),
    }
)
WORKFLOW_LOCK_BODY = obj(
    {"workflow": WORKFLOW, "name": {"type": "string", "maxLength": 256, "description": "the workflow's name"}},
    required=("workflow",),
)
LOCK_RESULT = obj(
    {"lock": ref("ModelsLock"), "warnings": STRINGS,
     "filename": {"type": "string", "description": "a file name to save the lock under"}}
)
MAX_WORKFLOW = 16 * 2**20  # the largest official templates are a few hundred KB
LOGIN_BODY = obj({"password": {"type": "string", "minLength": 1, "maxLength": 4096}})
SESSION = obj(
    {"auth_enabled": BOOL, "configured": BOOL, "authenticated": BOOL,
     "method": {"type": ["string", "null"], "enum": ["session", "token", None]}, "expires_at": NUMBER},
    required=("auth_enabled", "configured", "authenticated", "method"),
)

# POST /downloads/url: the shape url_policy.check_custom_url accepts, stated so a client (and the
# fuzzer) can tell a valid request from one refused by policy (403: switched off, host not allowed)
_EXT = r"\.(safetensors|sft|gguf|onnx|ckpt|pt|pth|bin|pkl|pickle)"
_SEGMENT = r"[^\x00-\x1f\x7f/\\.][^\x00-\x1f\x7f/\\]*"  # not '.', '..' or empty; no backslash or control
_URL_HEAD = r"^https?://[^\x00-\x20\x7f/?#@\\\[\]:]+(:[1-5]?[0-9]{1,4})?"  # no credentials, no IPv6 literal
_URL_TAIL = r"(\?[^\x00-\x20\x7f#]*)?(#[^\x00-\x20\x7f]*)?$"
URL_MESSAGE = (
    "must be one absolute https URL (plain http only to this machine) without spaces, control characters or "
    "credentials (user@host), e.g. https://huggingface.co/org/repo/resolve/main/model.safetensors"
)
CUSTOM_URL_BODY = obj(
    {
        "url": {"type": "string", "maxLength": 2048, "errorMessage": URL_MESSAGE,
                "pattern": _URL_HEAD + r"(/[^\x00-\x20\x7f?#\\]*)?" + _URL_TAIL},
        "folder": {"type": "string", "enum": sorted({*model_folders.FOLDER_NAMES, *model_folders.ALIASES}),
                   "errorMessage": "must be a model folder: " + ", ".join(model_folders.FOLDER_NAMES)},
        "name": {"type": "string", "maxLength": 1024, "pattern": rf"^({_SEGMENT}/)*{_SEGMENT}{_EXT}$",
                 "errorMessage": "must be a relative path (not absolute) of plain segments (no empty, '.' or '..' "
                 "segment, backslash or control character) ending in a model extension (.safetensors, .gguf, ...)"},
    },
    required=("url", "folder"),
)
CUSTOM_URL_BODY["anyOf"] = [
    {"required": ["name"]},
    {"properties": {"url": {"pattern": _URL_HEAD + r"(/[^\x00-\x20\x7f?#\\]*)?/[^\x00-\x20\x7f?#/\\%.]"
                            r"[^\x00-\x20\x7f?#/\\%]*" + _EXT + _URL_TAIL}}},
]
CUSTOM_URL_BODY["errorMessage"] = (
    "without `name`, the URL's last path segment is the file name and must end in a model extension "
    "(.safetensors, .gguf, ...); give `name` otherwise"
)

# GET /presets/{id} must not swallow /presets/install (then a GET there would not be 405)
PRESET_SEGMENT = r"(?!install$)[^/]+"

# OpenAPI links: what an answer's ids lead to (clients, and the fuzzer's stateful phase, follow them)
PRESET_LINKS = tuple(
    Link(operation, {"preset_id": "$response.body#/presets/0/id"})
    for operation in ("get_preset", "uninstall_preset", "cancel_preset")
)


def job_links(pointer: str) -> tuple[Link, ...]:
    return tuple(
        Link(operation, {"job_id": f"$response.body#{pointer}"}) for operation in ("cancel_download", "retry_download")
    )


ROUTES: list[Route] = [
    Route("GET", f"{P}/health", h.health, "Liveness, version, mode and whether the core has started", "meta",
          response=HEALTH, needs_service=False, same_shape=(503,),
          description="503 when the service failed to start. While auth is on, a caller that is not logged in "
          "gets only `status` and `state`."),
    Route("GET", f"{P}/openapi.json", h.openapi, "This API as an OpenAPI 3.1 document", "meta",
          response=ANY_OBJECT, needs_service=False),
    # presets
    Route(
        "GET", f"{P}/presets", h.list_presets, "List presets with their installed state", "presets",
        response=PRESET_LIST,
        query=(
            Param("category", {"type": "string", "maxLength": 32}, "only this category (image, video, audio, ...)"),
            Param("search", {"type": "string", "maxLength": 200}, "words that must all appear in id, name, "
                  "description, tags or workflows (template names)"),
            Param("installed", BOOL, "true: only fully installed presets; false: only those not fully installed"),
            Param("sort", {"type": "string", "enum": ["popularity", "name", "size"]}, "popularity: most used "
                  "templates first; name; size: smallest first (default: catalog order)"),
        ),
        links=PRESET_LINKS,
    ),
    Route("GET", f"{P}/presets/{{preset_id:{PRESET_SEGMENT}}}", h.get_preset,
          "One preset with the state of each of its files", "presets", response=ref("PresetDetail"), errors=(404,)),
    Route(
        "POST", f"{P}/presets/install", h.install_presets,
        "Queue the downloads of presets, by catalog id only", "presets",
        body=INSTALL_BODY, response=INSTALL_RESULT, status=202, errors=(404, 415),
        description="Files already on disk or already queued are listed under `skipped`. "
        "Progress arrives as `launchpad.download` and `launchpad.preset` events.",
        links=job_links("/jobs/0/id"),
    ),
    Route(
        "POST", f"{P}/presets/{{preset_id}}/uninstall", h.uninstall_preset,
        "Delete a preset's files, keeping those another installed preset uses", "presets",
        body=EMPTY_BODY, response=UNINSTALL_RESULT, errors=(404, 409, 415),
    ),
    Route("POST", f"{P}/presets/{{preset_id}}/cancel", h.cancel_preset, "Cancel a preset's queued and running "
          "downloads", "presets", body=EMPTY_BODY, response=ANY_OBJECT, errors=(404, 415)),
    # workflows
    Route(
        "POST", f"{P}/workflow/models", h.workflow_models,
        "Which models a workflow needs: present, missing (with source, size and owning presets) and unknown",
        "workflows", body=WORKFLOW_BODY, response=WORKFLOW_MODELS, errors=(413, 415), max_body=MAX_WORKFLOW,
        description="Every source's candidates for each model, best first: the workflow's own links "
        "(`properties.models` and top-level `models`, with `hash`), the catalog (curated, template-derived and "
        "user presets), ComfyUI-Manager's model list, the listings of the Hugging Face repositories the catalog "
        "uses, and Civitai by hash; each with its `certainty` (hash, exact, name). What is known on the server "
        "answers at once; while lookups run `resolving` is true and a `launchpad.resolve` event follows. "
        "Unknown models name the loader nodes that want them. Missing models are `installable` when their "
        "best candidate is sure and its link is on an allowed host; a name match sets `confirm`.",
    ),
    Route(
        "POST", f"{P}/workflow/install", h.install_workflow,
        "Queue the downloads of a workflow's missing models (only links on allowed hosts)", "workflows",
        body=WORKFLOW_INSTALL_BODY, response=WORKFLOW_INSTALL_RESULT, status=202, errors=(404, 413, 415),
        max_body=MAX_WORKFLOW,
        description="The server analyses the workflow itself and queues only what it finds installable; "
        "the rest is listed under `refused` with the reason. The jobs are grouped under `label` "
        "(`workflow:<name>`); progress arrives as `launchpad.download` and `launchpad.preset` events.",
    ),
    Route(
        "POST", f"{P}/workflow/lock", h.workflow_lock,
        "The models lock of what a workflow needs (sources pinned to commits, sizes, sha256)", "workflows",
        body=WORKFLOW_LOCK_BODY, response=LOCK_RESULT, errors=(413, 415), max_body=MAX_WORKFLOW,
        description="The same analysis as /workflow/models; models without a source, and missing ones on hosts "
        "that are not allowed, are left out and named in `warnings`, as are sizes and hashes nobody knows. "
        "`launchpad provision` makes a workspace match the lock (docs/lockfile.md).",
    ),
    # downloads
    Route("GET", f"{P}/downloads", h.list_downloads, "Every download job and each preset's progress (for a tab "
          "that opens or reconnects)", "downloads", response=ref("DownloadSnapshot"),
        links=job_links("/jobs/0/id"),
    ),
    Route(
        "POST", f"{P}/downloads/url", h.download_url,
        "Download one file from a URL (only with ALLOW_CUSTOM_URLS, to ALLOWED_URL_HOSTS)", "downloads",
        body=CUSTOM_URL_BODY,
        response=obj({"job": ref("Job"), "pickle": BOOL}), status=202, errors=(403, 409, 415),
        description="Off unless ALLOW_CUSTOM_URLS=1 (403 says how to switch it on). https only, to a host in "
        "ALLOWED_URL_HOSTS or a subdomain, saved under a model extension; `name` defaults to the URL's last "
        "segment. `pickle` is true for formats that can run code when loaded (.ckpt, .pt, .pth, .bin, .pkl).",
        links=job_links("/job/id"),
    ),
    Route("POST", f"{P}/downloads/clear", h.clear_downloads, "Forget the finished jobs (done, failed, "
          "cancelled); the files stay", "downloads", body=EMPTY_BODY, response=obj({"cleared": STRINGS}),
          errors=(415,)),
    Route("POST", f"{P}/downloads/{{job_id}}/cancel", h.cancel_download, "Cancel one download job (its partial "
          "file is deleted)", "downloads", body=EMPTY_BODY, response=ref("Job"), errors=(404, 409, 415)),
    Route("POST", f"{P}/downloads/{{job_id}}/retry", h.retry_download, "Retry a failed or cancelled job, "
          "resuming its partial file", "downloads", body=EMPTY_BODY, response=ref("Job"), errors=(404, 409, 415)),
    # models
    Route(
        "GET", f"{P}/models", h.list_models, "Model files in every model folder, with owning presets", "models",
        response=MODEL_LIST, errors=(404,),
        query=(
            Param("folder", {"type": "string", "maxLength": 64}, "only this ComfyUI model folder (checkpoints, ...)"),
            Param("search", {"type": "string", "maxLength": 200}, "words that must all appear in the file name"),
            Param("offset", {"type": "integer", "minimum": 0}, "skip this many files (default 0)"),
            Param("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "at most this many files "
                  "(default 100)"),
        ),
        links=(Link("delete_model", {"model_id": "$response.body#/models/0/id"}),),
    ),
    Route("DELETE", f"{P}/models/{{model_id}}", h.delete_model, "Delete one model file by the id from the listing",
          "models", response=obj({"deleted": ref("Model")}), errors=(403, 404, 409),
          description="409 `conflict` while a download writes the file; 409 `in_use` when another live pod on the "
          "volume serves it (its lease names the file: `details.pods` says which pod and why)."),
    Route("GET", f"{P}/lock/installed", h.installed_lock, "The models lock of every installed model file whose "
          "source is known", "models", response=LOCK_RESULT,
          description="Sources come from the download journal (with the commit the bytes came from) or the catalog; "
          "a sha256 nobody publishes is computed from the installed file. `warnings` names what is left out or "
          "unknown. `launchpad provision` makes a workspace match the lock (docs/lockfile.md)."),
    Route("GET", f"{P}/migrate", h.migration, "Old volume layouts found, the model folders adopted from them, "
          "and the `launchpad migrate` command for each", "models", response=MIGRATION),
    # system and ComfyUI
    Route("GET", f"{P}/system", h.system_status, "One reading of CPU, memory, GPUs, disks and versions", "system",
          response=ref("SystemReading")),
    Route(
        "POST", f"{P}/system/watch", h.watch_system,
        "Take or renew a watch lease (renew before `ttl` runs out); `launchpad.system` events are sampled "
        "only while some lease lives", "system", body=WATCH_BODY, response=WATCH_RESULT, errors=(415,),
        links=(Link("unwatch_system", {"client_id": "$response.body#/client_id"}),),
    ),
    Route("DELETE", f"{P}/system/watch/{{client_id}}", h.unwatch_system, "End a watch lease now (the panel "
          "closed)", "system", response=obj({"client_id": STRING, "watchers": INT})),
    Route("GET", f"{P}/queue", h.comfy_queue, "ComfyUI's running and pending prompts (empty standalone)", "comfyui",
          response=QUEUE),
    # catalog and metrics
    Route("GET", f"{P}/catalog/warnings", h.catalog_warnings, "Catalog entries that were skipped, and why",
          "catalog", response=WARNINGS),
    Route("POST", f"{P}/catalog/reload", h.reload_catalog, "Re-read every preset source now", "catalog",
          body=EMPTY_BODY, response=WARNINGS, errors=(415,)),
    Route("GET", f"{P}/metrics", h.metrics, "Prometheus metrics: downloads, bytes, failures, queue, GPU, disk",
          "meta", content_type="text/plain"),
    # login (open while ENABLE_AUTH is on; see server_routes/security.py)
    Route("GET", f"{P}/login", login.login_page, "The login page (HTML; redirects to `next` when auth is off)",
          "auth", content_type="text/html", errors=(503,), needs_service=False,
          query=(Param("next", {"type": "string", "maxLength": 512}, "where to go after logging in (a path "
                 "on this server)"),)),
    Route("POST", f"{P}/login", login.login, "Log in with ACCESS_PASSWORD or an API token; sets the session cookie",
          "auth", body=LOGIN_BODY, response=SESSION, errors=(401, 403, 415, 429, 503), needs_service=False),
    Route("POST", f"{P}/logout", login.logout, "End this browser's session and clear its cookie", "auth",
          body=EMPTY_BODY, response=SESSION, errors=(403, 415), needs_service=False),
    Route("GET", f"{P}/session", login.session_info, "Whether login is required, and whether this request has it",
          "auth", response=SESSION, needs_service=False),
]
