"""JSON Schema for the API: the schemas the route table declares, and a validator for them.

The same schema objects go into the OpenAPI document and check request bodies, so what the
document promises is what the server enforces. The validator covers the subset of JSON
Schema (2020-12, as OpenAPI 3.1 uses it) that our schemas use: ``type`` (one or a list),
``properties``, ``required``, ``additionalProperties``, ``items``, ``enum``, ``minimum``,
``maximum``, ``minLength``, ``maxLength``, ``pattern``, ``minItems``, ``maxItems``,
``minProperties``, ``anyOf`` and ``$ref`` into :data:`COMPONENTS`, plus ``errorMessage`` (as
ajv-errors spells it) for what to say when a ``pattern``, ``enum`` or ``anyOf`` is not met. An
unknown keyword is a bug in our schemas, so it raises.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..launchpad.downloads.jobs import JobState, PresetState
from ..launchpad.resolve import CERTAINTIES, ORIGINS
from .errors import STATUS

Schema = dict[str, Any]

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}
_KNOWN = {
    "type", "properties", "required", "additionalProperties", "items", "enum", "minimum", "maximum",
    "minLength", "maxLength", "pattern", "minItems", "maxItems", "$ref", "description", "title",
    "example", "format", "default", "minProperties", "anyOf", "errorMessage",
}
REF_PREFIX = "#/components/schemas/"


class SchemaError(ValueError):
    """``where`` (a JSON path like ``body.presets[0]``) does not match the schema."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


def _is_type(value: object, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    if name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES[name])


