"""The HTTP layer: thin aiohttp handlers over the core, mounted on ComfyUI's PromptServer or
on the standalone app of ``launchpad serve``."""
