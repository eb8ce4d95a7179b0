"""The install manifests (flux/) and the example fleet (clusters/, apps/) build and hang together.

Every directory with a ``kustomization.yaml`` under flux/, clusters/ and apps/ is built with the
sandbox's real ``kubectl kustomize``. On the built objects: every Canary is valid; every marker
is found by the write-back code and names an object that exists in the fleet; the markers are
what decides the deployed image (a real rollback and promoteTo edit, rebuilt, changes it); the
Flux paths point at real directories; and the controller's Deployment and RBAC keep the
properties the code relies on.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.api import validate_canary
from controller.flux.correlation import KUSTOMIZATION_API, SOURCE_API
from controller.gitops.edits.apply import EditPolicy, apply_intent
from controller.gitops.edits.markers import Marker, find_markers, parse_image
from controller.gitops.workflow.intents import Intent
from controller.routers import (
    appmesh_routes,
    contour,
    gatewayapi_routes,
    gloo_routes,
    istio_routes,
    smi,
    traefik,
)
from controller.routers.nginx_routes import INGRESS_API
from controller.scalers import hpa, keda, keda_http
from gitcanary_sandbox.binaries import kube_bin_dir

REPO = Path(__file__).resolve().parents[2]
MANIFEST_ROOTS = ("flux", "clusters", "apps")
Obj = dict[str, Any]


def kustomize_dirs() -> list[Path]:
    found = [p.parent for root in MANIFEST_ROOTS for p in (REPO / root).rglob("kustomization.yaml")]
    return sorted(found)


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def kubectl() -> Path:
    binary = kube_bin_dir() / "kubectl"
    assert binary.exists(), (
        f"{binary} is missing: run ./scripts/bootstrap.sh (it builds the sandbox binaries)"
    )
    return binary


def build_dir(directory: Path) -> list[Obj]:
    proc = subprocess.run(
        [str(kubectl()), "kustomize", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, f"kubectl kustomize {directory}: {proc.stderr.strip()}"
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


@functools.cache
def built(relative: str) -> tuple[Obj, ...]:
    return tuple(build_dir(REPO / relative))


def objects(relative: str, kind: str) -> list[Obj]:
    return [obj for obj in built(relative) if obj["kind"] == kind]


def one(relative: str, kind: str, name: str) -> Obj:
    found = [obj for obj in objects(relative, kind) if obj["metadata"]["name"] == name]
    assert len(found) == 1, f"{relative}: expected one {kind} {name}, found {len(found)}"
    return found[0]


def all_built() -> Iterator[tuple[str, Obj]]:
    for directory in kustomize_dirs():
        for obj in built(_rel(directory)):
            yield _rel(directory), obj


def ns_name(obj: Obj) -> str:
    return f"{obj['metadata'].get('namespace', '')}:{obj['metadata']['name']}"


def container_image(deployment: Obj, container: str = "podinfod") -> str:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return str(next(c["image"] for c in containers if c["name"] == container))


# -- every overlay builds ------------------------------------------------------------------------


def test_discovers_every_overlay() -> None:
    found = {_rel(d) for d in kustomize_dirs()}
    expected = {
        "flux",
        "clusters/staging",
        "clusters/staging/flux-system",
        "clusters/production",
        "clusters/production/flux-system",
        "apps/podinfo/base",
        "apps/podinfo/staging",
        "apps/podinfo/production",
    }
    assert expected <= found, f"missing: {sorted(expected - found)}"


@pytest.mark.parametrize("directory", kustomize_dirs(), ids=_rel)
def test_overlay_builds(directory: Path) -> None:
    docs = built(_rel(directory))
    assert docs, f"{_rel(directory)} builds to nothing"
    for doc in docs:
        assert doc.get("apiVersion") and doc.get("kind"), doc
        assert doc.get("metadata", {}).get("name"), doc
    keys = [(d["apiVersion"], d["kind"], ns_name(d)) for d in docs]
    assert len(keys) == len(set(keys)), f"{_rel(directory)}: duplicate objects"


# -- Canaries ------------------------------------------------------------------------------------


def test_every_canary_is_valid() -> None:
    canaries = [(where, obj) for where, obj in all_built() if obj["kind"] == "Canary"]
    assert {where for where, _ in canaries} == {"apps/podinfo/staging", "apps/podinfo/production"}
    for where, canary in canaries:
        assert canary["apiVersion"] == "gitcanary.io/v1beta1"
        assert validate_canary(canary) == [], f"{where}: {validate_canary(canary)}"


def test_canaries_target_what_the_overlay_builds() -> None:
    for overlay in ("apps/podinfo/staging", "apps/podinfo/production"):
        canary = one(overlay, "Canary", "podinfo")
        spec = canary["spec"]
        target = one(overlay, spec["targetRef"]["kind"], spec["targetRef"]["name"])
        scaler = one(overlay, spec["autoscalerRef"]["kind"], spec["autoscalerRef"]["name"])
        assert scaler["spec"]["scaleTargetRef"]["name"] == target["metadata"]["name"]
        assert target["metadata"]["namespace"] == canary["metadata"]["namespace"]
        ports = [
            p["containerPort"] for c in target["spec"]["template"]["spec"]["containers"] for p in c["ports"]
        ]
        assert spec["service"]["targetPort"] in ports
        assert not objects(overlay, "Service"), "gitcanary generates the Services; the overlay must not"
        assert spec["provider"] == "istio"
        names = {m["name"] for m in spec["analysis"]["metrics"]}
        assert names == {"request-success-rate", "request-duration"}


def test_staging_promotes_to_production_and_production_needs_approval() -> None:
    staging = one("apps/podinfo/staging", "Canary", "podinfo")["spec"]["gitops"]
    assert staging["promoteTo"] == [{"path": "./apps/podinfo/production", "approval": "pullRequest"}]
    production = one("apps/podinfo/production", "Canary", "podinfo")["spec"]["gitops"]
    approval = production["approval"]
    assert (approval["mode"], approval["provider"], approval["secretRef"]["name"]) == (
        "pullRequest",
        "github",
        "github-token",
    )


# -- markers -------------------------------------------------------------------------------------


def markers_in(relative: str) -> list[Marker]:
    return find_markers(REPO / relative)


def test_find_markers_sees_every_marker_comment() -> None:
    for root in MANIFEST_ROOTS:
        texts = {p: p.read_text() for p in (REPO / root).rglob("*.yaml")}
        spelled = sum(len(re.findall(r'"\$(?:imagepolicy|gitcanary)"', t)) for t in texts.values())
        assert len(find_markers(REPO / root)) == spelled, root
    assert markers_in("apps"), "the example fleet has no markers"


def test_staging_image_is_managed_by_the_image_policy() -> None:
    markers = markers_in("apps/podinfo/staging")
    assert [(m.kind, m.ref, m.field) for m in markers] == [("imagepolicy", "flux-system:podinfo", "image")]
    policy = one("apps/podinfo/staging", "ImagePolicy", "podinfo")
    assert ns_name(policy) == markers[0].ref
    assert policy["spec"]["policy"]["semver"]["range"] == ">=6.0.0"
    assert container_image(one("apps/podinfo/staging", "Deployment", "podinfo")) == markers[0].current_value


def test_production_tag_is_pinned_by_the_canary_marker() -> None:
    markers = markers_in("apps/podinfo/production")
    assert [(m.kind, m.ref, m.field) for m in markers] == [("gitcanary", "podinfo:podinfo", "tag")]
    assert markers[0].path.name == "kustomization.yaml"
    canary = one("apps/podinfo/production", "Canary", "podinfo")
    assert ns_name(canary) == markers[0].ref
    image = parse_image(container_image(one("apps/podinfo/production", "Deployment", "podinfo")))
    assert image.tag == markers[0].current_value


def test_every_marker_names_an_object_of_the_fleet() -> None:
    everything = [obj for _, obj in all_built()]
    policies = {ns_name(o) for o in everything if o["kind"] == "ImagePolicy"}
    canaries = {ns_name(o) for o in everything if o["kind"] == "Canary"}
    for marker in markers_in("apps") + markers_in("clusters"):
        known = policies if marker.kind == "imagepolicy" else canaries
        assert marker.ref in known, f"{marker.path}:{marker.line}: {marker.ref} names no {marker.kind} object"


def test_promote_to_paths_hold_markers_for_the_promoting_canary() -> None:
    for where, canary in all_built():
        if canary["kind"] != "Canary":
            continue
        for target in (canary["spec"].get("gitops") or {}).get("promoteTo", []):
            refs = {m.ref for m in find_markers(REPO / target["path"], kind="gitcanary")}
            assert ns_name(canary) in refs, f"{where}: promoteTo {target['path']} has no marker for it"


def test_image_automation_writes_where_its_markers_are() -> None:
    automation = one("apps/podinfo/staging", "ImageUpdateAutomation", "podinfo")
    update = automation["spec"]["update"]
    assert update["strategy"] == "Setters"
    refs = {m.ref for m in find_markers(REPO / update["path"], kind="imagepolicy")}
    assert "flux-system:podinfo" in refs
    assert automation["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "flux-system"}


def _copy_fleet(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "apps", tmp_path / "apps")
    return tmp_path


def _intent(kind: str, path: str, image: str, previous: str) -> Intent:
    return Intent(
        id=f"test-{kind}",
        kind=kind,  # type: ignore[arg-type]
        canary="podinfo/podinfo",
        repository="ssh://git@github.com/example-org/fleet",
        branch="main",
        path=path,
        image=image,
        previous_image=previous,
        result={"rollback": "rolled-back", "promoteTo": "proposed"}[kind],
        analysis="",
        source_revision="main@sha1:0",
        created_at=0.0,
    )


def test_rollback_edit_reverts_staging_and_quarantines_the_tag(tmp_path: Path) -> None:
    worktree = _copy_fleet(tmp_path)
    failed = container_image(one("apps/podinfo/staging", "Deployment", "podinfo"))
    primary = "ghcr.io/stefanprodan/podinfo:6.0.1"
    assert failed != primary
    changed = apply_intent(
        worktree,
        _intent("rollback", "./apps/podinfo/staging", primary, failed),
        EditPolicy(record=False),
    )
    assert {p.name for p in changed} == {"deployment-image.yaml", "image-automation.yaml"}
    rebuilt = build_dir(worktree / "apps/podinfo/staging")
    deployment = next(o for o in rebuilt if o["kind"] == "Deployment")
    assert container_image(deployment) == primary
    policy = next(o for o in rebuilt if o["kind"] == "ImagePolicy")
    semver_range = policy["spec"]["policy"]["semver"]["range"]
    assert semver_range.startswith(">=6.0.0")
    assert re.search(rf"!=\s*{re.escape(parse_image(failed).tag or '?')}\b", semver_range), semver_range


def test_promote_to_edit_changes_what_production_deploys(tmp_path: Path) -> None:
    worktree = _copy_fleet(tmp_path)
    promoted = container_image(one("apps/podinfo/staging", "Deployment", "podinfo"))
    before = container_image(one("apps/podinfo/production", "Deployment", "podinfo"))
    assert promoted != before
    changed = apply_intent(
        worktree,
        _intent("promoteTo", "./apps/podinfo/production", promoted, before),
        EditPolicy(record=False),
    )
    assert [p.name for p in changed] == ["kustomization.yaml"]
    rebuilt = build_dir(worktree / "apps/podinfo/production")
    assert container_image(next(o for o in rebuilt if o["kind"] == "Deployment")) == promoted
    staging_untouched = build_dir(worktree / "apps/podinfo/staging")
    assert container_image(next(o for o in staging_untouched if o["kind"] == "Deployment")) == promoted


# -- Flux layout ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cluster", ["staging", "production"])
def test_cluster_kustomizations_point_at_real_paths(cluster: str) -> None:
    where = f"clusters/{cluster}"
    repos = objects(where, "GitRepository")
    assert [ns_name(r) for r in repos] == ["flux-system:flux-system"]
    assert repos[0]["apiVersion"] == SOURCE_API
    kustomizations = {k["metadata"]["name"]: k for k in objects(where, "Kustomization")}
    assert set(kustomizations) == {"flux-system", "gitcanary", "podinfo"}
    for ks in kustomizations.values():
        assert ks["apiVersion"] == KUSTOMIZATION_API
        assert ks["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "flux-system"}
        path = REPO / ks["spec"]["path"]
        assert (path / "kustomization.yaml").is_file(), (
            f"{where}: {ks['spec']['path']} is not a kustomization"
        )
    assert kustomizations["flux-system"]["spec"]["path"] == f"./{where}"
    assert kustomizations["gitcanary"]["spec"]["path"] == "./flux"
    assert kustomizations["podinfo"]["spec"]["path"] == f"./apps/podinfo/{cluster}"
    assert kustomizations["podinfo"]["spec"]["dependsOn"] == [{"name": "gitcanary"}]


# -- the controller's install --------------------------------------------------------------------


def _controller() -> Obj:
    return one("flux", "Deployment", "gitcanary")


def test_install_has_the_crds_and_one_namespace() -> None:
    crds = {o["metadata"]["name"] for o in objects("flux", "CustomResourceDefinition")}
    assert crds == {"canaries.gitcanary.io", "metrictemplates.gitcanary.io", "alertproviders.gitcanary.io"}
    namespaced = {o["metadata"].get("namespace") for o in built("flux") if o["kind"] not in _CLUSTER_KINDS}
    assert namespaced == {"gitcanary-system"}


_CLUSTER_KINDS = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}


def test_controller_deployment_is_locked_down_and_probed() -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    pod = _controller()["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == f"ghcr.io/gitcanary/gitcanary:{version}"
    assert pod["serviceAccountName"] == "gitcanary"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["args"][0] == "run"
    assert any(a.startswith("--metrics-server=") for a in container["args"])
    for probe in ("livenessProbe", "readinessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/healthz"
        port = get["port"]
        assert port == 8080 or any(
            p["name"] == port and p["containerPort"] == 8080 for p in container["ports"]
        )
    assert container["resources"]["requests"] and container["resources"]["limits"]
    # Every path the process writes to is on an emptyDir.
    volumes = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    mounts = [Path(m["mountPath"]) for m in container["volumeMounts"] if m["name"] in volumes]
    env = {e["name"]: e.get("value") for e in container["env"]}
    for path in (env["GITCANARY_GIT_CACHE"], env["HOME"], "/tmp"):
        assert any(Path(path) == m or m in Path(path).parents for m in mounts), f"{path} is not writable"


def test_two_replicas_elect_one_leader_and_a_budget_keeps_one() -> None:
    deployment = _controller()
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert deployment["spec"]["replicas"] == 2
    assert "--leader-elect" in container["args"]
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    pdb = one("flux", "PodDisruptionBudget", "gitcanary")
    assert pdb["spec"]["minAvailable"] == 1
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    role = one("flux", "Role", "gitcanary-leader-election")
    assert role["rules"] == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "verbs": ["get", "create", "update", "patch"],
        }
    ]
    binding = one("flux", "RoleBinding", "gitcanary-leader-election")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "gitcanary", "namespace": "gitcanary-system"}
    ]


def test_service_selects_the_controller() -> None:
    service = one("flux", "Service", "gitcanary")
    labels = _controller()["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert [p["port"] for p in service["spec"]["ports"]] == [8080, 8081]  # healthz, /metrics


def _rules() -> list[Obj]:
    return list(one("flux", "ClusterRole", "gitcanary")["rules"])


def granted(group: str, resource: str) -> set[str]:
    verbs: set[str] = set()
    for rule in _rules():
        if group in rule["apiGroups"] and resource in rule["resources"]:
            verbs |= set(rule["verbs"])
    return verbs


def _group(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else ""


def test_cluster_role_has_no_wildcards_and_no_destructive_access_to_secrets() -> None:
    for rule in _rules():
        for key in ("apiGroups", "resources", "verbs"):
            if key == "resources" and rule["apiGroups"] == ["external.metrics.k8s.io"]:
                # Each external metric is its own resource: read-only, in that group only.
                assert set(rule["verbs"]) <= {"get", "list"}, rule
                continue
            assert "*" not in rule[key], rule
    # Secrets are read by name and copied to -primary; never listed or watched cluster-wide.
    assert granted("", "secrets") == {"get", "create", "patch"}
    assert not granted("", "pods")
    assert not granted("rbac.authorization.k8s.io", "clusterroles")
    binding = one("flux", "ClusterRoleBinding", "gitcanary")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "gitcanary", "namespace": "gitcanary-system"}
    ]


# (API version the code writes, plural): server-side apply needs get + create + patch.
APPLIED = [
    (istio_routes.API_VERSION, "virtualservices"),
    (istio_routes.API_VERSION, "destinationrules"),
    (f"{gatewayapi_routes.GROUP}/v1", "httproutes"),
    (f"{smi.GROUP}/v1alpha2", "trafficsplits"),
    (INGRESS_API, "ingresses"),
    (appmesh_routes.API_VERSION, "virtualnodes"),
    (appmesh_routes.API_VERSION, "virtualrouters"),
    (appmesh_routes.API_VERSION, "virtualservices"),
    (contour.API_VERSION, "httpproxies"),
    (traefik.API_VERSION, "traefikservices"),
    (gloo_routes.GLOO_API_VERSION, "upstreams"),
    (gloo_routes.GATEWAY_API_VERSION, "routetables"),
    (hpa.DEFAULT_API_VERSION, "horizontalpodautoscalers"),
    (keda.DEFAULT_API_VERSION, "scaledobjects"),
    (keda_http.DEFAULT_API_VERSION, "httpscaledobjects"),
    ("apps/v1", "deployments"),
    ("apps/v1", "daemonsets"),
    ("v1", "services"),
    ("v1", "configmaps"),
    ("v1", "secrets"),
]


@pytest.mark.parametrize(("api_version", "plural"), APPLIED)
def test_cluster_role_allows_server_side_apply(api_version: str, plural: str) -> None:
    assert {"get", "create", "patch"} <= granted(_group(api_version), plural)


@pytest.mark.parametrize(
    ("group", "plural", "verbs"),
    [
        ("gitcanary.io", "canaries", {"get", "list", "watch", "patch"}),
        ("gitcanary.io", "canaries/status", {"get", "patch"}),
        ("gitcanary.io", "metrictemplates", {"get"}),
        ("gitcanary.io", "alertproviders", {"get"}),
        ("apps", "deployments", {"list", "watch"}),
        ("", "configmaps", {"list", "watch"}),
        ("", "events", {"create"}),
        (_group(SOURCE_API), "gitrepositories", {"get", "patch"}),
        (_group(KUSTOMIZATION_API), "kustomizations", {"get", "patch"}),
        ("apiextensions.k8s.io", "customresourcedefinitions", {"list", "watch"}),
        (_group(INGRESS_API), "ingresses", {"delete"}),
        (smi.GROUP, "trafficsplits", {"delete"}),
        ("metrics.keptn.sh", "keptnmetrics", {"get"}),
        ("metrics.keptn.sh", "analyses", {"get", "create", "delete"}),
        ("external.metrics.k8s.io", "*", {"get", "list"}),
    ],
)
def test_cluster_role_allows_what_the_controller_does(group: str, plural: str, verbs: set[str]) -> None:
    assert verbs <= granted(group, plural)
