"""The models lock format (docs/lockfile.md): what is written, and what is refused when read."""

from __future__ import annotations

import json

import pytest

from lp.launchpad.catalog import CivitaiSource, HFSource, UrlSource
from lp.launchpad.lock import FORMAT, LockedFile, LockInvalid, ModelsLock, parse, read

COMMIT = "0123456789abcdef0123456789abcdef01234567"
SHA = "ab" * 32


def sample() -> ModelsLock:
    return ModelsLock(
        (
            LockedFile("vae", "v.safetensors", UrlSource("https://example.com/v.safetensors"), None, 10, None),
            LockedFile("checkpoints", "sub/m.safetensors", HFSource("acme/model", "split/m.safetensors", "main"),
                       COMMIT, 1234, SHA),
            LockedFile("loras", "l.safetensors", CivitaiSource(4242, "type=Model&fp=fp16"), None, None, None),
        ),
        presets=("P",),
    )


def test_written_sorted_and_stable_and_read_back_equal(tmp_path):
    text = sample().to_json()
    again = ModelsLock(tuple(reversed(sample().files)), presets=("P",)).to_json()
    assert text == again  # the same set gives the same bytes, whatever the order it was found in
    data = json.loads(text)
    assert data["format"] == FORMAT and data["version"] == 1
    assert [f["folder"] for f in data["files"]] == ["checkpoints", "loras", "vae"]
    assert data["files"][0]["source"] == {"hf": "acme/model", "revision": "main", "commit": COMMIT,
                                          "path": "split/m.safetensors"}
    assert data["files"][1]["source"] == {"civitai": 4242, "query": "type=Model&fp=fp16"}
    path = tmp_path / "models.lock.json"
    path.write_text(text)
    lock = read(path)
    assert sorted(lock.files, key=lambda f: f.key) == sorted(sample().files, key=lambda f: f.key)
    assert lock.presets == ("P",)


def test_downloads_are_pinned_to_the_commit():
    hf = sample().files[1]
    assert hf.model_file().source == HFSource("acme/model", "split/m.safetensors", COMMIT)
    assert hf.model_file().sha256 == SHA and hf.model_file().size == 1234
    unpinned = LockedFile("vae", "x.safetensors", HFSource("a/b", "x.safetensors", "v1.0"))
    assert unpinned.model_file().source.revision == "v1.0"


def entry(**changes):
    base = {"folder": "checkpoints", "name": "m.safetensors",
            "source": {"hf": "acme/model", "revision": "main", "commit": COMMIT, "path": "m.safetensors"},
            "size": 1, "sha256": SHA}
    base.update(changes)
    return base


def lock_data(*files, **top):
    return {"format": FORMAT, "version": 1, "files": list(files), **top}


@pytest.mark.parametrize(
    ("data", "field", "says"),
    [
        ({"format": "something", "version": 1, "files": []}, "format", "launchpad.models-lock"),
        (lock_data(version=2), "version", "newer Launchpad"),
        (lock_data(extra=1), "extra", "unknown field"),
        (lock_data(entry(sha256="AB" * 32)), "files[0].sha256", "64 lowercase"),
        (lock_data(entry(size=-1)), "files[0].size", "number of bytes"),
        (lock_data(entry(size=True)), "files[0].size", "number of bytes"),
        (lock_data(entry(folder="nope")), "files[0].folder", "not a model folder"),
        (lock_data(entry(name="../../etc/passwd")), "files[0].name", "'..'"),
        (lock_data(entry(source={"hf": "acme/model", "commit": "main", "path": "m"})), "files[0].source.commit",
         "40-digit"),
        (lock_data(entry(source={"hf": "acme/model", "url": "https://x"})), "files[0].source", "exactly one"),
        (lock_data(entry(source={"url": "file:///etc/passwd"})), "files[0].source.url", "http"),
        (lock_data(entry(source={"civitai": 12, "query": "token=abc"})), "files[0].source.query", "file choice"),
        (lock_data(entry(), entry()), "files[1]", "listed twice"),
        (lock_data(entry(weird=1)), "files[0].weird", "unknown field"),
    ],
)
def test_a_bad_lock_is_refused_naming_the_field(data, field, says):
    with pytest.raises(LockInvalid) as caught:
        parse(data)
    assert caught.value.details["field"] == field
    assert says in caught.value.message


def test_reading_names_the_file_and_what_to_do(tmp_path):
    with pytest.raises(Exception, match=r"no lock file at .*launchpad lock"):
        read(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("schema: 1\n")
    with pytest.raises(LockInvalid, match=r"bad.json is not valid JSON"):
        read(tmp_path / "bad.json")
    (tmp_path / "deep.json").write_text("[" * 100 + "]" * 100)
    with pytest.raises(LockInvalid, match="nested"):
        read(tmp_path / "deep.json")


def test_aliases_of_folders_are_read_as_their_folder():
    lock = parse(lock_data(entry(folder="clip")))
    assert lock.files[0].folder == "text_encoders"


def test_the_documented_example_is_a_valid_lock():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "lockfile.md").read_text()
    example = text.split("```json\n", 1)[1].split("```", 1)[0]
    lock = parse(json.loads(example))
    assert [f.source.kind for f in lock.files] == ["hf", "civitai", "url"]
