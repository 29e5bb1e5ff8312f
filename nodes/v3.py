"""The nodes in the node API current ComfyUI recommends (V3, ``comfy_api.latest``; docs/comfyui-facts.md, Nodes).

:func:`build` is called only where ComfyUI already loaded ``comfy_api.latest`` (this module
itself imports without ComfyUI). The classes go into ``NODE_CLASS_MAPPINGS`` like V1 ones:
ComfyUI registers V3 classes in the same table. The work is in runtime.py.
"""

from __future__ import annotations

from . import runtime


def build() -> dict[str, type]:
    """The V3 node classes, by node id."""
    from comfy_api.latest import io

    class LaunchpadModel(io.ComfyNode):
        @classmethod
        def define_schema(cls) -> io.Schema:  # called for every /object_info: the lists follow the catalog
            return io.Schema(
                node_id="LaunchpadModel",
                display_name="Launchpad Model",
                category=runtime.CATEGORY,
                description=runtime.MODEL_DESCRIPTION,
                inputs=[
                    io.Combo.Input("model", options=runtime.model_choices(), default=runtime.CHOOSE_MODEL,
                                   tooltip=runtime.MODEL_TOOLTIP),
                    io.Combo.Input("preset", options=runtime.preset_choices(), default=runtime.ANY_PRESET,
                                   optional=True, tooltip=runtime.PRESET_TOOLTIP),
                ],
                # "*": loaders' model inputs are COMBOs whose type is their file list (see v1.AnyType)
                outputs=[io.AnyType.Output("name", display_name="name", tooltip=runtime.NAME_TOOLTIP),
                         io.String.Output("path", display_name="path", tooltip=runtime.PATH_TOOLTIP)],
            )

        @classmethod
        def validate_inputs(cls, model: str, preset: str = runtime.ANY_PRESET) -> bool | str:
            return runtime.validate_model(model, preset)

        @classmethod
        def fingerprint_inputs(cls, model: str, preset: str = runtime.ANY_PRESET) -> str:
            return runtime.fingerprint(model, preset)

        @classmethod
        def execute(cls, model: str, preset: str = runtime.ANY_PRESET) -> io.NodeOutput:
            return io.NodeOutput(*runtime.run_model(model, preset))

    class LaunchpadEnsurePreset(io.ComfyNode):
        @classmethod
        def define_schema(cls) -> io.Schema:
            return io.Schema(
                node_id="LaunchpadEnsurePreset",
                display_name="Launchpad Ensure Preset",
                category=runtime.CATEGORY,
                description=runtime.PRESET_DESCRIPTION,
                inputs=[io.Combo.Input("preset", options=runtime.preset_choices(first=runtime.CHOOSE_PRESET),
                                       default=runtime.CHOOSE_PRESET, tooltip=runtime.ENSURE_TOOLTIP)],
                outputs=[io.String.Output("summary", display_name="summary")],
                is_output_node=True,  # it has work to do even when nothing is connected to it
            )

        @classmethod
        def validate_inputs(cls, preset: str) -> bool | str:
            return runtime.validate_preset(preset)

        @classmethod
        def execute(cls, preset: str) -> io.NodeOutput:
            return io.NodeOutput(runtime.run_preset(preset))

    for node in (LaunchpadModel, LaunchpadEnsurePreset):
        node.GET_SCHEMA()  # a schema this ComfyUI rejects fails here, so the V1 nodes take over
    return {"LaunchpadModel": LaunchpadModel, "LaunchpadEnsurePreset": LaunchpadEnsurePreset}
