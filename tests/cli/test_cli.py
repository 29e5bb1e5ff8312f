"""The `launchpad` command line: readable output, --json, exit codes that mean something."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import cli_argv
from lp.launchpad.cli.main import COMMANDS, build_parser, main

PRESET = """
schema: 1
presets:
  - id: TINY
    name: Tiny test preset
    category: image
    description: two small files
    files:
      - folder: checkpoints
        name: tiny.safetensors
        url: https://example.com/tiny.safetensors
        size: 4
      - folder: vae
        name: tiny_vae.safetensors
        url: https://example.com/tiny_vae.safetensors
"""


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def user_preset(workspace_dir: Path) -> Path:
    path = workspace_dir / "config" / "presets" / "mine.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(PRESET)
    return path


def test_presets_lists_and_filters(capsys: pytest.CaptureFixture[str], workspace_dir: Path, user_preset: Path) -> None:
    code, out, _ = run(capsys, "presets", "--workspace", str(workspace_dir), "--search", "tiny test")
    assert code == 0
    assert "TINY" in out and "Tiny test preset" in out and "missing" in out
    code, out, _ = run(capsys, "presets", "--workspace", str(workspace_dir), "--category", "video", "--json")
    data = json.loads(out)
    assert code == 0 and data["warnings"] == []
    assert data["presets"] and all(p["category"] == "video" for p in data["presets"])
    assert "TINY" not in {p["id"] for p in data["presets"]}


def test_presets_show_reports_per_file_state(
    capsys: pytest.CaptureFixture[str], workspace_dir: Path, user_preset: Path
) -> None:
    target = workspace_dir / "models" / "checkpoints" / "tiny.safetensors"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"1234")
    code, out, _ = run(capsys, "presets", "show", "TINY", "--workspace", str(workspace_dir), "--json")
    data = json.loads(out)
    assert code == 0 and data["state"] == "partial"
    assert [f["state"] for f in data["files"]] == ["installed", "missing"]
    code, out, _ = run(capsys, "presets", "show", "TINY", "--workspace", str(workspace_dir))
    assert "installed  checkpoints/tiny.safetensors  (4 B)" in out
    # no size listed and no template total covers it: a typical size for its folder, marked as an estimate
    assert re.search(r"missing    vae/tiny_vae\.safetensors  \(~\d+\.\d MB typical for vae\)", out)
    assert re.search(r"^  total size: ~\d+\.\d MB \(estimated: 1 file of 2 without an exact size\), VRAM: ~2 GB$",
                     out, re.MULTILINE)
    code, out, _ = run(capsys, "presets", "--installed", "--workspace", str(workspace_dir), "--json")
    assert "TINY" not in {p["id"] for p in json.loads(out)["presets"]}
    (workspace_dir / "models" / "vae").mkdir(parents=True)
    (workspace_dir / "models" / "vae" / "tiny_vae.safetensors").write_bytes(b"v")
    code, out, _ = run(capsys, "presets", "--installed", "--workspace", str(workspace_dir), "--json")
    assert [p["id"] for p in json.loads(out)["presets"]] == ["TINY"]


def test_unknown_preset_exits_5_with_a_hint(capsys: pytest.CaptureFixture[str], workspace_dir: Path) -> None:
    code, out, err = run(capsys, "presets", "show", "NOPE", "--workspace", str(workspace_dir))
    assert code == 5 and out == ""
    assert "unknown preset 'NOPE'" in err and "launchpad presets" in err


def test_malformed_user_preset_names_file_and_field_and_exits_4(
    capsys: pytest.CaptureFixture[str], workspace_dir: Path, user_preset: Path
) -> None:
    bad = user_preset.parent / "broken.yaml"
    bad.write_text(PRESET.replace("TINY", "BROKEN").replace("folder: vae", "folder: lora"))
    code, out, err = run(capsys, "presets", "--workspace", str(workspace_dir))
    assert code == 4
    assert str(bad) in err and "BROKEN" in err and "files[1].folder" in err
    assert "TINY" in out and "WAN_22_5B_TIV2" in out  # the rest still loads


def test_paths_and_comfy_args(
    capsys: pytest.CaptureFixture[str], workspace_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMFYUI_DATABASE_DIR", str(tmp_path / "local"))
    code, out, _ = run(capsys, "paths", "--workspace", str(workspace_dir))
    assert code == 0 and out.startswith(f"wrote {workspace_dir}/config/extra_model_paths.yaml")
    code, out, _ = run(capsys, "paths", "--workspace", str(workspace_dir), "--json")
    assert json.loads(out)["changed"] is False
    code, out, _ = run(capsys, "comfy-args", "--workspace", str(workspace_dir), "--json")
    flags = json.loads(out)
    assert flags[:2] == ["--extra-model-paths-config", f"{workspace_dir}/config/extra_model_paths.yaml"]
    code, lines, _ = run(capsys, "comfy-args", "--workspace", str(workspace_dir), "--lines")
    assert lines.splitlines() == flags
    # the database is named for the port ComfyUI listens on, and its directory exists
    database = Path(flags[flags.index("--database-url") + 1].removeprefix("sqlite:///"))
    assert database.parent == tmp_path / "local" and database.parent.is_dir()
    code, out, _ = run(capsys, "comfy-args", "--workspace", str(workspace_dir), "--port", "8190", "--json")
    other = json.loads(out)
    assert other[other.index("--database-url") + 1] != f"sqlite:///{database}"


def test_comfy_args_says_what_to_do_when_the_database_directory_cannot_be_made(
    capsys: pytest.CaptureFixture[str], workspace_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "file").write_text("not a directory")
    monkeypatch.setenv("COMFYUI_DATABASE_DIR", str(tmp_path / "file" / "db"))
    code, out, err = run(capsys, "comfy-args", "--workspace", str(workspace_dir))
    assert code != 0 and out == ""
    assert "COMFYUI_DATABASE_DIR" in err and "Traceback" not in err


@pytest.fixture
def readonly_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory on a read-only file system: a read-only tmpfs where we may mount one."""
    target = tmp_path / "ro"
    target.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(target)],
                             capture_output=True).returncode == 0
    if not mounted:
        target.chmod(0o555)
        probe = target / "probe"
        try:
            probe.write_text("x")
        except OSError:
            pass
        else:
            probe.unlink()
            pytest.skip("cannot make a read-only directory here (root without mount rights)")
    yield target
    if mounted:
        subprocess.run(["umount", str(target)], check=True)


