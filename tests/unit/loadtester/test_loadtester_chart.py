"""The chart's optional load tester (loadtester.enabled): off by default, and when on, a non-root
Deployment running `gitcanary loadtester` with arguments the real command accepts, behind a
Service on port 80 that selects only the load tester Pods."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from controller.loadtester.cli import loadtester
from gitcanary_sandbox.helm_binary import helm_path

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "gitcanary"
ALL_VALUES = REPO / "tests" / "helm-values-all.yaml"
ENABLED = ("--set", "loadtester.enabled=true")
Obj = dict[str, Any]


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    binary = helm_path()
    assert binary.exists(), f"{binary} is missing: run ./scripts/bootstrap.sh (it builds helm)"
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=120)


def render(*args: str) -> list[Obj]:
    proc = helm("template", "gitcanary", str(CHART), "--namespace", "gitcanary-system", *args)
    assert proc.returncode == 0, proc.stderr
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def loadtester_objects(docs: list[Obj]) -> dict[str, Obj]:
    found = {
        d["kind"]: d
        for d in docs
        if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "loadtester"
    }
    return found


def test_the_load_tester_is_off_by_default() -> None:
    docs = render()
    assert loadtester_objects(docs) == {}
    assert not any("loadtester" in d["metadata"]["name"] for d in docs)


def test_lint_passes_with_the_load_tester_and_every_value() -> None:
    for args in (ENABLED, ("--values", str(ALL_VALUES), *ENABLED)):
        proc = helm("lint", "--strict", str(CHART), *args)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_enabled_renders_a_locked_down_deployment_and_its_service() -> None:
    docs = render(*ENABLED)
    objects = loadtester_objects(docs)
    assert sorted(objects) == ["Deployment", "Service"]
    deployment, service = objects["Deployment"], objects["Service"]
    assert deployment["metadata"]["name"] == service["metadata"]["name"] == "gitcanary-loadtester"
    pod = deployment["spec"]["template"]["spec"]
    (ctr,) = pod["containers"]
    assert ctr["image"].startswith("ghcr.io/gitcanary/gitcanary:")
    assert ctr["args"] == [
        "loadtester",
        "--port=8080",
        "--state-dir=/var/lib/gitcanary-loadtester",
        "--timeout=1h",
        "--max-output=1048576",
    ]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert ctr["securityContext"]["readOnlyRootFilesystem"] is True
    assert ctr["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["automountServiceAccountToken"] is False
    mounts = {m["mountPath"] for m in ctr["volumeMounts"]}
    assert {"/var/lib/gitcanary-loadtester", "/tmp", "/home/gitcanary"} <= mounts
    assert ctr["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    # The controller's Service and PodDisruptionBudget must not select the load tester Pods.
    controller_service = next(d for d in docs if d["kind"] == "Service" and d is not service)
    assert not controller_service["spec"]["selector"].items() <= pod_labels.items()
    pdb = next(d for d in docs if d["kind"] == "PodDisruptionBudget")
    assert not pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_every_load_tester_value_reaches_the_render() -> None:
    objects = loadtester_objects(render("--values", str(ALL_VALUES), *ENABLED))
    deployment, service = objects["Deployment"], objects["Service"]
    values = yaml.safe_load(ALL_VALUES.read_text())["loadtester"]
    pod = deployment["spec"]["template"]["spec"]
    (ctr,) = pod["containers"]
    assert deployment["metadata"]["name"] == service["metadata"]["name"] == "flagger-loadtester"
    assert deployment["spec"]["replicas"] == values["replicaCount"]
    assert ctr["args"] == [
        "loadtester",
        "--port=9090",
        "--state-dir=/var/lib/gitcanary-loadtester",
        "--timeout=30m",
        "--max-output=65536",
        "--allow-command=hey",
        "--allow-command=bash",
        "--allow-command=helm",
        "--namespace-regexp=^team-",
        "--cmd-shell",
        "--verbose",
    ]
    assert ctr["ports"] == [{"name": "http", "containerPort": 9090, "protocol": "TCP"}]
    assert pod["serviceAccountName"] == "loadtester" and "automountServiceAccountToken" not in pod
    state = next(v for v in pod["volumes"] if v["name"] == "state")
    assert state == {"name": "state", "persistentVolumeClaim": {"claimName": "loadtester-gates"}}
    assert ctr["resources"] == values["resources"]
    assert deployment["spec"]["template"]["metadata"]["annotations"] == values["podAnnotations"]
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["ports"][0]["port"] == 8000
    assert service["metadata"]["annotations"] == values["service"]["annotations"]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]


def test_rendered_args_are_accepted_by_gitcanary_loadtester() -> None:
    for args in (ENABLED, ("--values", str(ALL_VALUES), *ENABLED)):
        (ctr,) = loadtester_objects(render(*args))["Deployment"]["spec"]["template"]["spec"]["containers"]
        assert ctr["args"][0] == "loadtester"
        context = loadtester.make_context("loadtester", list(ctr["args"][1:]))
        assert context.params["state_dir"] == Path("/var/lib/gitcanary-loadtester")
