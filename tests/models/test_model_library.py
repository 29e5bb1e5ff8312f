"""The model library on real directories: listing, ids, the mtime cache, paging, confined deletes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lp.launchpad.errors import Forbidden, InvalidInput, NotFound
from lp.launchpad.model_library import ModelLibrary, model_id
from lp.launchpad.model_roots import ModelRoots


def write(path: Path, size: int = 10) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    return path


def tree(root: Path) -> dict[str, int]:
    """Every file under ``root`` with its size (symlinks as links), to compare before and after."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = Path(dirpath, name)
            found[str(path.relative_to(root))] = path.lstat().st_size
    return found


@pytest.fixture
def models(tmp_path: Path) -> Path:
    base = tmp_path / "models"
    write(base / "checkpoints" / "sd15.safetensors", 100)
    write(base / "checkpoints" / "sdxl" / "base.safetensors", 200)
    write(base / "checkpoints" / "put_checkpoints_here", 0)
    write(base / "checkpoints" / ".hidden.safetensors", 5)
    write(base / "checkpoints" / "flux.safetensors.part", 50)
    write(base / "checkpoints" / "flux.safetensors.part.json", 20)  # its resume record
    write(base / "loras" / "detail.safetensors", 30)
    write(base / "clip" / "t5.safetensors", 40)
    (base / "vae").mkdir()
    return base


@pytest.fixture
def roots(models: Path) -> ModelRoots:
    return ModelRoots(
        {
            "checkpoints": (models / "checkpoints",),
            "loras": (models / "loras",),
            "text_encoders": (models / "text_encoders", models / "clip"),
            "vae": (models / "vae",),
        }
    )


def test_lists_every_model_file_with_folder_name_size_and_id(roots: ModelRoots, models: Path) -> None:
    listing = ModelLibrary(lambda: roots).scan()
    rows = [(e.folder, e.name, e.size) for e in listing.entries]
    assert rows == [
        ("checkpoints", "sd15.safetensors", 100),
        ("checkpoints", "sdxl/base.safetensors", 200),
        ("loras", "detail.safetensors", 30),
        ("text_encoders", "t5.safetensors", 40),  # found in the folder's second directory
    ]
    entry = listing.by_key["checkpoints/sdxl/base.safetensors"]
    assert entry.path == str(models / "checkpoints" / "sdxl" / "base.safetensors")
    assert entry.id == model_id(entry.path) and len(entry.id) == 24
    assert listing.partials == {"checkpoints/flux.safetensors": 50}
    assert listing.folders == ["checkpoints", "loras", "text_encoders", "vae"]


def test_ids_are_stable_across_instances(roots: ModelRoots) -> None:
    first = [e.id for e in ModelLibrary(lambda: roots).scan().entries]
    second = [e.id for e in ModelLibrary(lambda: roots).scan().entries]
    assert first == second and len(set(first)) == len(first)


def test_cache_is_reused_until_a_directory_changes(roots: ModelRoots, models: Path) -> None:
    library = ModelLibrary(lambda: roots)
    first = library.scan()
    assert library.scan() is first  # nothing changed: the same listing object
    write(models / "loras" / "new.safetensors", 7)
    second = library.scan()
    assert second is not first
    assert "loras/new.safetensors" in second.by_key
    (models / "checkpoints" / "sdxl" / "base.safetensors").unlink()  # a change in a subdirectory
    third = library.scan()
    assert "checkpoints/sdxl/base.safetensors" not in third.by_key
    (models / "checkpoints" / "sdxl").rmdir()
    assert "checkpoints/sdxl/base.safetensors" not in library.scan().by_key


def test_roots_are_reread_on_every_scan(roots: ModelRoots, tmp_path: Path) -> None:
    current = {"roots": roots}
    library = ModelLibrary(lambda: current["roots"])
    library.scan()
    extra = write(tmp_path / "extra" / "mine.safetensors")
    current["roots"] = ModelRoots({**roots.folders, "loras": (*roots.folders["loras"], extra.parent)})
    assert "loras/mine.safetensors" in library.scan().by_key


def test_query_filters_by_folder_and_words_and_pages(roots: ModelRoots) -> None:
    listing = ModelLibrary(lambda: roots).scan()
    page = ModelLibrary.query(listing, folder="checkpoints")
    assert [e.name for e in page.models] == ["sd15.safetensors", "sdxl/base.safetensors"]
    assert (page.total, page.total_bytes) == (2, 300)
    assert [e.name for e in ModelLibrary.query(listing, search="BASE sdxl").models] == ["sdxl/base.safetensors"]
    assert ModelLibrary.query(listing, search="nothing-like-this").total == 0
    paged = ModelLibrary.query(listing, offset=1, limit=2)
    assert [e.name for e in paged.models] == ["sdxl/base.safetensors", "detail.safetensors"]
    assert paged.total == 4


