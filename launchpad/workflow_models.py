"""Which models a workflow needs, which are on disk, and where the missing ones can come from.

A workflow arrives in ComfyUI's UI format (``nodes`` with ``widgets_values`` and, on loaders
saved by recent frontends, ``properties.models`` entries with name, url and directory) or in
the API format (``{node_id: {"class_type", "inputs"}}``). Sources, in order of trust:

1. the model metadata the workflow carries (``properties.models``);
2. the catalog: a curated, template-derived or user preset listing the same folder and file;
3. nothing: the model is reported as unknown, with the loader node that wants it.

Launchpad's own "Launchpad Model" node names a catalog file (``folder/name``) and counts like a
loader. A loader whose model input is linked (fed by such a node) names no file itself.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from . import model_folders
from .catalog import Catalog, ModelFile
from .catalog.schema import PresetInvalid, parse_file
from .catalog.templates import model_entry_to_file_data
from .errors import InvalidInput, NotFound
from .files import unsafe_reason
from .model_roots import ModelRoots
from .url_policy import host_allowed

# Core loader nodes: their model inputs in widget order (the first widgets of each loader).
LOADERS: dict[str, tuple[tuple[str, str], ...]] = {
    "CheckpointLoaderSimple": (("ckpt_name", "checkpoints"),),
    "CheckpointLoader": (("config_name", "configs"), ("ckpt_name", "checkpoints")),
    "ImageOnlyCheckpointLoader": (("ckpt_name", "checkpoints"),),
    "unCLIPCheckpointLoader": (("ckpt_name", "checkpoints"),),
    "VAELoader": (("vae_name", "vae"),),
    "LoraLoader": (("lora_name", "loras"),),
    "LoraLoaderModelOnly": (("lora_name", "loras"),),
    "UNETLoader": (("unet_name", "diffusion_models"),),
    "CLIPLoader": (("clip_name", "text_encoders"),),
    "DualCLIPLoader": (("clip_name1", "text_encoders"), ("clip_name2", "text_encoders")),
    "TripleCLIPLoader": tuple((f"clip_name{i}", "text_encoders") for i in (1, 2, 3)),
    "QuadrupleCLIPLoader": tuple((f"clip_name{i}", "text_encoders") for i in (1, 2, 3, 4)),
    "CLIPVisionLoader": (("clip_name", "clip_vision"),),
    "ControlNetLoader": (("control_net_name", "controlnet"),),
    "DiffControlNetLoader": (("control_net_name", "controlnet"),),
    "UpscaleModelLoader": (("model_name", "upscale_models"),),
    "LatentUpscaleModelLoader": (("model_name", "latent_upscale_models"),),
    "StyleModelLoader": (("style_model_name", "style_models"),),
    "GLIGENLoader": (("gligen_name", "gligen"),),
    "HypernetworkLoader": (("hypernetwork_name", "hypernetworks"),),
    "PhotoMakerLoader": (("photomaker_model_name", "photomaker"),),
    "ModelPatchLoader": (("name", "model_patches"),),
    "AudioEncoderLoader": (("audio_encoder_name", "audio_encoders"),),
    "LTXVAudioVAELoader": (("ckpt_name", "checkpoints"),),
    "LTXAVTextEncoderLoader": (("text_encoder", "text_encoders"), ("ckpt_name", "checkpoints")),
    "FrameInterpolationModelLoader": (("model_name", "frame_interpolation"),),
    "OpticalFlowLoader": (("model_name", "optical_flow"),),
    "IPAdapterModelLoader": (("ipadapter_file", "ipadapter"),),
}
# Launchpad's nodes that name a catalog file: the input holding "folder/name"
LAUNCHPAD_NODES: dict[str, str] = {"LaunchpadModel": "model"}
MUTED_MODES = {2, 4}  # never / bypass: the node does not run until the user turns it back on


@dataclass
class NeededModel:
    folder: str
    name: str
    nodes: list[dict[str, object]] = field(default_factory=list)  # loader nodes that want it
    file: ModelFile | None = None  # where to get it, when known
    origin: str | None = None  # workflow | catalog | template
    presets: list[str] = field(default_factory=list)  # catalog presets that list this file
    state: str = "missing"  # present | missing | unknown
    path: str | None = None
    installable: bool = False
    reason: str = ""  # why it cannot be installed, when it cannot
    size: int | None = None  # bytes on disk when present, else what the source or catalog says
    size_estimated: bool = False  # ``size`` is the catalog's estimate (see catalog/sizes.py)

    @property
    def key(self) -> str:
        return f"{self.folder}/{self.name}"

    @property
    def optional(self) -> bool:
        """Only muted or bypassed nodes want it: the workflow runs without it as it stands."""
        return all(node.get("muted") for node in self.nodes)

    def to_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            "folder": self.folder,
            "name": self.name,
            "state": self.state,
            "path": self.path,
            "nodes": self.nodes,
            "optional": self.optional,
            "origin": self.origin,
            "presets": self.presets,
            "source": self.file.source.to_dict() if self.file else None,
            "size": self.size,
            "size_estimated": self.size_estimated,
            "installable": self.installable,
            "reason": self.reason,
        }


def _graphs(workflow: dict) -> Iterator[dict]:
    yield workflow
    definitions = workflow.get("definitions")
    if isinstance(definitions, dict):
        for graph in definitions.get("subgraphs") or []:
            if isinstance(graph, dict):
                yield graph


def _model_value(value: object) -> str | None:
    return value if isinstance(value, str) and value and unsafe_reason(value.replace("\\", "/")) is None else None


def _split_key(value: object) -> tuple[str, str] | None:
    """``"folder/name"`` as a Launchpad node names a file -> (canonical folder, name)."""
    if not isinstance(value, str) or "/" not in value:
        return None
    folder, name = value.split("/", 1)
    folder = model_folders.canonical(folder) or ""
    name = _model_value(name) or ""
    return (folder, name) if folder and name else None


def _linked_widgets(node: dict) -> set[str]:
    """Names of the widgets whose value comes through a link (the saved value is stale)."""
    linked = set()
    for slot in node.get("inputs") or []:
        widget = slot.get("widget") if isinstance(slot, dict) else None
        if isinstance(widget, dict) and slot.get("link") is not None:
            linked.add(str(widget.get("name")))
    return linked


def _from_ui(workflow: dict) -> Iterator[tuple[str, str, dict, dict | None]]:
    """(folder, name, node, metadata entry or None) for every model a UI-format graph names."""
    for graph in _graphs(workflow):
        for node in graph.get("nodes") or []:
            if not isinstance(node, dict):
                continue
            ref = {"id": node.get("id"), "type": node.get("type"), "muted": node.get("mode") in MUTED_MODES}
            properties = node.get("properties")
            if not isinstance(properties, dict):
                properties = {}
            entries = [e for e in properties.get("models") or [] if isinstance(e, dict)]
            named = set()
            for entry in entries:
                folder = model_folders.canonical(str(entry.get("directory") or ""))
                name = _model_value(entry.get("name"))
                if folder and name:
                    named.add(name)
                    yield folder, name, ref, entry
            widgets = node.get("widgets_values")
            if not isinstance(widgets, list):
                continue
            if node.get("type") in LAUNCHPAD_NODES and widgets:
                key = _split_key(widgets[0])
                if key:
                    yield *key, ref, None
                continue
            linked = _linked_widgets(node)
            for (input_name, folder), value in zip(LOADERS.get(str(node.get("type")), ()), widgets, strict=False):
                name = _model_value(value)  # extra widgets are options
                if name and name not in named and input_name not in linked:
                    yield folder, name, ref, None


def _from_api(prompt: dict) -> Iterator[tuple[str, str, dict, dict | None]]:
    for node_id, node in prompt.items():
        if not isinstance(node, dict):
            continue
        kind = str(node.get("class_type"))
        inputs = node.get("inputs")
        if not isinstance(inputs, dict):
            inputs = {}
        ref = {"id": node_id, "type": kind, "muted": False}
        if kind in LAUNCHPAD_NODES:
            key = _split_key(inputs.get(LAUNCHPAD_NODES[kind]))
            if key:
                yield *key, ref, None
            continue
        for input_name, folder in LOADERS.get(kind, ()):
            name = _model_value(inputs.get(input_name))  # a link ([node, slot]) names no file
            if name:
                yield folder, name, ref, None


def _link_problem(url: str, hosts: Sequence[str]) -> str | None:
    """Why a download link may not be used, or None: https only, to an allowed host (url_policy)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host_allowed(host, tuple(hosts)):
        return f"{host or url} is not an allowed download host ({', '.join(hosts)}); see ALLOWED_URL_HOSTS"
    if parts.scheme != "https":
        return f"the link to {host} is not https"
    return None


