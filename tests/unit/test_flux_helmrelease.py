"""HelmRelease targets: correlation through the HelmRelease to its chart source and values, the
trust rule for helm-controller's labels, the tenancy rules, the write-back paths, and the
``WriteBack=False`` condition for a source gitcanary cannot write to."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from controller.flux.correlation import (
    GitSource,
    SourceNotFound,
    SourceRefused,
    WriteBackUnsupported,
    resolve_source,
)
from controller.flux.helm import release_name, shorten_release_name
from controller.gitops.edits.apply import apply_intent
from controller.gitops.workflow.intents import make_intent
from controller.reconcile.correlation import correlate_source
from controller.reconcile.runner import write_back_enabled
from controller.tenancy import TenancySettings
from tests.builders import canary, deployment, flux_applied, git_repository, kustomization
from tests.unit.reconcile.memory_kube import MemoryKube

Obj = dict[str, Any]
TENANT, PLATFORM = "team-a", "flux-system"
FLEET = "https://git.example.com/fleet.git"
SECURE = TenancySettings()


def helm_installed(obj: Obj, release: str, hr: str = "podinfo", hr_namespace: str = TENANT) -> Obj:
    """``obj`` labelled and annotated the way helm-controller and Helm leave a release's objects."""
    meta = obj["metadata"]
    meta.setdefault("labels", {}).update(
        {
            "helm.toolkit.fluxcd.io/name": hr,
            "helm.toolkit.fluxcd.io/namespace": hr_namespace,
            "app.kubernetes.io/managed-by": "Helm",
        }
    )
    meta.setdefault("annotations", {}).update(
        {"meta.helm.sh/release-name": release, "meta.helm.sh/release-namespace": meta["namespace"]}
    )
    return obj


def helmrelease(
    namespace: str = TENANT,
    name: str = "podinfo",
    *,
    source: Obj | None = None,
    chart: str = "./charts/podinfo",
    values_files: list[str] | None = None,
    chart_ref: Obj | None = None,
    spec: Obj | None = None,
) -> Obj:
    body: Obj = {"interval": "5m", **(spec or {})}
    if chart_ref is not None:
        body["chartRef"] = chart_ref
    else:
        template: Obj = {"chart": chart, "sourceRef": source or {"kind": "GitRepository", "name": "fleet"}}
        if values_files:
            template["valuesFiles"] = values_files
        body["chart"] = {"spec": template}
    return {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }


def target(release: str = "podinfo") -> Obj:
    return helm_installed(deployment(TENANT, "podinfo", "ghcr.io/podinfo:6.0.1"), release)


async def resolve(kube: Any, gitops: Obj | None = None, obj: Obj | None = None) -> GitSource:
    the_canary = canary(TENANT, "podinfo")
    if gitops is not None:
        the_canary["spec"]["gitops"] = gitops
    return await resolve_source(kube, the_canary, obj or target(), SECURE)


def tenant_fleet(hr: Obj, *, applied_from: str | None = "./apps/podinfo") -> MemoryKube:
    """A tenant's own GitRepository; the HelmRelease applied by a Kustomization at ``applied_from``."""
    objects = [git_repository(TENANT, "fleet", FLEET, secret="fleet-auth")]
    if applied_from is not None:
        flux_applied(hr, "apps", TENANT)
        objects.append(kustomization(TENANT, "apps", "fleet", applied_from, (hr,)))
    return MemoryKube(*objects, hr)


# -- release names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, "podinfo"),
        ({"targetNamespace": "prod"}, "prod-podinfo"),
        ({"releaseName": "web", "targetNamespace": "prod"}, "web"),
    ],
)
def test_the_default_release_name_is_target_namespace_dash_name(spec: Obj, expected: str) -> None:
    assert release_name(helmrelease(spec=spec)) == expected


def test_a_long_release_name_is_shortened_like_helm_controller() -> None:
    name = "a-very-long-target-namespace-name-for-the-release-podinfo"
    assert len(name) > 53
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    assert shorten_release_name(name) == f"{name[:40]}-{digest}"
    assert len(shorten_release_name(name)) == 53


# -- correlation ---------------------------------------------------------------------------------


async def test_values_in_the_helmrelease_and_chart_in_the_same_repository() -> None:
    hr = helmrelease(values_files=["./charts/podinfo/values-prod.yaml"])
    source = await resolve(tenant_fleet(hr))
    assert (source.url, source.branch, source.path) == (FLEET, "main", "./apps/podinfo")
    assert source.also_paths == ("./charts/podinfo", "./charts/podinfo/values-prod.yaml")
    assert source.helm_release == (TENANT, "podinfo")
    assert source.kustomization == (TENANT, "apps")
    assert source.secret_name == "fleet-auth"


