"""The Kubernetes manifests in deploy/k8s/ (docs/scaling.md): valid against the Kubernetes API
schemas (kubernetes-validate, strict: an unknown or misplaced field fails), and wired together as
the guide says: one claim, one lock ConfigMap, the init container provisioning it."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
GUIDE = ROOT / "docs" / "scaling.md"
MANIFESTS = sorted(K8S.glob("*.yaml"))


def documents() -> list[dict]:
    return [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def by_kind(kind: str) -> list[dict]:
    return [doc for doc in documents() if doc["kind"] == kind]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_each_manifest_is_valid_for_kubernetes(path):
    assert MANIFESTS, "deploy/k8s/ has manifests"
    version = kubernetes_validate.latest_version()
    for doc in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(doc, version, strict=True)  # raises ValidationError naming the field


def test_a_wrong_field_would_be_caught():
    [deployment] = by_kind("Deployment")
    deployment["spec"]["template"]["spec"]["initContainers"][0]["comand"] = ["typo"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, kubernetes_validate.latest_version(), strict=True)


def pod_specs() -> list[dict]:
    return [doc["spec"]["template"]["spec"] for doc in documents() if doc["kind"] in ("Deployment", "Job")]


def test_every_provisioner_runs_launchpad_provision_on_the_shared_claim_from_the_lock_configmap():
    [claim] = by_kind("PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]  # many pods, one volume
    for spec in pod_specs():
        volumes = {v["name"]: v for v in spec["volumes"]}
        claimed = [v for v in volumes.values() if "persistentVolumeClaim" in v]
        assert [v["persistentVolumeClaim"]["claimName"] for v in claimed] == [claim["metadata"]["name"]]
        lock_volume = next(v for v in volumes.values() if "configMap" in v)
        assert lock_volume["configMap"]["name"] == "launchpad-models-lock"
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            assert mounts[claimed[0]["name"]] == env["WORKSPACE_ROOT"] == "/workspace"
            lock_path = f"{mounts[lock_volume['name']]}/models.lock.json"
            if container.get("command"):
                assert container["command"][:3] == ["launchpad", "provision", lock_path]
            else:  # ComfyUI: its lease names the lock it serves
                assert env["MODELS_LOCK"] == lock_path
    [deployment] = by_kind("Deployment")
    assert deployment["spec"]["template"]["spec"]["initContainers"][0]["command"][1] == "provision"


def test_the_guide_walks_through_these_manifests_with_the_same_names():
    text = GUIDE.read_text()
    for path in MANIFESTS:
        assert f"deploy/k8s/{path.name}" in text, f"docs/scaling.md does not mention {path.name}"
    commands = [shlex.split(line.strip().rstrip("\\")) for line in text.splitlines()
                if line.strip().startswith("kubectl create configmap")]
    assert commands and all(c[3] == "launchpad-models-lock" for c in commands)
    assert any("--from-file=models.lock.json" in " ".join(c) for c in commands)
    # the guide's commands are ones our CLI has
    for match in re.finditer(r"^\s*launchpad (\w[\w-]*)", text, re.MULTILINE):
        assert match.group(1) in {"lock", "provision", "serve", "doctor", "install", "presets"}, match.group(0)