def validate(value: object, schema: Mapping[str, Any], where: str = "body") -> None:
    """Raise SchemaError naming the first place where ``value`` breaks ``schema``."""
    unknown = set(schema) - _KNOWN
    if unknown:
        raise AssertionError(f"schema keyword(s) {sorted(unknown)} not supported by the validator")
    if "$ref" in schema:
        validate(value, resolve(schema["$ref"]), where)
        return
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_is_type(value, name) for name in names):
            raise SchemaError(where, f"must be {' or '.join(names)}")
    if "enum" in schema and value not in schema["enum"]:
        raise SchemaError(where, schema.get("errorMessage") or f"must be one of {', '.join(map(str, schema['enum']))}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            raise SchemaError(where, "must not be empty" if schema["minLength"] == 1 else "is too short")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise SchemaError(where, f"must be at most {schema['maxLength']} characters")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            raise SchemaError(where, schema.get("errorMessage") or f"must match {schema['pattern']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise SchemaError(where, f"must be at least {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise SchemaError(where, f"must be at most {schema['maximum']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            raise SchemaError(where, f"must have at least {schema['minItems']} item(s)")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise SchemaError(where, f"must have at most {schema['maxItems']} items")
        if "items" in schema:
            for index, item in enumerate(value):
                validate(item, schema["items"], f"{where}[{index}]")
    if isinstance(value, dict):
        if len(value) < schema.get("minProperties", 0):
            raise SchemaError(where, "must not be empty")
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        if extra is False:  # an unknown field says more about the mistake than a missing one
            for name in value:
                if name not in properties:
                    allowed = ", ".join(properties) or "none"
                    raise SchemaError(f"{where}.{name}", f"unknown field (allowed: {allowed})")
        for name in schema.get("required", ()):
            if name not in value:
                raise SchemaError(f"{where}.{name}", "is required")
        for name, item in value.items():
            if name in properties:
                validate(item, properties[name], f"{where}.{name}")
            elif isinstance(extra, dict):
                validate(item, extra, f"{where}.{name}")
    if "anyOf" in schema:  # last: a plainer mistake above says more
        errors = []
        for option in schema["anyOf"]:
            try:
                validate(value, option, where)
                break
            except SchemaError as exc:
                errors.append(exc)
        else:
            raise SchemaError(where, schema.get("errorMessage") or errors[0].message)


def resolve(ref: str) -> Schema:
    if not ref.startswith(REF_PREFIX):
        raise AssertionError(f"unsupported $ref {ref}")
    return COMPONENTS[ref[len(REF_PREFIX):]]


def ref(name: str) -> Schema:
    if name not in COMPONENTS:
        raise AssertionError(f"no component schema {name}")
    return {"$ref": REF_PREFIX + name}


# --- building blocks ---------------------------------------------------------------------------


def obj(properties: Mapping[str, Schema], required: tuple[str, ...] | None = None, *, closed: bool = True) -> Schema:
    """An object schema; every property required unless ``required`` says otherwise."""
    schema: Schema = {"type": "object", "properties": dict(properties)}
    schema["required"] = list(properties if required is None else required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def array(items: Schema, **extra: Any) -> Schema:
    return {"type": "array", "items": items, **extra}


def nullable(schema: Schema) -> Schema:
    if "$ref" in schema:
        raise AssertionError("wrap a $ref in a component instead")
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    return {**schema, "type": [*types, "null"]}


STRING: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
NUMBER: Schema = {"type": "number"}
BOOL: Schema = {"type": "boolean"}
ANY_OBJECT: Schema = {"type": "object"}
PRESET_ID: Schema = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"}
# path parameters: documented and checked alike (table.py). An id of another shape cannot exist
# (404), except a model id, whose fixed shape a client got wrong (400, as the listing explains it).
PATH_PARAMS: dict[str, Schema] = {
    "preset_id": {"type": "string", "pattern": r"^(?!install$)" + PRESET_ID["pattern"][1:],
                  "description": "an id from GET /launchpad/presets"},
    "model_id": {"type": "string", "pattern": r"^[0-9a-f]{24}$", "description": "an id from GET /launchpad/models"},
    "job_id": {"type": "string", "pattern": r"^[0-9a-f]{12}$", "description": "an id from GET /launchpad/downloads"},
}
STRINGS: Schema = array(STRING)

COMPONENTS: dict[str, Schema] = {}

COMPONENTS["Error"] = obj(
    {
        "error": obj(
            {
                "code": {"type": "string", "enum": sorted(STATUS), "description": "stable: clients branch on it"},
                "message": STRING,
                "details": ANY_OBJECT,
            },
            required=("code", "message"),
        )
    }
)

COMPONENTS["JobError"] = obj({"code": STRING, "message": STRING, "details": ANY_OBJECT}, required=("code", "message"))

COMPONENTS["Source"] = obj(
    {"kind": {"type": "string", "enum": ["hf", "civitai", "url"]}, "url": STRING},
    required=("kind", "url"),
    closed=False,
)

COMPONENTS["Job"] = obj(
    {
        "id": STRING,
        "key": STRING,
        "folder": STRING,
        "name": STRING,
        "preset_ids": STRINGS,
        "source": ref("Source"),
        "state": {"type": "string", "enum": [state.value for state in JobState]},
        "active": {
            "type": "boolean",
            "description": "whether the job still has work to do (queued, resolving, downloading or verifying)",
        },
        "bytes_done": INT,
        "bytes_total": nullable(INT),
        "speed": nullable(NUMBER),
        "eta": nullable(NUMBER),
        "error": {"type": ["object", "null"], "properties": COMPONENTS["JobError"]["properties"]},
        "message": nullable(STRING),
        "path": nullable(STRING),
        "attempts": INT,
        "created_at": NUMBER,
        "updated_at": NUMBER,
    },
    required=("id", "key", "folder", "name", "preset_ids", "state", "active", "bytes_done", "bytes_total", "error"),
    closed=False,
)

COMPONENTS["PresetProgress"] = obj(
    {
        "preset_id": STRING,
        "state": {"type": "string", "enum": [state.value for state in PresetState]},
        "active": BOOL,
        "bytes_done": INT,
        "bytes_total": nullable(INT),
        "speed": nullable(NUMBER),
        "eta": nullable(NUMBER),
        "files_total": INT,
        "files_done": INT,
        "files_failed": INT,
    },
    required=("preset_id", "state", "active"),
    closed=False,
)

_PRESET_FIELDS: dict[str, Schema] = {
    "id": STRING,
    "name": STRING,
    "category": STRING,
    "description": STRING,
    "tags": STRINGS,
    "min_vram_gb": nullable(NUMBER),
    "custom_nodes": STRINGS,
    "workflows": STRINGS,
    "origin": {"type": "string", "enum": ["curated", "template", "user"]},
    "template": nullable(STRING),
    "file_count": INT,
    "total_size": {"type": ["integer", "null"], "description": "exact bytes of all files; null while any file's "
                   "exact size is unknown"},
    "size": {"type": ["integer", "null"], "description": "bytes of all files: exact, or an estimate when "
             "`size_estimated` (templates index totals, see docs/architecture.md)"},
    "size_estimated": BOOL,
    "vram_gb": {"type": ["number", "null"], "description": "`min_vram_gb`, else estimated from the files' sizes "
                "(`vram_estimated`)"},
    "vram_estimated": BOOL,
    "min_comfyui": {"type": ["string", "null"], "description": "the lowest ComfyUI its workflows run on"},
    "comfyui_ok": {"type": ["boolean", "null"], "description": "whether the running ComfyUI is recent enough; "
                   "null when its version is unknown (standalone)"},
    "comfyui_need": {"type": ["string", "null"], "description": "\"needs ComfyUI 0.16.4+\", with \", this is "
                     "0.3.64\" inside an older one; null when nothing needs saying"},
    "usage": {"type": ["integer", "null"], "description": "how often its workflows were used (templates index)"},
    "state": {"type": "string", "enum": ["installed", "partial", "missing"]},
    "files_installed": INT,
    "bytes_installed": INT,
    "progress": {"type": ["object", "null"]},
}
COMPONENTS["PresetSummary"] = obj(_PRESET_FIELDS)

COMPONENTS["PresetFile"] = obj(
    {
        "key": STRING,
        "folder": STRING,
        "name": STRING,
        "source": ref("Source"),
        "size": nullable(INT),
        "sha256": nullable(STRING),
        "expected_size": nullable(INT),
        "size_estimated": BOOL,
        "size_basis": {"type": ["string", "null"],
                       "enum": ["catalog", "source", "listed", "templates", "share", "folder", None]},
        "state": {"type": "string", "enum": ["installed", "unverified", "partial", "wrong_size", "missing"]},
        "verified": BOOL,
        "path": nullable(STRING),
        "bytes_on_disk": INT,
        "model_id": nullable(STRING),
        "used_by": STRINGS,
        "job": {"type": ["object", "null"]},
        "pickle": BOOL,
    }
)

COMPONENTS["PresetDetail"] = obj(
    {**_PRESET_FIELDS, "files": array(ref("PresetFile")), "comfyui_version": nullable(STRING),
     "comfyui_note": nullable(STRING)}
)

COMPONENTS["PresetSources"] = obj(
    {
        "curated": obj({"dir": STRING, "presets": INT}),
        "templates": {"type": ["object", "null"], "properties": {
            "dir": STRING, "package": nullable(STRING), "version": nullable(STRING), "templates": INT,
            "presets": INT, "folded": INT}},
        "user": obj({"dir": nullable(STRING), "files": STRINGS, "presets": INT}),
    }
)

COMPONENTS["CatalogWarning"] = obj(
    {"file": STRING, "preset": nullable(STRING), "field": nullable(STRING), "message": STRING}
)

COMPONENTS["Pod"] = obj(
    {
        "pod": {"type": "string", "description": "RUNPOD_POD_ID, else the host name"},
        "host": STRING,
        "process": INT,
        "kind": {"type": "string", "description": "comfyui, standalone (launchpad serve) or provision"},
        "this_pod": {"type": "boolean", "description": "the pod answering this request"},
        "serves": array(STRING, description="why it uses the file: `preset ID`, `lock NAME`"),
    },
    required=("pod", "host", "process", "kind", "this_pod"),
)

COMPONENTS["Model"] = obj(
    {
        "id": {"type": "string", "pattern": r"^[0-9a-f]{24}$"},
        "folder": STRING,
        "name": STRING,
        "path": STRING,
        "size": INT,
        "mtime": NUMBER,
        "presets": STRINGS,
        "pickle": BOOL,
        "pods": array(ref("Pod"), description="live pods on this volume whose lease names the file (listings)"),
    },
    required=("id", "folder", "name", "path", "size", "mtime", "presets", "pickle"),
)

_SHA256 = {"type": ["string", "null"], "pattern": r"^[0-9a-f]{64}$"}
COMPONENTS["LockedFile"] = obj(
    {
        "folder": STRING,
        "name": STRING,
        "source": {
            "description": "one of: Hugging Face (hf, revision, commit it resolved to, path), Civitai "
            "(civitai: model version id, optional query), or a url",
            "anyOf": [
                obj({"hf": STRING, "revision": STRING, "commit": {"type": ["string", "null"],
                     "pattern": r"^[0-9a-f]{40}$"}, "path": STRING}),
                obj({"civitai": INT, "query": STRING}, required=("civitai",)),
                obj({"url": STRING}),
            ],
        },
        "size": nullable(INT),
        "sha256": _SHA256,
    }
)
COMPONENTS["ModelsLock"] = obj(
    {
        "format": {"type": "string", "enum": ["launchpad.models-lock"]},
        "version": {"type": "integer", "enum": [1]},
        "made_from": obj({"presets": STRINGS, "workflows": STRINGS, "installed": BOOL}),
        "files": array(ref("LockedFile")),
    }
)

COMPONENTS["DownloadSnapshot"] = obj(
    {
        "jobs": array(ref("Job")),
        "presets": {"type": "object", "additionalProperties": ref("PresetProgress")},
        # when the snapshot was read: a job updated after it may be missing (its event is newer)
        "taken_at": NUMBER,
    }
)

COMPONENTS["QueueItem"] = obj(
    {"number": NUMBER, "prompt_id": STRING, "node_count": INT, "client_id": nullable(STRING),
     "workflow_id": nullable(STRING), "queued_at": nullable(NUMBER), "seen_at": NUMBER}
)

COMPONENTS["SystemReading"] = obj(
    {
        "time": NUMBER,
        "cpu": {"type": ["object", "null"]},
        "memory": {"type": ["object", "null"]},
        "gpu": {"type": "object", "properties": {"devices": array(ANY_OBJECT), "reason": nullable(STRING)}},
        "disks": array(ANY_OBJECT),
        "versions": {"type": "object", "additionalProperties": STRING},
        "versions_line": {"type": "string", "description": "\"ComfyUI 0.3.64 · frontend 1.27.10 · Launchpad ...\""},
    },
    required=("time", "cpu", "memory", "gpu", "disks", "versions", "versions_line"),
    closed=False,
)

COMPONENTS["ModelCandidate"] = obj(
    {
        "id": {"type": "string", "description": "names this source in an install's `choices`"},
        "origin": {"type": "string", "enum": list(ORIGINS)},
        "certainty": {"type": "string", "enum": list(CERTAINTIES),
                      "description": "hash: the source states the workflow's hash; exact: the same file name in a "
                      "source that knows the file; name: only the name matches (asked first)"},
        "where": STRING,
        "label": {"type": "string", "description": "where, how sure and how big, for people"},
        "found_as": nullable(STRING),
        "source": ANY_OBJECT,
        "size": nullable(INT),
        "size_estimated": BOOL,
        "sha256": nullable(STRING),
        "presets": STRINGS,
        "installable": BOOL,
        "reason": STRING,
    }
)

COMPONENTS["WorkflowModel"] = obj(
    {
        "key": STRING,
        "folder": STRING,
        "name": STRING,
        "state": {"type": "string", "enum": ["present", "missing", "unknown"]},
        "path": nullable(STRING),
        # the nodes that want it: UI-format ids are numbers, API-format ids strings
        "nodes": array(obj({"id": {"type": ["integer", "string", "null"]}, "type": nullable(STRING), "muted": BOOL})),
        "optional": BOOL,
        "origin": {"type": ["string", "null"], "enum": [*ORIGINS, None]},
        "presets": STRINGS,
        "source": {"type": ["object", "null"]},
        "size": nullable(INT),
        "size_estimated": BOOL,
        "installable": BOOL,
        "reason": STRING,
        "job": {"type": ["object", "null"]},
        "hash": nullable(STRING),
        "certainty": {"type": ["string", "null"], "enum": [*CERTAINTIES, None]},
        "confirm": {"type": "boolean", "description": "the best source is only a name match: ask before installing"},
        "choice": {"type": ["string", "null"], "description": "the id of the candidate chosen as its source"},
        "candidates": array(ref("ModelCandidate")),
    }
)

COMPONENTS["WorkflowSummary"] = obj(
    {
        "needed": INT,
        "present": INT,
        "missing": INT,
        "unknown": INT,
        "optional": INT,
        "installable": INT,
        "to_confirm": INT,
        "bytes_present": INT,
        "bytes_missing": INT,
        "sizes_unknown": INT,
        "sizes_estimated": INT,
        "min_comfyui": {"type": ["string", "null"], "description": "the ComfyUI the workflow needs, when its name "
                        "is a template's that the templates index or the presets listing it tell"},
        "comfyui_ok": {"type": ["boolean", "null"], "description": "whether the running ComfyUI is recent enough; "
                       "null when either version is unknown"},
        "comfyui_need": {"type": ["string", "null"], "description": "\"needs ComfyUI 0.16.4+\", with \", this is "
                         "0.3.64\" inside an older one; null when nothing needs saying"},
        "headline": STRING,
        "install_label": {"type": "string", "description": "\"Install 2 missing (~1.2 GB)\": `~` for an estimate"},
        "command": {"type": "string", "description": "the `launchpad workflow` command that installs these models "
                    "on another pod, from the saved file"},
    }
)
