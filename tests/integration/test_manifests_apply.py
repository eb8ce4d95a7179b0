"""The install manifests and the example fleet are accepted by a real API server.

Every overlay under flux/, clusters/ and apps/ is built with ``kubectl kustomize`` and sent with
a server-side dry-run apply to the sandbox, whose schemas are gitcanary's CRDs and the
unmodified upstream CRDs (Flux, Istio, ...). Namespaces must exist for a dry run, so the
Namespace objects are applied for real first. Then flux/'s RBAC is applied for real, and the
controller's service account is checked with ``kubectl auth can-i`` and by impersonating it for
the server-side applies the controller performs (which the API server authorizes as ``create``
when the object is new).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitcanary_sandbox.binaries import kube_bin_dir
from gitcanary_sandbox.client import SandboxClient
from tests.unit.test_manifests import REPO, build_dir, kustomize_dirs

SERVICE_ACCOUNT = "system:serviceaccount:gitcanary-system:gitcanary"
FIELD_MANAGER = "gitcanary-manifests-test"
CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}
Obj = dict[str, Any]


def run_kubectl(
    sandbox: SandboxClient, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(kube_bin_dir() / "kubectl"), f"--kubeconfig={sandbox.kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def dump(docs: list[Obj]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)


def ensure_namespaces(sandbox: SandboxClient, docs: list[Obj]) -> None:
    """Apply (for real) every Namespace the docs declare or put objects in."""
    declared = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Namespace"}
    used = {d["metadata"]["namespace"] for d in docs if d["metadata"].get("namespace")}
    manifests = [
        declared.get(name) or {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        for name in sorted(used | set(declared))
    ]
    if manifests:
        sandbox.kubectl(
            "apply",
            "--server-side",
            "--force-conflicts",
            f"--field-manager={FIELD_MANAGER}",
            "-f",
            "-",
            stdin=dump(manifests),
        )


@pytest.mark.parametrize("directory", kustomize_dirs(), ids=lambda d: str(d.relative_to(REPO)))
def test_overlay_passes_a_server_side_dry_run(sandbox: SandboxClient, directory: Path) -> None:
    docs = build_dir(directory)
    ensure_namespaces(sandbox, docs)
    proc = run_kubectl(
        sandbox,
        "apply",
        "--server-side",
        "--dry-run=server",
        "--force-conflicts",
        f"--field-manager={FIELD_MANAGER}",
        "-o",
        "name",
        "-f",
        "-",
        stdin=dump(docs),
    )
    assert proc.returncode == 0, f"{directory.relative_to(REPO)}: {proc.stderr.strip()}"
    # gitcanary-system enforces the restricted Pod Security profile; nothing may warn about it.
    assert "would violate PodSecurity" not in proc.stderr, proc.stderr
    accepted = {line.strip() for line in proc.stdout.splitlines() if line.strip()}
    assert len(accepted) == len(docs), (sorted(accepted), len(docs))


@pytest.fixture(scope="module")
def controller_rbac(sandbox: SandboxClient) -> None:
    """flux/'s ServiceAccount, ClusterRole and ClusterRoleBinding, applied for real."""
    docs = build_dir(REPO / "flux")
    rbac = [d for d in docs if d["kind"] in {"ServiceAccount", "ClusterRole", "ClusterRoleBinding"}]
    assert {d["kind"] for d in rbac} == {"ServiceAccount", "ClusterRole", "ClusterRoleBinding"}
    ensure_namespaces(sandbox, [d for d in docs if d["kind"] == "Namespace"] + rbac)
    sandbox.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        f"--field-manager={FIELD_MANAGER}",
        "-f",
        "-",
        stdin=dump(rbac),
    )


def can_i(sandbox: SandboxClient, *args: str) -> bool:
    proc = run_kubectl(sandbox, "auth", "can-i", f"--as={SERVICE_ACCOUNT}", *args)
    answer = proc.stdout.strip()
    assert answer in ("yes", "no"), f"kubectl auth can-i {' '.join(args)}: {proc.stderr.strip()}"
    return answer == "yes"