def test_directory_serving_two_folders_answers_for_both(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    write(shared / "model.safetensors")
    roots = ModelRoots({"checkpoints": (shared,), "diffusion_models": (shared,)})
    listing = ModelLibrary(lambda: roots).scan()
    assert len(listing.entries) == 1
    assert {"checkpoints/model.safetensors", "diffusion_models/model.safetensors"} <= set(listing.by_key)


def test_nested_root_is_listed_once_under_its_own_folder(tmp_path: Path) -> None:
    base = tmp_path / "models"
    write(base / "top.safetensors")
    write(base / "loras" / "l.safetensors")
    roots = ModelRoots({"checkpoints": (base,), "loras": (base / "loras",)})
    listing = ModelLibrary(lambda: roots).scan()
    assert [(e.folder, e.name) for e in listing.entries] == [
        ("checkpoints", "top.safetensors"),
        ("loras", "l.safetensors"),
    ]


def test_symlink_loop_does_not_hang(tmp_path: Path) -> None:
    base = tmp_path / "loras"
    write(base / "a.safetensors")
    (base / "loop").symlink_to(base, target_is_directory=True)
    listing = ModelLibrary(lambda: ModelRoots({"loras": (base,)})).scan()
    assert [e.name for e in listing.entries] == ["a.safetensors"]


def test_delete_by_id_removes_only_that_file(roots: ModelRoots, models: Path) -> None:
    library = ModelLibrary(lambda: roots)
    entry = library.scan().by_key["checkpoints/sd15.safetensors"]
    before = tree(models)
    deleted = library.delete(entry.id)
    assert deleted.path == entry.path
    after = tree(models)
    assert set(before) - set(after) == {"checkpoints/sd15.safetensors"}
    assert "checkpoints/sd15.safetensors" not in library.scan().by_key
    with pytest.raises(NotFound):
        library.delete(entry.id)


@pytest.mark.parametrize(
    "bad_id",
    ["", "../../etc/passwd", "abc", "0" * 23 + "\x00", "checkpoints/sd15.safetensors", "A" * 24, "0" * 25],
)
def test_malformed_ids_are_refused_and_touch_nothing(roots: ModelRoots, models: Path, bad_id: str) -> None:
    before = tree(models)
    with pytest.raises(InvalidInput):
        ModelLibrary(lambda: roots).delete(bad_id)
    assert tree(models) == before


def test_unknown_id_for_a_real_path_outside_the_roots_is_not_found(roots: ModelRoots, tmp_path: Path) -> None:
    outside = write(tmp_path / "elsewhere" / "precious.safetensors")
    with pytest.raises(NotFound):
        ModelLibrary(lambda: roots).delete(model_id(str(outside)))
    assert outside.exists()


def test_symlinked_file_leading_out_is_listed_but_not_deleted(roots: ModelRoots, models: Path, tmp_path: Path) -> None:
    outside = write(tmp_path / "elsewhere" / "precious.safetensors", 64)
    link = models / "loras" / "linked.safetensors"
    link.symlink_to(outside)
    library = ModelLibrary(lambda: roots)
    entry = library.scan().by_key["loras/linked.safetensors"]
    assert entry.size == 64
    with pytest.raises(Forbidden):
        library.delete(entry.id)
    assert link.is_symlink() and outside.read_bytes() == b"x" * 64


def test_file_in_symlinked_directory_leading_out_is_not_deleted(
    roots: ModelRoots, models: Path, tmp_path: Path
) -> None:
    outside = write(tmp_path / "elsewhere" / "deep" / "precious.safetensors")
    (models / "loras" / "external").symlink_to(outside.parent, target_is_directory=True)
    library = ModelLibrary(lambda: roots)
    entry = library.scan().by_key["loras/external/precious.safetensors"]
    with pytest.raises(Forbidden):
        library.delete(entry.id)
    assert outside.exists()


def test_symlink_inside_the_root_deletes_the_link_only(roots: ModelRoots, models: Path) -> None:
    target = models / "loras" / "detail.safetensors"
    (models / "loras" / "alias.safetensors").symlink_to(target)
    library = ModelLibrary(lambda: roots)
    library.delete(library.scan().by_key["loras/alias.safetensors"].id)
    assert not (models / "loras" / "alias.safetensors").exists() and target.exists()


def test_refuse_hook_vetoes_a_delete(roots: ModelRoots, models: Path) -> None:
    library = ModelLibrary(lambda: roots)
    entry = library.scan().by_key["loras/detail.safetensors"]

    def refuse(found: object) -> None:
        raise InvalidInput("busy")

    with pytest.raises(InvalidInput):
        library.delete(entry.id, refuse=refuse)
    assert Path(entry.path).exists()