async def test_a_chart_in_another_source_leaves_only_the_helmrelease_values() -> None:
    hr = helmrelease(source={"kind": "HelmRepository", "name": "podinfo"}, chart="podinfo")
    source = await resolve(tenant_fleet(hr))
    assert (source.path, source.also_paths) == ("./apps/podinfo", ())


async def test_a_helmrelease_applied_from_nowhere_writes_to_its_charts_repository() -> None:
    source = await resolve(tenant_fleet(helmrelease(), applied_from=None))
    assert (source.source_name, source.path, source.also_paths) == ("fleet", "./charts/podinfo", ())
    assert source.kustomization is None and source.helm_release == (TENANT, "podinfo")


async def test_a_chart_ref_to_a_helmchart_is_followed_to_its_git_source() -> None:
    chart = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmChart",
        "metadata": {"name": "podinfo", "namespace": TENANT},
        "spec": {"chart": "charts/podinfo", "sourceRef": {"kind": "GitRepository", "name": "fleet"}},
    }
    kube = tenant_fleet(helmrelease(chart_ref={"kind": "HelmChart", "name": "podinfo"}))
    kube.objects[("HelmChart", TENANT, "podinfo")] = chart
    source = await resolve(kube)
    assert (source.path, source.also_paths) == ("./apps/podinfo", ("charts/podinfo",))


async def test_the_release_name_of_a_target_namespace_release_is_matched() -> None:
    hr = helmrelease(spec={"targetNamespace": TENANT})
    source = await resolve(tenant_fleet(hr), obj=target(release=f"{TENANT}-podinfo"))
    assert source.helm_release == (TENANT, "podinfo")


# -- trust and tenancy ---------------------------------------------------------------------------


async def test_forged_helm_labels_are_refused() -> None:
    with pytest.raises(SourceRefused, match=r"say team-a/someone-else: the labels are not trusted"):
        await resolve(tenant_fleet(helmrelease()), obj=target(release="someone-else"))


async def test_a_helmrelease_the_kustomization_did_not_apply_is_refused() -> None:
    hr = helmrelease()
    kube = tenant_fleet(hr)
    kube.objects[("Kustomization", TENANT, "apps")]["status"]["inventory"]["entries"] = []
    with pytest.raises(SourceRefused, match=r"HelmRelease team-a/podinfo.*status\.inventory"):
        await resolve(kube)


async def test_a_platform_helmrelease_is_refused_to_other_namespaces_by_default() -> None:
    hr = helmrelease(PLATFORM)
    kube = MemoryKube(git_repository(PLATFORM, "fleet", FLEET), hr)
    obj = helm_installed(deployment(TENANT, "podinfo", "img:1"), "podinfo", hr_namespace=PLATFORM)
    obj["metadata"]["annotations"]["meta.helm.sh/release-namespace"] = PLATFORM
    with pytest.raises(SourceRefused, match="outside the Canary's namespace"):
        await resolve(kube, obj=obj)


async def test_the_repository_grant_admits_a_helmrelease_beside_it() -> None:
    hr = helmrelease(PLATFORM, spec={"targetNamespace": TENANT})
    repo = git_repository(PLATFORM, "fleet", FLEET, allowed_namespaces=TENANT)
    obj = helm_installed(deployment(TENANT, "podinfo", "img:1"), f"{TENANT}-podinfo", hr_namespace=PLATFORM)
    source = await resolve(MemoryKube(repo, hr), obj=obj)
    assert (source.namespace, source.path) == (PLATFORM, "./charts/podinfo")


async def test_a_chart_path_leaving_the_repository_is_refused() -> None:
    with pytest.raises(SourceRefused, match="leaves the repository"):
        await resolve(tenant_fleet(helmrelease(chart="../../etc")))


# -- sources gitcanary cannot write to -----------------------------------------------------------


@pytest.mark.parametrize("kind", ["OCIRepository", "Bucket", "HelmRepository"])
async def test_a_chart_source_outside_git_cannot_be_written_back(kind: str) -> None:
    if kind == "OCIRepository":
        hr = helmrelease(chart_ref={"kind": kind, "name": "podinfo"})
    else:
        hr = helmrelease(source={"kind": kind, "name": "podinfo"}, chart="podinfo")
    with pytest.raises(WriteBackUnsupported, match=f"{kind} team-a/podinfo.*write-back not possible") as info:
        await resolve(tenant_fleet(hr, applied_from=None))
    assert info.value.source_kind == kind
    assert isinstance(info.value, SourceNotFound)