def test_read_only_volume_is_a_clear_error(capsys: pytest.CaptureFixture[str], readonly_dir: Path) -> None:
    code, out, err = run(capsys, "paths", "--workspace", str(readonly_dir))
    assert code == 3
    assert "not writable" in err and "WORKSPACE_ROOT" in err and "Traceback" not in err
    code, out, err = run(capsys, "doctor", "--workspace", str(readonly_dir))
    assert code == 3 and "[FAIL] writable" in out and "fix:" in out


def test_missing_volume_subprocess_no_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "not" / "mounted"
    for command in ("paths", "doctor"):
        proc = subprocess.run(cli_argv(command, "--workspace", str(missing)), capture_output=True, text=True)
        assert proc.returncode == 3, proc.stderr
        assert "Traceback" not in proc.stderr
        assert "does not exist" in proc.stdout + proc.stderr
    assert not missing.exists()  # nothing created on the wrong disk


def test_doctor_json_on_a_good_workspace(capsys: pytest.CaptureFixture[str], workspace_dir: Path) -> None:
    run(capsys, "paths", "--workspace", str(workspace_dir))
    code, out, _ = run(capsys, "doctor", "--workspace", str(workspace_dir), "--json")
    report = json.loads(out)
    checks = {c["name"]: c for c in report["checks"]}
    assert code == 0 and report["ok"] is True
    assert checks["writable"]["ok"] and checks["layout"]["ok"] and checks["model_paths"]["ok"]
    assert "GB free" in checks["free_space"]["detail"]


def test_workspace_root_from_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], workspace_dir: Path
) -> None:
    monkeypatch.setenv("WORKSPACE_ROOT", str(workspace_dir))
    _, out, _ = run(capsys, "comfy-args", "--json")
    assert json.loads(out)[1] == f"{workspace_dir}/config/extra_model_paths.yaml"


def test_bad_setting_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MAX_DOWNLOAD_SIZE", "lots")
    code, _, err = run(capsys, "comfy-args")
    assert code == 2 and "MAX_DOWNLOAD_SIZE='lots'" in err