ALLOWED = [
    ("watch", "canaries.gitcanary.io", "--all-namespaces"),
    ("patch", "canaries.gitcanary.io", "--subresource=status"),
    ("get", "metrictemplates.gitcanary.io"),
    ("watch", "deployments.apps", "--all-namespaces"),
    ("create", "deployments.apps"),
    ("patch", "daemonsets.apps"),
    # Secrets: read by name, copied to -primary by server-side apply (create + patch).
    ("get", "secrets"),
    ("create", "secrets"),
    ("patch", "secrets"),
    ("watch", "configmaps", "--all-namespaces"),
    ("create", "configmaps"),
    ("create", "services"),
    ("create", "events"),
    ("create", "horizontalpodautoscalers.autoscaling"),
    ("create", "virtualservices.networking.istio.io"),
    ("delete", "ingresses.networking.k8s.io"),
    ("patch", "gitrepositories.source.toolkit.fluxcd.io"),
    ("patch", "kustomizations.kustomize.toolkit.fluxcd.io"),
    ("watch", "kustomizations.kustomize.toolkit.fluxcd.io", "--all-namespaces"),
    ("list", "imagepolicies.image.toolkit.fluxcd.io", "--all-namespaces"),
    ("list", "imageupdateautomations.image.toolkit.fluxcd.io", "--all-namespaces"),
    ("watch", "customresourcedefinitions.apiextensions.k8s.io"),
]

DENIED = [
    # No list or watch on Secrets, neither cluster-wide nor in a namespace (docs/security.md).
    ("list", "secrets", "--all-namespaces"),
    ("watch", "secrets", "--all-namespaces"),
    ("list", "secrets"),
    ("watch", "secrets"),
    ("delete", "secrets"),
    ("delete", "deployments.apps"),
    ("delete", "canaries.gitcanary.io"),
    ("get", "pods"),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
    ("patch", "imagepolicies.image.toolkit.fluxcd.io"),
    ("patch", "imageupdateautomations.image.toolkit.fluxcd.io"),
    ("delete", "kustomizations.kustomize.toolkit.fluxcd.io"),
    ("create", "leases.coordination.k8s.io"),
]


@pytest.mark.parametrize("args", ALLOWED, ids=lambda a: " ".join(a[:2]))
def test_service_account_may(
    sandbox: SandboxClient, controller_rbac: None, namespace: str, args: tuple[str, ...]
) -> None:
    scope = () if "--all-namespaces" in args else ("-n", namespace)
    assert can_i(sandbox, *args, *scope)


@pytest.mark.parametrize("args", DENIED, ids=lambda a: " ".join(a[:2]))
def test_service_account_may_not(
    sandbox: SandboxClient, controller_rbac: None, namespace: str, args: tuple[str, ...]
) -> None:
    scope = () if "--all-namespaces" in args else ("-n", namespace)
    assert not can_i(sandbox, *args, *scope)


def generated_objects(namespace: str) -> list[Obj]:
    """What the controller creates by server-side apply for a Deployment target with Istio."""
    labels = {"app": "podinfo-primary"}
    meta = {"namespace": namespace}
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "podinfo-primary", **meta},
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [{"name": "podinfod", "image": "ghcr.io/stefanprodan/podinfo:6.0.1"}]
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "podinfo-primary", **meta},
            "spec": {"selector": labels, "ports": [{"name": "http", "port": 9898, "targetPort": 9898}]},
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "podinfo-config-primary", **meta}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "podinfo-secret-primary", **meta}},
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "podinfo-primary", **meta},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo-primary"},
                "minReplicas": 2,
                "maxReplicas": 4,
            },
        },
        {
            "apiVersion": "networking.istio.io/v1beta1",
            "kind": "VirtualService",
            "metadata": {"name": "podinfo", **meta},
            "spec": {
                "hosts": ["podinfo"],
                "http": [
                    {
                        "route": [
                            {"destination": {"host": "podinfo-primary"}, "weight": 100},
                            {"destination": {"host": "podinfo-canary"}, "weight": 0},
                        ]
                    }
                ],
            },
        },
    ]


