"""Which models a workflow needs, which are on disk, and where the missing ones can come from.

A workflow arrives in ComfyUI's UI format (``nodes`` with ``widgets_values`` and, on loaders
saved by recent frontends, ``properties.models`` entries with name, url and directory) or in
the API format (``{node_id: {"class_type", "inputs"}}``). Sources, in order of trust:

1. the model metadata the workflow carries (``properties.models``);
2. the catalog: a curated, template-derived or user preset listing the same folder and file;
3. nothing: the model is reported as unknown, with the loader node that wants it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from . import model_folders
from .catalog import Catalog, ModelFile
from .catalog.schema import PresetInvalid, parse_file
from .catalog.templates import model_entry_to_file_data
from .errors import InvalidInput
from .files import unsafe_reason
from .model_roots import ModelRoots

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
            "size": self.file.size if self.file else None,
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


def _from_ui(workflow: dict) -> Iterator[tuple[str, str, dict, dict | None]]:
    """(folder, name, node, metadata entry or None) for every model a UI-format graph names."""
    for graph in _graphs(workflow):
        for node in graph.get("nodes") or []:
            if not isinstance(node, dict):
                continue
            ref = {"id": node.get("id"), "type": node.get("type"), "muted": node.get("mode") in MUTED_MODES}
            properties = node.get("properties") if isinstance(node.get("properties"), dict) else {}
            entries = [e for e in properties.get("models") or [] if isinstance(e, dict)]
            named = set()
            for entry in entries:
                folder = model_folders.canonical(str(entry.get("directory") or ""))
                name = _model_value(entry.get("name"))
                if folder and name:
                    named.add(name)
                    yield folder, name, ref, entry
            widgets = node.get("widgets_values")
            spec = LOADERS.get(str(node.get("type")))
            if spec and isinstance(widgets, list):
                for (_, folder), value in zip(spec, widgets, strict=False):  # extra widgets are options
                    name = _model_value(value)
                    if name and name not in named:
                        yield folder, name, ref, None


def _from_api(prompt: dict) -> Iterator[tuple[str, str, dict, dict | None]]:
    for node_id, node in prompt.items():
        if not isinstance(node, dict):
            continue
        spec = LOADERS.get(str(node.get("class_type")))
        inputs = node.get("inputs") if isinstance(node.get("inputs"), dict) else {}
        for input_name, folder in spec or ():
            name = _model_value(inputs.get(input_name))
            if name:
                yield folder, name, {"id": node_id, "type": node.get("class_type"), "muted": False}, None


def _host_allowed(url: str, hosts: Sequence[str]) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return any(host == allowed or host.endswith("." + allowed) for allowed in hosts)


def analyze(workflow: object, catalog: Catalog, roots: ModelRoots, allowed_hosts: Sequence[str]) -> list[NeededModel]:
    """Every model ``workflow`` needs, with its state on disk and where a missing one can come from."""
    if not isinstance(workflow, dict):
        raise InvalidInput("a workflow must be a JSON object (UI format with `nodes`, or API format)")
    if isinstance(workflow.get("nodes"), list):
        found = _from_ui(workflow)
    elif workflow and all(isinstance(v, dict) and "class_type" in v for v in workflow.values()):
        found = _from_api(workflow)
    else:
        raise InvalidInput(
            "not a ComfyUI workflow: expected `nodes` (UI format) or nodes with `class_type` (API format)"
        )

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
        found_path = roots.find(model.folder, model.name)
        if found_path is not None:
            model.state, model.path = "present", str(found_path)
            continue
        if model.file is None:
            model.state = "unknown"
            model.reason = model.reason or "no download link in the workflow and no catalog preset lists this file"
            continue
        model.state = "missing"
        url = model.file.source.url
        if _host_allowed(url, allowed_hosts):
            model.installable = True
        else:
            model.reason = f"{urlsplit(url).hostname} is not an allowed download host ({', '.join(allowed_hosts)})"
    return sorted(needed.values(), key=lambda m: (m.state != "missing", m.state, m.key))

