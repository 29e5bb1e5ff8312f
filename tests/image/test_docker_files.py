"""The RunPod image's files, checked without a Docker engine.

hadolint on the Dockerfile, shellcheck on every script, the workflow against GitHub's schema,
the bake file parsed (python-hcl2) and its matrix checked target by target, the custom-node
bundles and the build scripts that use them. The tools come from the `test` extra.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
SCRIPTS = DOCKER / "scripts"
VARIANTS = ["minimal", "standard", "full", "dev", "serverless"]
# serverless is built with the minimal image's arguments and its own stage as the target, so the
# two share every layer below the worker
BUILT_AS = {"serverless": ("minimal", "runtime-serverless")}
# ComfyUI 0.33.0, the commit CI tests (../shared/comfyui/README.md), and the torch it runs on
COMFYUI_VERSION = "v0.33.0"
COMFYUI_COMMIT = "de6b062fb5ed1c9b471a3ebcd614705d93d67560"
TORCH_PINS = ("2.9.1", "0.24.1", "2.9.1")
CUDA = {"128": ("12.8", "12.8.1", "cu128"), "130": ("13.0", "13.0.1", "cu130")}


def tool(name: str) -> str:
    """A tool from the `test` extra: this interpreter's scripts dir first, then PATH."""
    candidate = Path(sysconfig.get_path("scripts")) / name
    if candidate.is_file():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: run `python -m pip install -e '.[test]'`")
    return found


def run(*argv: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


# --- linters ------------------------------------------------------------------------------


def test_dockerfile_is_hadolint_clean() -> None:
    result = run(tool("hadolint"), "--no-color", str(DOCKER / "Dockerfile"))
    assert result.returncode == 0, result.stdout + result.stderr


def shell_scripts() -> list[Path]:
    scripts = sorted(p for p in DOCKER.rglob("*.sh"))
    scripts += sorted(p for p in (ROOT / "benchmarks").glob("*.sh")) if (ROOT / "benchmarks").is_dir() else []
    return scripts


def test_every_shell_script_is_shellcheck_clean() -> None:
    scripts = shell_scripts()
    assert {"start.sh", "healthcheck.sh", "git-pin.sh", "install-custom-nodes.sh", "verify-venv.sh",
            "build-local.sh", "engine.sh"} <= {p.name for p in scripts}
    result = run(tool("shellcheck"), "--severity=style", "--external-sources", *map(str, scripts))
    assert result.returncode == 0, result.stdout + result.stderr


def test_scripts_are_executable() -> None:
    for script in [*shell_scripts(), SCRIPTS / "logtee.py"]:
        assert os.access(script, os.X_OK), f"{script} is not executable (the image runs it directly)"


def test_workflows_match_the_github_schema() -> None:
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert workflows, "no workflow"
    result = run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, workflows))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_workflow_lints_builds_every_target_and_pushes_only_from_main() -> None:
    text = (ROOT / ".github" / "workflows" / "docker.yml").read_text()
    for target in (f"{v}-cuda{c}" for c in CUDA for v in VARIANTS):
        assert f"- {target}" in text
    assert "tests/image/test_docker_*.py" in text
    assert "PUSH: ${{ github.event_name == 'push' && github.ref == 'refs/heads/main' }}" in text


# --- the bake file --------------------------------------------------------------------------


def _unquote(value: object) -> object:
    """python-hcl2 keeps HCL string quotes (and marks blocks); undo both."""
    if isinstance(value, str):
        return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    if isinstance(value, dict):
        return {_unquote(k): _unquote(v) for k, v in value.items() if k != "__is_block__"}
    return value


