"""The Helm chart's renders and the Flux HelmRelease example are accepted by a real API server.

``helm template`` (the real helm, built from its Go module) renders charts/gitcanary with the
default values and with tests/helm-values-all.yaml (every value set, PDB and ServiceMonitor on);
each render, CRDs included, goes through a server-side dry-run apply on the sandbox into a
namespace that enforces the restricted Pod Security profile. The ServiceMonitor is validated by
prometheus-operator's own CRD, installed from its published Go module (pinned, hash-checked like
the sandbox's other upstream CRDs). Then the chart's RBAC is applied for real and its
ServiceAccount is checked with ``kubectl auth can-i``. flux/helmrelease.yaml is dry-run against
helm-controller's HelmRelease CRD, which the sandbox installs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gitcanary_sandbox.client import SandboxClient
from gitcanary_sandbox.upstream_crds import UpstreamModule, download
from tests.integration.test_manifests_apply import FIELD_MANAGER, dump, ensure_namespaces, run_kubectl
from tests.unit.test_helm_chart import ALL_VALUES, REPO, Obj, of_kind, render

SERVICE_MONITOR_CRD = UpstreamModule(
    "github.com/prometheus-operator/prometheus-operator",
    "v0.85.0",
    "h1:M5xLCLEoaW2IJfnuCwFzzpL+jSVQu3KGT84Pye+fW8s=",
    ("example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",),
)


@pytest.fixture(scope="module")
def service_monitor_crd(sandbox: SandboxClient) -> None:
    """prometheus-operator's ServiceMonitor CRD, installed for real and Established."""
    source = download([SERVICE_MONITOR_CRD])[SERVICE_MONITOR_CRD.ref] / SERVICE_MONITOR_CRD.files[0]
    sandbox.kubectl(
        "apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "-f", "-", stdin=source.read_text()
    )
    sandbox.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/servicemonitors.monitoring.coreos.com",
    )


@pytest.fixture
def restricted_namespace(sandbox: SandboxClient, namespace: str) -> str:
    """The test namespace, enforcing the restricted Pod Security profile like gitcanary-system."""
    sandbox.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    return namespace


def dry_run(sandbox: SandboxClient, docs: list[Obj]) -> set[str]:
    """Server-side dry-run apply; returns the accepted object names (fails on any refusal)."""
    ensure_namespaces(sandbox, [d for d in docs if d["kind"] != "CustomResourceDefinition"])
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
    assert proc.returncode == 0, proc.stderr.strip()
    assert "would violate PodSecurity" not in proc.stderr, proc.stderr
    return {line.strip() for line in proc.stdout.splitlines() if line.strip()}


@pytest.mark.parametrize("values", [None, ALL_VALUES], ids=["defaults", "all-values"])
def test_chart_render_passes_a_server_side_dry_run(
    sandbox: SandboxClient, service_monitor_crd: None, restricted_namespace: str, values: Path | None
) -> None:
    args = ["--include-crds"] + (["--values", str(values)] if values else [])
    docs = render(*args, release="gitcanary", namespace=restricted_namespace)
    accepted = dry_run(sandbox, docs)
    assert len(accepted) == len(docs), (sorted(accepted), len(docs))
    expected = {
        "customresourcedefinition.apiextensions.k8s.io",
        "deployment.apps",
        "service",
        "serviceaccount",
    }
    expected |= {"poddisruptionbudget.policy", "role.rbac.authorization.k8s.io"}
    if values is not None:
        expected.add("servicemonitor.monitoring.coreos.com")
    assert expected <= {name.split("/")[0] for name in accepted}


def test_a_service_monitor_with_a_bad_field_is_refused(
    sandbox: SandboxClient, service_monitor_crd: None, restricted_namespace: str
) -> None:
    """The dry run checks the ServiceMonitor against its real schema, not only its kind."""
    docs = render("--values", str(ALL_VALUES), release="gitcanary", namespace=restricted_namespace)
    (monitor,) = of_kind(docs, "ServiceMonitor")
    monitor["spec"]["endpoints"][0]["scheme"] = "gopher"
    ensure_namespaces(sandbox, [monitor])
    proc = run_kubectl(sandbox, "apply", "--dry-run=server", "-f", "-", stdin=dump([monitor]))
    assert proc.returncode != 0
    assert "scheme" in proc.stderr, proc.stderr


def can_i(sandbox: SandboxClient, account: str, *args: str) -> bool:
    proc = run_kubectl(sandbox, "auth", "can-i", f"--as={account}", *args)
    answer = proc.stdout.strip()
    assert answer in ("yes", "no"), f"kubectl auth can-i {' '.join(args)}: {proc.stderr.strip()}"
    return answer == "yes"


def test_chart_rbac_applied_for_real_grants_the_controller_what_it_needs(
    sandbox: SandboxClient, restricted_namespace: str
) -> None:
    release = f"rbac-{restricted_namespace}"
    docs = render(release=release, namespace=restricted_namespace)
    rbac = [
        d
        for d in docs
        if d["kind"] in {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
    ]
    sandbox.kubectl("apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "-f", "-", stdin=dump(rbac))
    try:
        (account,) = of_kind(docs, "ServiceAccount")
        who = f"system:serviceaccount:{restricted_namespace}:{account['metadata']['name']}"
        here = ("-n", restricted_namespace)
        assert can_i(sandbox, who, "watch", "canaries.gitcanary.io", "--all-namespaces")
        assert can_i(sandbox, who, "patch", "canaries.gitcanary.io", "--subresource=status", *here)
        assert can_i(sandbox, who, "create", "deployments.apps", *here)
        assert can_i(sandbox, who, "create", "leases.coordination.k8s.io", *here)
        assert can_i(sandbox, who, "update", "leases.coordination.k8s.io", *here)
        assert not can_i(sandbox, who, "create", "leases.coordination.k8s.io", "-n", "default")
        assert not can_i(sandbox, who, "delete", "secrets", *here)
        assert not can_i(sandbox, who, "get", "pods", *here)
    finally:
        cluster_scoped = [d for d in rbac if d["kind"] in {"ClusterRole", "ClusterRoleBinding"}]
        sandbox.kubectl("delete", "--wait=false", "-f", "-", stdin=dump(cluster_scoped), check=False)


def helm_release_example() -> list[Obj]:
    return [d for d in yaml.safe_load_all((REPO / "flux" / "helmrelease.yaml").read_text()) if d]


def test_helm_release_example_passes_a_server_side_dry_run(sandbox: SandboxClient) -> None:
    docs = helm_release_example()
    accepted = dry_run(sandbox, docs)
    assert accepted == {
        "namespace/gitcanary-system",
        "gitrepository.source.toolkit.fluxcd.io/gitcanary",
        "helmrelease.helm.toolkit.fluxcd.io/gitcanary",
    }


def test_helm_release_with_a_bad_source_kind_is_refused(sandbox: SandboxClient) -> None:
    """The HelmRelease CRD's schema is the real one: an unknown sourceRef kind is refused."""
    docs = helm_release_example()
    (release,) = of_kind(docs, "HelmRelease")
    release["spec"]["chart"]["spec"]["sourceRef"]["kind"] = "ConfigMap"
    ensure_namespaces(sandbox, docs)
    proc = run_kubectl(sandbox, "apply", "--dry-run=server", "-f", "-", stdin=dump([release]))
    assert proc.returncode != 0
    assert "sourceRef.kind" in proc.stderr, proc.stderr
