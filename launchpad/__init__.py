"""Launchpad's core: catalog, downloads, workspace and model paths, system status, events.

Nothing in this package imports ComfyUI; the ComfyUI entry (../__init__.py) and the HTTP
layer (../server_routes) sit on top of it. Subpackages import each other relatively so the
package works both as ``comfyui_launchpad.launchpad`` and under the path-like module name
ComfyUI gives custom nodes.
"""

__version__ = "0.1.0"
