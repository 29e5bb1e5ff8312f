"""ComfyUI nodes that call the core. Empty for now; ComfyUI still needs the mapping to exist."""

NODE_CLASS_MAPPINGS: dict[str, type] = {}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