def test_console_script_runs(tmp_path: Path) -> None:
    proc = subprocess.run(cli_argv("presets", "--workspace", str(tmp_path), "--json"), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert isinstance(json.loads(proc.stdout)["presets"], list)


# --- options before the command -------------------------------------------------------
# `launchpad --workspace /mnt/vol doctor` once checked /workspace: the subcommand's default
# overwrote the value given before it.


def install_tiny(workspace_dir: Path) -> None:
    for key, data in (("checkpoints/tiny.safetensors", b"1234"), ("vae/tiny_vae.safetensors", b"v")):
        target = workspace_dir / "models" / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def test_workspace_before_the_command_is_the_workspace_doctor_checks(
    capsys: pytest.CaptureFixture[str], workspace_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WORKSPACE_ROOT", raising=False)
    before = run(capsys, "--workspace", str(workspace_dir), "doctor")
    after = run(capsys, "doctor", "--workspace", str(workspace_dir))
    assert before[1].splitlines()[0] == f"workspace {workspace_dir}"
    assert before == after


def test_workspace_before_presets_sees_the_installed_files(
    capsys: pytest.CaptureFixture[str], workspace_dir: Path, user_preset: Path
) -> None:
    install_tiny(workspace_dir)
    code, out, _ = run(capsys, "--workspace", str(workspace_dir), "presets", "--installed")
    assert code == 0
    rows = [line.split() for line in out.splitlines()[1:]]
    assert [(row[0], row[-4]) for row in rows] == [("TINY", "installed")]  # before the fix: "missing"
    code, out, _ = run(capsys, "--workspace", str(workspace_dir), "presets", "show", "TINY")
    assert code == 0 and "[image, installed]" in out


def test_workspace_before_paths_writes_there(
    capsys: pytest.CaptureFixture[str], workspace_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKSPACE_ROOT", str(tmp_path / "the-default"))
    code, out, _ = run(capsys, "--workspace", str(workspace_dir), "paths")
    assert code == 0 and out.startswith(f"wrote {workspace_dir}/config/extra_model_paths.yaml")
    assert (workspace_dir / "config" / "extra_model_paths.yaml").is_file()
    assert not (tmp_path / "the-default").exists()


def test_json_before_the_command_gives_json(capsys: pytest.CaptureFixture[str], workspace_dir: Path) -> None:
    code, out, _ = run(capsys, "--json", "doctor", "--workspace", str(workspace_dir))
    assert json.loads(out)["workspace"] == str(workspace_dir)
    code, out, _ = run(capsys, "--json", "--workspace", str(workspace_dir), "presets", "--category", "video")
    assert code == 0 and {p["category"] for p in json.loads(out)["presets"]} == {"video"}
    code, out, _ = run(capsys, "--json", "--workspace", str(workspace_dir), "check-settings")
    assert json.loads(out)["ok"] is True


REQUIRED = {"uninstall": ["SOME_ID"], "catalog": ["sizes"], "provision": ["models.lock.json"],
            "workflow": ["shared.json"]}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_takes_the_global_options_on_either_side(command: str, tmp_path: Path) -> None:
    """Parsing only (running `serve` or `install` here would serve or download): each order means the same."""
    parser = build_parser()
    rest = REQUIRED.get(command, [])
    orders = {
        "before": ["--workspace", str(tmp_path), "--json", command, *rest],
        "after": [command, *rest, "--workspace", str(tmp_path), "--json"],
        "split": ["--json", command, *rest, "--workspace", str(tmp_path)],
    }
    for order, argv in orders.items():
        args = parser.parse_args(argv)
        assert (args.command, args.workspace, args.json) == (command, tmp_path, True), order
    args = parser.parse_args([command, *rest])
    assert (args.workspace, args.json) == (None, False)
    # given on both sides, the one nearer the end wins, as with any repeated option
    assert parser.parse_args(["--workspace", "/a", command, *rest, "--workspace", "/b"]).workspace == Path("/b")


def test_options_before_the_command_in_a_subprocess(tmp_path: Path, workspace_dir: Path) -> None:
    proc = subprocess.run(cli_argv("--workspace", str(workspace_dir), "--json", "doctor"),
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["workspace"] == str(workspace_dir)


# --- wording ----------------------------------------------------------------------------


def test_counts_are_singular_for_one(
    capsys: pytest.CaptureFixture[str], workspace_dir: Path, user_preset: Path
) -> None:
    code, out, err = run(capsys, "presets", "--workspace", str(workspace_dir), "--search", "tiny test")
    assert code == 0 and err.splitlines()[0] == "1 preset"
    code, out, err = run(capsys, "presets", "--workspace", str(workspace_dir), "--category", "video")
    assert err.splitlines()[0] == f"{len(out.splitlines()) - 1} presets"
    code, out, _ = run(capsys, "paths", "--workspace", str(workspace_dir))
    assert code == 0 and "directories under" in out
    (workspace_dir / "models" / "vae").rmdir()
    code, out, _ = run(capsys, "paths", "--workspace", str(workspace_dir))
    assert f"created 1 directory under {workspace_dir}" in out.splitlines()


def test_an_empty_list_says_so_without_a_header(
    capsys: pytest.CaptureFixture[str], workspace_dir: Path, user_preset: Path
) -> None:
    code, out, err = run(capsys, "presets", "--workspace", str(workspace_dir), "--search", "no such words")
    assert (code, out) == (0, "")
    assert err == "no presets match --search 'no such words' (`launchpad presets` lists them all)\n"
    code, out, err = run(capsys, "--workspace", str(workspace_dir), "presets", "--installed")
    assert (code, out) == (0, "")
    assert "no presets are installed yet" in err and "launchpad install" in err
    code, out, err = run(capsys, "presets", "--installed", "--category", "video", "--workspace", str(workspace_dir))
    assert (out, err) == ("", "no installed presets match --category 'video' (`launchpad presets` lists them all)\n")
    code, out, _ = run(capsys, "presets", "--installed", "--workspace", str(workspace_dir), "--json")
    assert json.loads(out)["presets"] == []  # scripts still get the (empty) list


def test_readme_quick_start_is_two_true_commands() -> None:
    """The dashboard needs only the plain install; the tests need the test extra."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Quick start", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == [
        "python3 -m pip install -e . && launchpad serve",
        "python3 -m pip install -e '.[test]' && python3 -m pytest",
    ]
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["scripts"]["launchpad"] == "comfyui_launchpad.launchpad.cli.main:main"
    assert any(dep.startswith(("pytest>", "pytest=")) for dep in project["optional-dependencies"]["test"])
    assert build_parser().parse_args(["serve"]).command == "serve"
