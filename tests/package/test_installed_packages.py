"""The pip-installed package (the `launchpad` command, the image's venv) carries every subpackage:
setuptools installs only those pyproject lists, and a missing one fails only after install."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOT_SHIPPED = ("tests", "docker", "benchmarks")


def test_pyproject_lists_every_subpackage_of_the_pack() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+ (CI's Python)
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for init in ROOT.rglob("__init__.py"):
        parts = init.parent.relative_to(ROOT).parts
        if parts and (parts[0] in NOT_SHIPPED or parts[0].startswith(".")):
            continue
        found.add(".".join(("comfyui_launchpad", *parts)))
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert listed - found == set(), "pyproject lists packages that do not exist"
