"""The version of the frontend ComfyUI serves, read from the directory it serves (its web root):
the installed package's, another environment's package, a release ComfyUI downloaded, or a
directory that does not say. (ComfyUI serving its installed package: tests/integration.)"""

from __future__ import annotations

from pathlib import Path

from lp.server_routes.frontend_version import UNKNOWN, served_version


def static_dir(parent: Path) -> Path:
    static = parent / "static"
    static.mkdir(parents=True)
    (static / "index.html").write_text("<!doctype html>")
    return static


def test_a_frontend_package_in_another_environment(tmp_path: Path) -> None:
    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    static = static_dir(site / "comfyui_frontend_package")
    (site / "comfyui_frontend_package-1.58.1.dist-info").mkdir()
    assert served_version(static) == "1.58.1"


def test_a_release_comfyui_downloaded_with_front_end_version(tmp_path: Path) -> None:
    release = tmp_path / "ComfyUI" / "web_custom_versions" / "Comfy-Org_ComfyUI_frontend" / "1.30.2"
    release.mkdir(parents=True)
    assert served_version(release) == "1.30.2"


def test_an_unpacked_wheel_named_for_its_version(tmp_path: Path) -> None:
    assert served_version(static_dir(tmp_path / "comfyui-frontend-1.58.1")) == "1.58.1"


def test_a_directory_that_does_not_say_is_reported_as_custom(tmp_path: Path) -> None:
    assert served_version(static_dir(tmp_path / "my-frontend-build")) == UNKNOWN
    # a Python's version higher up the path is not the frontend's
    assert served_version(static_dir(tmp_path / "versions" / "3.11.7" / "share" / "my-build" / "web")) == UNKNOWN

