"""Integration tests against a real ComfyUI.

A package (this file) so that its conftest.py is imported as ``integration.conftest`` and
does not replace ``tests/conftest.py`` as the module ``conftest`` that tests import from.
"""