async def test_an_unsupported_source_sets_the_write_back_condition_once() -> None:
    hr = helmrelease(chart_ref={"kind": "OCIRepository", "name": "podinfo"})
    kube = tenant_fleet(hr, applied_from=None)
    the_canary = canary(TENANT, "podinfo")
    fields, conditions = await correlate_source(kube, the_canary, target(), "", [], 1_700_000_000.0)
    assert fields is None
    (condition,) = conditions
    assert (condition["type"], condition["status"], condition["reason"]) == (
        "WriteBack",
        "False",
        "UnsupportedSource",
    )
    assert "OCIRepository team-a/podinfo" in condition["message"]
    assert kube.reasons() == ["UnsupportedSource"]
    _, again = await correlate_source(kube, the_canary, target(), "", conditions, 1_700_000_060.0)
    assert again == conditions and kube.reasons() == ["UnsupportedSource"], "one Event per message"
    the_canary["status"] = {"conditions": again}
    assert not write_back_enabled(the_canary, target()), "no intent is queued that could never be written"


def test_a_helm_installed_target_enables_write_back() -> None:
    assert write_back_enabled(canary(TENANT, "podinfo"), target())


# -- write-back edits in both places -------------------------------------------------------------

HR_MANIFEST = """apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
spec:
  values:
    image: ghcr.io/podinfo:6.0.1 # {"$imagepolicy": "team-a:podinfo"}
"""
IMAGE_POLICY = """apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: podinfo
  namespace: team-a
spec:
  imageRepositoryRef:
    name: podinfo
  policy:
    semver:
      range: '>=6.0.0 <7.0.0'
"""
CHART_VALUES = """image:
  repository: ghcr.io/podinfo # {"$gitcanary": "team-a:podinfo:name"}
  tag: 6.0.0 # {"$gitcanary": "team-a:podinfo:tag"}
"""


def _fleet(tmp_path: Path) -> Path:
    (tmp_path / "apps" / "podinfo").mkdir(parents=True)
    (tmp_path / "charts" / "podinfo").mkdir(parents=True)
    (tmp_path / "apps" / "podinfo" / "helmrelease.yaml").write_text(HR_MANIFEST)
    (tmp_path / "charts" / "podinfo" / "values.yaml").write_text(CHART_VALUES)
    (tmp_path / "apps" / "podinfo" / "imagepolicy.yaml").write_text(IMAGE_POLICY)
    return tmp_path


def _intent(kind: str, image: str, previous: str) -> Any:
    return make_intent(
        kind=kind,  # type: ignore[arg-type]
        canary=f"{TENANT}/podinfo",
        revision="abc",
        repository=FLEET,
        branch="main",
        path="./apps/podinfo",
        image=image,
        previous_image=previous,
        result="promoted" if kind == "promotion" else "rolled-back",
        now=0.0,
    )


def test_a_promotion_pins_the_markers_in_the_charts_values(tmp_path: Path) -> None:
    worktree = _fleet(tmp_path)
    notes: list[str] = []
    intent = _intent("promotion", "ghcr.io/podinfo:6.0.2", "ghcr.io/podinfo:6.0.0")
    changed = apply_intent(worktree, intent, notes=notes, also=("./charts/podinfo",))
    values = (worktree / "charts" / "podinfo" / "values.yaml").read_text()
    assert "tag: 6.0.2 #" in values
    assert worktree / "charts" / "podinfo" / "values.yaml" in changed
    assert notes == []


def test_a_rollback_reverts_the_helmrelease_values(tmp_path: Path) -> None:
    worktree = _fleet(tmp_path)
    notes: list[str] = []
    intent = _intent("rollback", "ghcr.io/podinfo:6.0.0", "ghcr.io/podinfo:6.0.1")
    apply_intent(worktree, intent, notes=notes, also=("./charts/podinfo",))
    manifest = (worktree / "apps" / "podinfo" / "helmrelease.yaml").read_text()
    assert "image: ghcr.io/podinfo:6.0.0 #" in manifest
    assert "6.0.1" in (worktree / "apps" / "podinfo" / "imagepolicy.yaml").read_text(), "quarantined"
    assert notes == []


def test_without_the_chart_path_the_promotion_finds_no_marker(tmp_path: Path) -> None:
    worktree = _fleet(tmp_path)
    notes: list[str] = []
    apply_intent(
        worktree, _intent("promotion", "ghcr.io/podinfo:6.0.2", "ghcr.io/podinfo:6.0.0"), notes=notes
    )
    assert notes and "markers under ./apps/podinfo" in notes[0]