def named_models(workflow: object) -> Iterator[tuple[str, str, dict, dict | None]]:
    """(folder, name, node, metadata entry or None) for every model file ``workflow`` names, in
    the UI or the API format; InvalidInput when it is neither."""
    if not isinstance(workflow, dict):
        raise InvalidInput("a workflow must be a JSON object (UI format with `nodes`, or API format)")
    if isinstance(workflow.get("nodes"), list):
        return _from_ui(workflow)
    if workflow and all(isinstance(v, dict) and "class_type" in v for v in workflow.values()):
        return _from_api(workflow)
    raise InvalidInput("not a ComfyUI workflow: expected `nodes` (UI format) or nodes with `class_type` (API format)")


def analyze(workflow: object, catalog: Catalog, roots: ModelRoots, allowed_hosts: Sequence[str]) -> list[NeededModel]:
    """Every model ``workflow`` needs, with its state on disk and where a missing one can come from."""
    found = named_models(workflow)

    # file key -> (the catalog's file, presets listing it, the origins of those presets)
    catalog_files: dict[str, tuple[ModelFile, list[str], set[str]]] = {}
    for preset in catalog.presets.values():
        for model_file in preset.files:
            _, presets, origins = catalog_files.setdefault(model_file.key, (model_file, [], set()))
            presets.append(preset.id)
            origins.add(preset.origin)

    needed: dict[str, NeededModel] = {}
    for folder, name, node, entry in found:
        name = name.replace("\\", "/")
        model = needed.setdefault(f"{folder}/{name}", NeededModel(folder, name))
        if node not in model.nodes:
            model.nodes.append(node)
        if entry is not None and model.file is None:
            try:
                model.file = parse_file(model_entry_to_file_data(entry), "models")
                model.origin = "workflow"
            except PresetInvalid as exc:
                model.reason = f"the workflow's link for it is unusable: {exc.message}"

    for model in needed.values():
        known = catalog_files.get(model.key)
        if known:
            model.presets = sorted(known[1])
            if model.file is None:
                model.file = known[0]
                model.origin = "template" if known[2] == {"template"} else "catalog"
            else:  # the file on disk is the catalog's too: it must pass the catalog's checks
                model.file = with_catalog_checks(model.file, known[0])
        model.size = (model.file.size if model.file else None) or (known[0].size if known else None)
        figure = catalog.figures.get(model.key)
        if model.size is None and figure is not None:  # the sources' answer, else the catalog's estimate
            model.size, model.size_estimated = figure.bytes, figure.estimated
        found_path = roots.find(model.folder, model.name)
        if found_path is not None:
            model.state, model.path = "present", str(found_path)
            with contextlib.suppress(OSError):  # vanished meanwhile: its size stays unknown
                model.size, model.size_estimated = found_path.stat().st_size, False
            continue
        if model.file is None:
            model.state = "unknown"
            model.reason = model.reason or "no download link in the workflow and no catalog preset lists this file"
            continue
        model.state = "missing"
        problem = _link_problem(model.file.source.url, allowed_hosts)
        model.installable = problem is None
        model.reason = problem or ""
    return sorted(needed.values(), key=lambda m: (m.state != "missing", m.state, m.key))