def _blocks(parsed: dict, kind: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for block in parsed.get(kind, []):
        for name, body in _unquote(block).items():
            assert name not in out, f"{kind} {name} defined twice"
            out[name] = body
    return out


class Bake:
    """The bake file, resolved the way `docker buildx bake --print` does for what it uses:
    variable defaults (or the environment), `${VAR}` interpolation, inherits (maps merged)."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        import hcl2

        with open(DOCKER / "docker-bake.hcl") as fh:
            parsed = hcl2.load(fh)
        env = env or {}
        self.variables = {k: env.get(k, v["default"]) for k, v in _blocks(parsed, "variable").items()}
        self.groups = _blocks(parsed, "group")
        self.raw_targets = _blocks(parsed, "target")

    def interpolate(self, value: object) -> object:
        if isinstance(value, str):
            def sub(match: re.Match[str]) -> str:
                assert match.group(1) in self.variables, f"unknown variable {match.group(1)}"
                return str(self.variables[match.group(1)])

            out = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", sub, value)
            assert "${" not in out, f"unsupported expression in {value!r}"
            return out
        if isinstance(value, list):
            return [self.interpolate(v) for v in value]
        if isinstance(value, dict):
            return {k: self.interpolate(v) for k, v in value.items()}
        return value

    def target(self, name: str) -> dict:
        raw = self.raw_targets[name]
        resolved: dict = {}
        for parent in raw.get("inherits", []):
            for key, value in self.target(parent).items():
                if isinstance(value, dict):
                    resolved[key] = {**resolved.get(key, {}), **value}
                else:
                    resolved[key] = value
        for key, value in raw.items():
            if key == "inherits":
                continue
            if isinstance(value, dict):
                resolved[key] = {**resolved.get(key, {}), **value}
            else:
                resolved[key] = value
        return self.interpolate(resolved)

    def group(self, name: str) -> list[str]:
        return self.groups[name]["targets"]


def dockerfile_args() -> set[str]:
    return set(re.findall(r"^ARG ([A-Z_]+)", (DOCKER / "Dockerfile").read_text(), re.MULTILINE))


def test_bake_defines_every_variant_for_every_cuda_with_its_args() -> None:
    bake = Bake()
    public = sorted(n for n in bake.raw_targets if not n.startswith("_"))
    expected = sorted(f"{v}-cuda{c}" for v in VARIANTS for c in CUDA)
    assert public == expected
    args_in_dockerfile = dockerfile_args()
    for variant in VARIANTS:
        for short, (_, cuda_version, index) in CUDA.items():
            target = bake.target(f"{variant}-cuda{short}")
            assert target["context"] == "."
            assert (ROOT / target["dockerfile"]).is_file()
            assert target["platforms"] == ["linux/amd64"]
            args = target["args"]
            built_as, stage = BUILT_AS.get(variant, (variant, None))
            assert args["VARIANT"] == built_as
            assert target.get("target") == stage
            assert args["CUDA_VERSION"] == cuda_version
            assert args["TORCH_INDEX"] == index
            assert args["COMFYUI_VERSION"] == COMFYUI_VERSION
            assert args["COMFYUI_COMMIT"] == COMFYUI_COMMIT
            # pinned together: an unpinned torchaudio once resolved to a build for another CUDA
            assert (args["TORCH_VERSION"], args["TORCHVISION_VERSION"], args["TORCHAUDIO_VERSION"]) == TORCH_PINS
            assert {"PYTHON_VERSION", "IMAGE_VERSION", "GIT_SHA", "BUILD_DATE"} <= set(args)
            unknown = set(args) - args_in_dockerfile
            assert not unknown, f"bake passes {unknown} but the Dockerfile declares no such ARG"


def test_bake_tags() -> None:
    bake = Bake({"REGISTRY": "registry.example/team", "VERSION": "1.2.3"})
    seen: dict[str, str] = {}
    for variant in VARIANTS:
        for short, (cuda, _, _) in CUDA.items():
            name = f"{variant}-cuda{short}"
            tags = bake.target(name)["tags"]
            base = "registry.example/team/comfyui-launchpad"
            assert f"{base}:{variant}-cuda{cuda}" in tags
            assert f"{base}:{variant}-cuda{cuda}-1.2.3" in tags
            assert (f"{base}:{variant}" in tags) == (short == "128"), "the short tag belongs to the default CUDA"
            assert (f"{base}:latest" in tags) == (name == "standard-cuda128")
            for tag in tags:
                assert tag not in seen, f"{tag} is on both {seen.get(tag)} and {name}"
                seen[tag] = name
                assert re.fullmatch(r"[a-z0-9./_-]+:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", tag), tag


def test_bake_groups() -> None:
    bake = Bake()
    assert bake.group("default") == [f"{v}-cuda128" for v in VARIANTS]
    assert sorted(bake.group("all")) == sorted(f"{v}-cuda{c}" for v in VARIANTS for c in CUDA)
    for short in CUDA:
        assert bake.group(f"cuda{short}") == [f"{v}-cuda{short}" for v in VARIANTS]
    for group in bake.groups.values():
        for name in group["targets"]:
            assert name in bake.raw_targets


@pytest.mark.skipif(
    subprocess.run(["docker", "buildx", "version"], capture_output=True).returncode != 0
    if shutil.which("docker")
    else True,
    reason="docker buildx is not installed here (the image workflow runs `bake --print`)",
)
def test_buildx_bake_print_agrees() -> None:
    import json

    result = run("docker", "buildx", "bake", "-f", "docker/docker-bake.hcl", "all", "--print")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)["target"]
    bake = Bake()
    for name, target in printed.items():
        assert target["args"] == bake.target(name)["args"]
        assert sorted(target["tags"]) == sorted(bake.target(name)["tags"])


# --- the Dockerfile's promises ----------------------------------------------------------------


def test_dockerfile_structure() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+) AS (\S+)", text, re.MULTILINE)
    names = [name for _, name in stages]
    for variant in VARIANTS:
        assert f"runtime-{variant}" in names
    assert names[-1] == "final" and stages[-1][0] == "runtime-${VARIANT}"
    assert ("nvidia/cuda:${CUDA_VERSION}-devel-ubuntu${UBUNTU_VERSION}", "os-build-cuda") in stages
    assert ("nvidia/cuda:${CUDA_VERSION}-runtime-ubuntu${UBUNTU_VERSION}", "os-run-cuda") in stages
    assert ("os-run-${BASE_SOURCE}", "runtime-base") in stages
    assert re.search(r"^ARG CUDA_VERSION=12\.8\.\d+$", text, re.MULTILINE), "CUDA 12.8 is the default"
    assert '--index-url "https://download.pytorch.org/whl/${index}"' in text
    assert not text.startswith("# syntax="), "a syntax line needs a frontend image from a registry"
    for name, value in (("CUDA_VERSION", "12.8.1"), ("BASE_SOURCE", "cuda"), ("UV_SOURCE", "image"),
                        ("PYTHON_SOURCE", "uv"), ("COMFYUI_SOURCE", "git"), ("TORCH_SOURCE", "index"),
                        ("BUNDLES", "variant"), ("COMFYUI_VERSION", COMFYUI_VERSION),
                        ("COMFYUI_COMMIT", COMFYUI_COMMIT)):
        assert re.search(rf"^ARG {name}={re.escape(value)}$", text, re.MULTILINE), f"release default {name}={value}"
    assert 'ENTRYPOINT ["/usr/bin/tini", "--", "/opt/launchpad/start.sh"]' in text
    assert re.search(r"^HEALTHCHECK .*--start-period=\d+m .*healthcheck\.sh", text, re.MULTILINE)
    assert "launchpad/health" in (SCRIPTS / "healthcheck.sh").read_text()
    assert re.search(r"^EXPOSE 8188 22$", text, re.MULTILINE)
    assert re.search(r"^EXPOSE 8080 8888$", text, re.MULTILINE)
    for label in ("title", "source", "version", "revision", "created", "licenses"):
        assert f"org.opencontainers.image.{label}=" in text
    # caches on the container disk, never on the volume
    for var in ("UV_CACHE_DIR", "PIP_CACHE_DIR", "HF_HOME", "HF_XET_CACHE"):
        value = re.search(rf"{var}=(\S+)", text).group(1)
        assert value.startswith("/root/.cache/"), f"{var}={value}"


def build_local_args() -> dict[str, str]:
    text = (DOCKER / "build-local.sh").read_text()
    return dict(re.findall(r'--build-arg ([A-Z_]+)=("?[^\s"]*"?)', text))


def stage_text(text: str, name: str) -> str:
    """The instructions of stage ``name``, up to the next FROM."""
    match = re.search(rf"^FROM \S+ AS {name}\n(.*?)(?=^FROM |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"no stage {name}"
    return match.group(1)


def test_the_serverless_stage_is_the_minimal_image_with_the_worker() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    stages = dict((name, image) for image, name in re.findall(r"^FROM (\S+) AS (\S+)", text, re.MULTILINE))
    assert stages["runtime-serverless"] == "runtime-minimal"
    assert stages["serverless-venv"] == "nodes"
    serverless = stage_text(text, "runtime-serverless")
    assert "RUN " not in serverless  # copies only: nothing below it is rebuilt
    assert "COPY --from=serverless-venv /opt/serverless /opt/serverless" in serverless
    assert 'ENTRYPOINT ["/usr/bin/tini", "--", "/opt/serverless/bin/python", "/opt/launchpad/serverless/handler.py"]' \
        in serverless
    assert 'WORKSPACE_ROOT=""' in serverless  # /runpod-volume, else /workspace
    venv = stage_text(text, "serverless-venv")
    assert "-r /opt/launchpad/serverless/requirements.txt /src" in venv
    # what changes with every build is declared after runtime-base's last RUN and COPY, so a
    # second build (serverless after minimal) finds those layers cached
    base = stage_text(text, "runtime-base")
    last_layer = max(base.rfind("\nRUN "), base.rfind("\nCOPY "))
    for arg in ("BUILD_DATE", "GIT_SHA", "IMAGE_VERSION"):
        assert base.index(f"\nARG {arg}") > last_layer, f"ARG {arg} comes before a layer of runtime-base"


def test_the_serverless_sdk_pin_is_the_test_extras() -> None:
    pins = re.findall(r"^runpod==\S+$", (DOCKER / "serverless" / "requirements.txt").read_text(), re.MULTILINE)
    assert len(pins) == 1
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'"{pins[0]}"' in pyproject
    dependencies = pyproject.split("dependencies = [", 1)[1].split("]", 1)[0]
    assert "runpod" not in dependencies  # never the pack's own


def test_each_source_argument_selects_a_stage_that_exists_for_every_value() -> None:
    """BuildKit builds only the stages the target reaches: one Dockerfile serves both builds."""
    text = (DOCKER / "Dockerfile").read_text()
    stages = {name for _, name in re.findall(r"^FROM (\S+) AS (\S+)", text, re.MULTILINE)}
    selectors = {
        "BASE_SOURCE": (["os-build-", "os-run-"], ["cuda", "local"]),
        "UV_SOURCE": (["uv-"], ["image", "pypi"]),
        "PYTHON_SOURCE": (["python-"], ["uv", "system"]),
        "COMFYUI_SOURCE": (["comfyui-"], ["git", "tarball"]),
    }
    for arg, (prefixes, values) in selectors.items():
        for prefix in prefixes:
            assert re.search(rf"^FROM {prefix}\${{{arg}}} AS ", text, re.MULTILINE), f"no stage picked by {arg}"
            for value in values:
                assert f"{prefix}{value}" in stages, f"{arg}={value} needs a stage {prefix}{value}"
    # only the stages of the cuda/image/uv/git values name a registry or GitHub
    for image, name in re.findall(r"^FROM (\S+) AS (\S+)", text, re.MULTILINE):
        if "/" in image and "${LOCAL_BASE_IMAGE}" not in image:
            assert name in {"os-build-cuda", "os-run-cuda", "uv-image"}, f"{name} pulls {image}"


def test_build_local_passes_only_declared_arguments_for_an_offline_build() -> None:
    args = build_local_args()
    unknown = set(args) - dockerfile_args()
    assert not unknown, f"build-local.sh passes {unknown} but the Dockerfile declares no such ARG"
    offline = {"BASE_SOURCE": "local", "UV_SOURCE": "pypi", "PYTHON_SOURCE": "system", "PYTHON_VERSION": "3.11",
               "TORCH_SOURCE": "pypi", "COMFYUI_SOURCE": "tarball", "BUNDLES": "none"}
    for name, value in offline.items():
        assert args.get(name) == value, f"build-local.sh: {name}={args.get(name)}, expected {value}"
    text = (DOCKER / "build-local.sh").read_text()
    for pin in TORCH_PINS:
        assert f":-{pin}}}" in text
    assert "ComfyUI-0.33.0.tar.gz" in text
    assert "docker/.local/" in (ROOT / ".gitignore").read_text()
    assert "docker/.local" not in (DOCKER / "Dockerfile.dockerignore").read_text()  # the tarball is in the context


def fake_docker(tmp_path: Path, info: str) -> Path:
    """A docker client whose `version` runs INFO (a shell snippet); no engine behind it."""
    path = tmp_path / "docker"
    path.write_text(f"#!/bin/sh\ncase $1 in version) {info} ;; info) echo {tmp_path} ;; *) exit 1 ;; esac\n")
    path.chmod(0o755)
    return path


def test_build_local_says_what_is_missing_before_building(tmp_path: Path) -> None:
    script = str(DOCKER / "build-local.sh")
    env = {**os.environ, "DOCKER": str(tmp_path / "no-docker")}
    result = run("bash", script, env=env)
    assert result.returncode == 1 and "apt-get install -y docker.io" in result.stderr
    assert result.stdout == ""

    env["DOCKER"] = str(fake_docker(tmp_path, "echo 'Cannot connect to the Docker daemon' >&2; exit 1"))
    result = run("bash", script, env=env)
    assert result.returncode == 1
    assert "no Docker engine is reachable (Cannot connect to the Docker daemon)" in result.stderr
    assert "docker/engine.sh start" in result.stderr

    env["DOCKER"] = str(fake_docker(tmp_path, "echo 20.10.24"))
    result = run("bash", script, env={**env, "MIN_FREE_GB": "1000000"})
    assert result.returncode == 1 and "the build needs about 1000000 GB" in result.stderr

    result = run("bash", script, env={**env, "MIN_FREE_GB": "0", "COMFYUI_TARBALL": str(tmp_path / "none.tar.gz")})
    assert result.returncode == 1 and "none.tar.gz is missing" in result.stderr

    (tmp_path / "wheels").mkdir()
    result = run("bash", script, env={**env, "MIN_FREE_GB": "0", "COMFYUI_TARBALL": script,
                                      "WHEELS_DIR": str(tmp_path / "wheels")})
    assert result.returncode == 1 and "has no torch-2.9.1-cp311 wheel: pip download" in result.stderr

    result = run("bash", script, "dev", env=env)
    assert result.returncode == 1 and "code-server from GitHub" in result.stderr


def test_build_local_builds_serverless_on_the_minimal_images_arguments(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    docker = tmp_path / "docker"
    docker.write_text(f"#!/bin/sh\necho \"$*\" >> {calls}\n"
                      f"case $1 in version) echo 20.10.24 ;; info) echo {tmp_path} ;; image|build) exit 0 ;; "
                      "*) exit 1 ;; esac\n")
    docker.chmod(0o755)
    tarball = tmp_path / "ComfyUI.tar.gz"
    tarball.write_bytes(b"stands for the release tarball")
    env = {**os.environ, "DOCKER": str(docker), "MIN_FREE_GB": "0", "COMFYUI_TARBALL": str(tarball)}
    env.pop("WHEELS_DIR", None)
    result = run("bash", str(DOCKER / "build-local.sh"), "serverless", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "comfyui-launchpad:serverless-local"
    build = next(line.split() for line in calls.read_text().splitlines() if line.startswith("build "))
    assert build[build.index("--target") + 1] == "runtime-serverless"
    assert "VARIANT=minimal" in build
    result = run("bash", str(DOCKER / "build-local.sh"), "minimal", env=env)
    minimal = [line.split() for line in calls.read_text().splitlines() if line.startswith("build ")][-1]
    assert "--target" not in minimal and "VARIANT=minimal" in minimal


def test_engine_script_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    env = {**os.environ, "ENGINE_STATE": str(tmp_path / "state")}
    result = run("bash", str(DOCKER / "engine.sh"), "stop", env=env)
    assert result.returncode == 1 and "no engine started by this script" in result.stderr
    result = run("bash", str(DOCKER / "engine.sh"), "start", env=env)
    assert result.returncode == 1 and "usage: engine.sh start DATA_ROOT" in result.stderr
    result = run("bash", str(DOCKER / "engine.sh"), "start", str(tmp_path / "data"),
                 env={**env, "DOCKERD": str(tmp_path / "no-dockerd")})
    assert result.returncode == 1 and "apt-get install -y docker.io" in result.stderr


def test_dockerignore_keeps_the_context_small_but_complete() -> None:
    ignored = (DOCKER / "Dockerfile.dockerignore").read_text().split()
    assert ".git" in ignored and "tests" in ignored
    for needed in ("launchpad", "server_routes", "nodes", "web", "docker", "pyproject.toml", "__init__.py"):
        assert needed not in ignored


# --- bundles and variants -------------------------------------------------------------------


def bundle_lines(name: str) -> list[tuple[str, str, str]]:
    lines = []
    for raw in (DOCKER / "bundles" / f"{name}.txt").read_text().splitlines():
        if raw.strip() and not raw.lstrip().startswith("#"):
            folder, url, commit = raw.split()
            lines.append((folder, url, commit))
    return lines


def variants_file() -> dict[str, list[str]]:
    out = {}
    for raw in (DOCKER / "variants.txt").read_text().splitlines():
        if raw.strip() and not raw.startswith("#"):
            variant, *bundles = raw.split()
            out[variant] = bundles
    return out


def test_bundles_are_pinned_to_commits() -> None:
    bundles = sorted(p.stem for p in (DOCKER / "bundles").glob("*.txt"))
    assert bundles == ["base", "complete", "popular"]
    folders: set[str] = set()
    for bundle in bundles:
        lines = bundle_lines(bundle)
        assert lines or bundle == "base", bundle
        for folder, url, commit in lines:
            assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url), url
            assert re.fullmatch(r"[0-9a-f]{40}", commit), f"{folder}: pin a full commit id, not {commit!r}"
            assert folder not in folders, f"{folder} is in two bundles"
            folders.add(folder)
    # the Manager is ComfyUI's own manager_requirements.txt package, never a clone: ComfyUI 0.33
    # with --enable-manager refuses a custom_nodes folder named like it
    assert not [f for f in folders if "manager" in f.lower()]
    assert "manager_requirements.txt" in (DOCKER / "Dockerfile").read_text()


def test_variants_match_the_seed_and_the_bake_file() -> None:
    variants = variants_file()
    assert list(variants) == VARIANTS
    assert variants["minimal"] == ["base"]
    assert variants["standard"] == ["base", "popular"]
    assert variants["full"] == ["base", "popular", "complete"]
    assert variants["dev"] == variants["full"]
    assert variants["serverless"] == variants["minimal"]


def test_install_custom_nodes_lists_each_variant() -> None:
    for variant in VARIANTS:
        result = run(str(SCRIPTS / "install-custom-nodes.sh"), "--list", variant)
        assert result.returncode == 0, result.stderr
        listed = [tuple(line.split()) for line in result.stdout.splitlines()]
        expected = [line for bundle in variants_file()[variant] for line in bundle_lines(bundle)]
        assert listed == expected
    result = run(str(SCRIPTS / "install-custom-nodes.sh"), "--list", "huge")
    assert result.returncode == 2 and "unknown variant 'huge'" in result.stderr


# --- the build scripts, for real on local repositories ------------------------------------------


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def make_repo(path: Path, files: dict[str, str]) -> list[str]:
    """A git repository with one commit per call of `files`; returns the commit ids."""
    path.mkdir(parents=True)
    git(path, "init", "-q")
    commits = []
    for name, text in files.items():
        (path / name).write_text(text)
        git(path, "add", name)
        git(path, "commit", "-qm", f"add {name}")
        commits.append(git(path, "rev-parse", "HEAD"))
    return commits


def test_git_pin_checks_out_exactly_the_pinned_commit(tmp_path: Path) -> None:
    first, second = make_repo(tmp_path / "repo", {"a.txt": "1", "b.txt": "2"})
    git(tmp_path / "repo", "tag", "v1", first)
    url = f"file://{tmp_path / 'repo'}"
    pin = str(SCRIPTS / "git-pin.sh")

    result = run(pin, url, first, str(tmp_path / "by-commit"))
    assert result.returncode == 0, result.stderr
    assert git(tmp_path / "by-commit", "rev-parse", "HEAD") == first
    assert not (tmp_path / "by-commit" / "b.txt").exists()

    result = run(pin, url, "v1", str(tmp_path / "by-tag"), first)
    assert result.returncode == 0, result.stderr

    result = run(pin, url, "v1", str(tmp_path / "moved-tag"), second)  # the tag is not where we pinned it
    assert result.returncode == 1
    assert f"expected {second}" in result.stderr


def wheel(directory: Path, name: str, version: str = "1.0", init: str | None = None) -> Path:
    """A minimal pure-Python wheel, made by hand so installing it needs no network. ``init`` is
    its ``__init__.py`` (default: ``VERSION = <version>``)."""
    import base64
    import hashlib
    import zipfile

    path = directory / f"{name}-{version}-py3-none-any.whl"
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": init if init is not None else f"VERSION = {version!r}\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    with zipfile.ZipFile(path, "w") as zf:
        for arcname, text in files.items():
            data = text.encode()
            zf.writestr(arcname, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{arcname},sha256={digest},{len(data)}")
        record.append(f"{dist}/RECORD,,")
        zf.writestr(f"{dist}/RECORD", "\n".join(record) + "\n")
    return path


def uv_bin() -> str:
    try:
        from uv import find_uv_bin
    except ImportError:
        pytest.fail("uv is not installed: run `python -m pip install -e '.[test]'`")
    return find_uv_bin()


def make_venv(path: Path) -> Path:
    subprocess.run([uv_bin(), "venv", "-q", "--python", sys.executable, str(path)], check=True)
    return path


def installed(venv: Path, name: str) -> bool:
    return any((venv / "lib").glob(f"python*/site-packages/{name}/__init__.py"))


def test_install_custom_nodes_clones_pins_and_installs_requirements(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    req_wheel = wheel(wheels, "tinynodedep")
    (commit,) = make_repo(tmp_path / "src" / "node-a", {"requirements.txt": f"{req_wheel}\n"})
    make_repo(tmp_path / "src" / "node-b", {"__init__.py": "NODE_CLASS_MAPPINGS = {}\n"})
    commit_b = git(tmp_path / "src" / "node-b", "rev-parse", "HEAD")
    bundles = tmp_path / "bundles"
    bundles.mkdir()
    (bundles / "one.txt").write_text(f"# test bundle\nNodeA file://{tmp_path}/src/node-a {commit}\n")
    (bundles / "two.txt").write_text(f"NodeB file://{tmp_path}/src/node-b {commit_b}\n")
    (tmp_path / "variants.txt").write_text("# v\ntiny one two\n")
    venv = make_venv(tmp_path / "venv")
    env = {
        **os.environ,
        "BUNDLES_DIR": str(bundles),
        "VARIANTS_FILE": str(tmp_path / "variants.txt"),
        "PYTHON": str(venv / "bin" / "python"),
        "UV_BIN": uv_bin(),
        "UV_OFFLINE": "1",
        "LAUNCHPAD_CONSTRAINTS": str(tmp_path / "none.txt"),
    }
    target = tmp_path / "custom_nodes"
    result = run(str(SCRIPTS / "install-custom-nodes.sh"), "tiny", str(target), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert git(target / "NodeA", "rev-parse", "HEAD") == commit
    assert (target / "NodeB" / "__init__.py").is_file()
    assert installed(venv, "tinynodedep")
    assert "variant tiny: 2 custom nodes" in result.stdout


def test_logtee_copies_and_rotates(tmp_path: Path) -> None:
    log = tmp_path / "comfyui.log"
    log.write_text("previous run\n")
    env = {**os.environ, "LOG_MAX_BYTES": "100", "LOG_KEEP": "2"}
    lines = "".join(f"line {i:03d} of the output\n" for i in range(22))  # 23 bytes each: rotates every 5
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "logtee.py"), str(log)], input=lines, env=env,
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 0
    assert result.stdout == lines  # the console gets everything
    kept = [log, log.with_name("comfyui.log.1"), log.with_name("comfyui.log.2")]
    assert all(p.exists() for p in kept)
    assert not log.with_name("comfyui.log.3").exists()
    assert log.read_text() == "line 020 of the output\nline 021 of the output\n"
    assert "previous run" not in "".join(p.read_text() for p in kept)  # rotated out, only 2 kept
    assert all(p.stat().st_size <= 120 for p in kept)


def torch_like(wheels: Path, name: str, version: str, extra: str = "") -> Path:
    """Stands for torch/torchvision/torchaudio in a venv: the versions verify-venv.sh reads."""
    return wheel(wheels, name, version.split("+")[0], init=f"__version__ = {version!r}\n{extra}")


def test_verify_venv_fails_the_build_on_a_torch_that_does_not_fit(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    cuda = "class version:\n    cuda = '12.8'\n"
    good = [torch_like(wheels, "torch", "2.9.1+cu128", cuda), torch_like(wheels, "torchvision", "0.24.1+cu128"),
            torch_like(wheels, "torchaudio", "2.9.1+cu128")]
    venv = make_venv(tmp_path / "venv")
    python = str(venv / "bin" / "python")
    env = {**os.environ, "UV_BIN": uv_bin(), "UV_OFFLINE": "1"}
    subprocess.run([uv_bin(), "pip", "install", "-q", "--python", python, *map(str, good)], check=True, env=env)
    verify = str(SCRIPTS / "verify-venv.sh")

    result = run(verify, python, "2.9.1", "0.24.1", "2.9.1", "12.8", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verify-venv: torch 2.9.1, torchvision 0.24.1, torchaudio 2.9.1, cuda 12.8" in result.stdout

    result = run(verify, python, "2.9.1", "0.24.1", "2.9.1", "13.0", env=env)
    assert result.returncode != 0 and "cuda is 12.8, expected 13.0" in result.stderr

    # what happened once: a torchaudio for another torch/CUDA, which fails at import
    failing_import = "raise OSError('libcudart.so.13: cannot open shared object file')\n"
    broken = torch_like(wheels, "torchaudio", "2.11.0", failing_import)
    subprocess.run([uv_bin(), "pip", "install", "-q", "--python", python, str(broken)], check=True, env=env)
    result = run(verify, python, "2.9.1", "0.24.1", "2.9.1", "12.8", env=env)
    assert result.returncode != 0 and "libcudart.so.13" in result.stderr