def test_service_account_can_server_side_apply_new_objects(
    sandbox: SandboxClient, controller_rbac: None, namespace: str
) -> None:
    docs = generated_objects(namespace)
    proc = run_kubectl(
        sandbox,
        f"--as={SERVICE_ACCOUNT}",
        "apply",
        "--server-side",
        "--dry-run=server",
        "--field-manager=gitcanary",
        "-o",
        "name",
        "-f",
        "-",
        stdin=dump(docs),
    )
    assert proc.returncode == 0, proc.stderr.strip()
    assert len(proc.stdout.split()) == len(docs)


def test_service_account_cannot_delete_a_secret(
    sandbox: SandboxClient, controller_rbac: None, namespace: str
) -> None:
    sandbox.kubectl("create", "secret", "generic", "keep-me", "-n", namespace, "--from-literal=k=v")
    proc = run_kubectl(sandbox, f"--as={SERVICE_ACCOUNT}", "delete", "secret", "keep-me", "-n", namespace)
    assert proc.returncode != 0
    assert "forbidden" in proc.stderr.lower(), proc.stderr
    assert (
        sandbox.kubectl("get", "secret", "keep-me", "-n", namespace, "-o", "name").strip() == "secret/keep-me"
    )


def may(sandbox: SandboxClient, verb: str, group: str, resource: str, namespace: str) -> bool:
    """A SelfSubjectAccessReview as the service account: exact group and resource, which
    ``kubectl auth can-i`` cannot give for a resource the API server does not serve (the Keptn
    CRDs, or an external metrics API with no adapter registered)."""
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {
            "resourceAttributes": {"verb": verb, "group": group, "resource": resource, "namespace": namespace}
        },
    }
    proc = run_kubectl(
        sandbox, f"--as={SERVICE_ACCOUNT}", "create", "-o", "json", "-f", "-", stdin=dump([review])
    )
    assert proc.returncode == 0, proc.stderr.strip()
    return bool(yaml.safe_load(proc.stdout)["status"].get("allowed"))


# Metric providers: keptn reads KeptnMetrics and runs Analyses; externalmetrics reads metrics.
PROVIDER_ACCESS = [
    ("get", "metrics.keptn.sh", "keptnmetrics", True),
    ("create", "metrics.keptn.sh", "analyses", True),
    ("get", "metrics.keptn.sh", "analyses", True),
    ("delete", "metrics.keptn.sh", "analyses", True),
    ("list", "external.metrics.k8s.io", "http_requests_per_second", True),
    ("get", "external.metrics.k8s.io", "queue_depth", True),
    ("delete", "metrics.keptn.sh", "keptnmetrics", False),
    ("patch", "metrics.keptn.sh", "analyses", False),
    ("create", "external.metrics.k8s.io", "http_requests_per_second", False),
    ("list", "custom.metrics.k8s.io", "pods", False),
]


@pytest.mark.parametrize(("verb", "group", "resource", "allowed"), PROVIDER_ACCESS, ids=lambda a: str(a))
def test_metric_provider_access(
    sandbox: SandboxClient,
    controller_rbac: None,
    namespace: str,
    verb: str,
    group: str,
    resource: str,
    allowed: bool,
) -> None:
    assert may(sandbox, verb, group, resource, namespace) is allowed


def test_service_account_may_read_an_external_metric(
    sandbox: SandboxClient, controller_rbac: None, namespace: str
) -> None:
    """The externalmetrics provider's own request, impersonated: authorization passes (the answer
    may be a 404 or 503 when no external metrics server is registered, never a 403)."""
    path = f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/queue_depth?labelSelector=app%3Dpodinfo"
    proc = run_kubectl(sandbox, f"--as={SERVICE_ACCOUNT}", "get", "--raw", path)
    assert "forbidden" not in proc.stderr.lower(), proc.stderr