def with_catalog_checks(model_file: ModelFile, catalog_file: ModelFile) -> ModelFile:
    """``model_file`` (a workflow's link) with the sha256 and exact size the catalog states for the
    same file; presets listing it verify it by these, so every install of it does."""
    return replace(
        model_file,
        sha256=catalog_file.sha256 or model_file.sha256,
        size=catalog_file.size if catalog_file.size is not None else model_file.size,
        estimated_size=catalog_file.estimated_size,
    )


@dataclass
class InstallPlan:
    """What installing a workflow's models does with each one it was asked about."""

    todo: list[ModelFile]  # missing and installable: queued
    present: list[str]  # keys already on disk
    refused: list[dict[str, object]]  # missing but not installable, with the reason


def plan_install(models: Sequence[NeededModel], keys: Sequence[str] | None, optional: bool) -> InstallPlan:
    """The analysed ``models`` an install takes: those named in ``keys``, else every one except the
    models of muted or bypassed nodes (unless ``optional``). NotFound names keys the workflow lacks."""
    by_key = {model.key: model for model in models}
    if keys:
        strangers = [key for key in keys if key not in by_key]
        if strangers:  # names a model that is not in this workflow: nothing to find
            raise NotFound(f"the workflow does not need {', '.join(strangers[:5])}", details={"keys": strangers})
        chosen = [by_key[key] for key in dict.fromkeys(keys)]
    else:
        chosen = [m for m in models if optional or not m.optional]
    return InstallPlan(
        todo=[m.file for m in chosen if m.state == "missing" and m.installable and m.file is not None],
        present=[m.key for m in chosen if m.state == "present"],
        refused=[{"key": m.key, "state": m.state, "reason": m.reason}
                 for m in chosen if m.state != "present" and not m.installable],
    )


def summarize(models: Sequence[NeededModel]) -> dict[str, int]:
    """Counts by state, and the bytes an install of every installable missing model would take."""
    counts = {state: sum(m.state == state for m in models) for state in ("present", "missing", "unknown")}
    todo = [m for m in models if m.state == "missing" and m.installable]
    return {
        "needed": len(models),
        **counts,
        "optional": sum(m.optional for m in models),
        "installable": len(todo),
        "bytes_present": sum(m.size or 0 for m in models if m.state == "present"),
        "bytes_missing": sum(m.size or 0 for m in todo),
        "sizes_unknown": sum(m.size is None for m in todo),
        "sizes_estimated": sum(m.size is not None and m.size_estimated for m in todo),
    }


def group_label(name: str | None) -> str:
    """The download group for a workflow's files: ``workflow:<name>`` with a safe, short name."""
    stem = re.sub(r"\.json$", "", (name or "").strip(), flags=re.IGNORECASE)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("_.-")[:64]
    return f"workflow:{slug or 'untitled'}"
