"""Flux correlation: the owning Kustomization, revision parsing, the status block, and the
source a Canary may write to under the tenancy rules."""

from __future__ import annotations

from typing import Any

import pytest

from controller.flux.correlation import (
    GitSource,
    SourceNotFound,
    SourceRefused,
    kustomization_of,
    resolve_source,
    sha_of_revision,
)
from controller.tenancy import TenancySettings
from tests.builders import canary, deployment, flux_applied, git_repository, kustomization


def test_kustomization_from_flux_labels() -> None:
    obj = flux_applied(deployment("test", "podinfo", "img:1"), "apps", "flux-system")
    assert kustomization_of(obj) == ("flux-system", "apps")


def test_kustomization_namespace_defaults_to_the_objects_namespace() -> None:
    obj = flux_applied(deployment("test", "podinfo", "img:1"), "apps")
    del obj["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/namespace"]
    assert kustomization_of(obj) == ("test", "apps")


@pytest.mark.parametrize("labels", [None, {}, {"app": "podinfo"}, {"kustomize.toolkit.fluxcd.io/name": ""}])
def test_no_flux_labels_means_no_kustomization(labels: dict[str, str] | None) -> None:
    obj = deployment("test", "podinfo", "img:1")
    if labels is not None:
        obj["metadata"]["labels"] = labels
    assert kustomization_of(obj) is None


@pytest.mark.parametrize(
    ("revision", "sha"),
    [
        ("main@sha1:0123456789abcdef0123456789abcdef01234567", "0123456789abcdef0123456789abcdef01234567"),
        ("refs/tags/v1.2.3@sha1:abc123", "abc123"),
        ("sha1:abc123", "abc123"),
        ("abc123", "abc123"),
        ("feature/x@sha256:" + "f" * 64, "f" * 64),
    ],
)
def test_sha_of_revision(revision: str, sha: str) -> None:
    assert sha_of_revision(revision) == sha


def source(kustomization: tuple[str, str] | None) -> GitSource:
    return GitSource(
        url="https://git.example.com/fleet.git",
        branch="main",
        path="./apps",
        secret_name="git-auth",
        namespace="flux-system",
        source_name="fleet",
        kustomization=kustomization,
        revision="main@sha1:abc",
    )


def test_to_status_with_kustomization() -> None:
    assert source(("flux-system", "apps")).to_status() == {
        "source": {
            "kind": "GitRepository",
            "name": "fleet",
            "namespace": "flux-system",
            "url": "https://git.example.com/fleet.git",
            "branch": "main",
            "path": "./apps",
            "revision": "main@sha1:abc",
        },
        "kustomization": {"namespace": "flux-system", "name": "apps"},
    }


def test_to_status_without_kustomization_never_exposes_the_secret() -> None:
    status = source(None).to_status()
    assert set(status) == {"source"}
    assert "git-auth" not in repr(status)


# -- resolve_source under the tenancy rules ------------------------------------------------------

TENANT, PLATFORM = "team-a", "flux-system"
FLEET_URL = "https://git.example.com/fleet.git"
SECURE_DEFAULTS = TenancySettings()


class FluxCluster:
    """Just enough of controller.kube.Kube for resolve_source(): GETs by (kind, namespace, name)."""

    def __init__(self, *objects: dict[str, Any]) -> None:
        self.objects = {(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects}
        self.reads: list[tuple[str, str, str]] = []

    async def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> Any:
        self.reads.append((kind, namespace or "", name))
        return self.objects.get((kind, namespace or "", name))


def tenant_target() -> dict[str, Any]:
    return flux_applied(deployment(TENANT, "podinfo", "img:1"), "apps", PLATFORM)


def platform(*, listed: bool = True, allowed: str | None = None, url: str = FLEET_URL) -> FluxCluster:
    """The platform's GitRepository and Kustomization in flux-system, applying ``tenant_target()``
    when ``listed``."""
    applied = (tenant_target(),) if listed else ()
    return FluxCluster(
        git_repository(PLATFORM, "fleet", url, secret="fleet-auth", allowed_namespaces=allowed),
        kustomization(PLATFORM, "apps", "fleet", "./apps", applied),
    )


async def resolve(
    cluster: FluxCluster, gitops: dict[str, Any] | None = None, tenancy: TenancySettings = SECURE_DEFAULTS
) -> GitSource:
    the_canary = canary(TENANT, "podinfo")
    if gitops is not None:
        the_canary["spec"]["gitops"] = gitops
    return await resolve_source(cluster, the_canary, tenant_target(), tenancy)  # type: ignore[arg-type]


async def test_forged_flux_labels_are_refused_before_any_secret_is_read() -> None:
    cluster = platform(listed=False, allowed="*")
    with pytest.raises(SourceRefused, match=r"status\.inventory does not list it"):
        await resolve(cluster, tenancy=TenancySettings(allow_cross_namespace_refs=True))
    assert all(kind != "Secret" for kind, _, _ in cluster.reads)


async def test_a_platform_repository_is_refused_to_other_namespaces_by_default() -> None:
    with pytest.raises(SourceRefused, match="GitRepository flux-system/fleet is outside"):
        await resolve(platform())


async def test_the_repository_annotation_admits_the_tenant() -> None:
    source = await resolve(platform(allowed=f"team-z,{TENANT}"))
    assert (source.namespace, source.source_name, source.kustomization) == (
        PLATFORM,
        "fleet",
        (PLATFORM, "apps"),
    )
    assert source.path == "./apps" and source.secret_name == "fleet-auth"
    with pytest.raises(SourceRefused):
        await resolve(platform(allowed="team-z"))


async def test_the_controller_flag_admits_every_namespace() -> None:
    source = await resolve(platform(), tenancy=TenancySettings(allow_cross_namespace_refs=True))
    assert source.url == FLEET_URL


async def test_an_explicit_source_ref_elsewhere_is_refused_and_defaults_to_the_canary_namespace() -> None:
    cluster = platform()
    with pytest.raises(SourceRefused, match="GitRepository flux-system/fleet"):
        await resolve(cluster, {"sourceRef": {"name": "fleet", "namespace": PLATFORM}})
    with pytest.raises(SourceNotFound, match=f"GitRepository {TENANT}/fleet not found"):
        await resolve(
            FluxCluster(git_repository(PLATFORM, "fleet", FLEET_URL)), {"sourceRef": {"name": "fleet"}}
        )


@pytest.mark.parametrize(
    ("gitops", "says"),
    [
        ({"path": "./"}, "leaves the Kustomization's path ./apps"),
        ({"path": "./apps/../platform"}, "leaves the Kustomization's path"),
        ({"path": "../../etc"}, "leaves the repository"),
        ({"path": "/apps"}, "absolute"),
        ({"branch": "--upload-pack=id"}, "spec.gitops.branch"),
        ({"branch": "main..x"}, "not a valid branch name"),
        ({"promoteTo": [{"path": "../prod"}]}, "promoteTo[].path"),
        ({"promoteTo": [{"path": "./prod", "branch": "-x"}]}, "promoteTo[].branch"),
    ],
)
async def test_tenant_supplied_paths_and_branches_are_checked(gitops: dict[str, Any], says: str) -> None:
    with pytest.raises(SourceRefused) as refused:
        await resolve(platform(allowed=TENANT), gitops)
    assert says in str(refused.value)


async def test_a_path_inside_the_kustomization_and_a_promotion_elsewhere_in_the_repository_are_allowed() -> (
    None
):
    gitops = {
        "path": "./apps/podinfo",
        "promoteTo": [{"path": "./clusters/production", "branch": "release/1"}],
    }
    assert (await resolve(platform(allowed=TENANT), gitops)).path == "./apps/podinfo"


@pytest.mark.parametrize("url", ["file:///srv/fleet.git", "/srv/fleet.git", "ext::sh%20-c%20id"])
async def test_local_and_helper_remotes_are_refused(url: str) -> None:
    with pytest.raises(SourceRefused, match="repository URL"):
        await resolve(platform(allowed=TENANT, url=url))


async def test_file_remotes_are_allowed_behind_their_flag() -> None:
    settings = TenancySettings(allow_file_remotes=True)
    source = await resolve(platform(allowed=TENANT, url="file:///srv/fleet.git"), tenancy=settings)
    assert source.url == "file:///srv/fleet.git"


async def test_a_kustomization_of_a_third_namespace_is_not_covered_by_the_repository_annotation() -> None:
    target = tenant_target()
    target["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/namespace"] = "other"
    cluster = FluxCluster(
        git_repository(PLATFORM, "fleet", FLEET_URL, allowed_namespaces=TENANT),
        {
            **kustomization("other", "apps", "fleet", "./apps", (target,)),
            "spec": {
                "path": "./apps",
                "sourceRef": {"kind": "GitRepository", "name": "fleet", "namespace": PLATFORM},
            },
        },
    )
    with pytest.raises(SourceRefused, match="Kustomization other/apps"):
        await resolve_source(cluster, canary(TENANT, "podinfo"), target, TenancySettings())  # type: ignore[arg-type]



def own_target() -> dict[str, Any]:
    return flux_applied(deployment(TENANT, "podinfo", "img:1"), "apps", TENANT)


def own_repository() -> FluxCluster:
    """The tenant's own GitRepository and Kustomization, in the tenant's namespace."""
    return FluxCluster(
        git_repository(TENANT, "own", FLEET_URL, secret="own-auth"),
        kustomization(TENANT, "apps", "own", "./apps/podinfo", (own_target(),)),
    )


async def test_in_its_own_repository_a_canary_may_mark_paths_beside_its_kustomization() -> None:
    """The Kustomization bound protects a borrowed (platform) repository; in the tenant's own
    repository, whose credentials are the tenant's, the bound is the repository itself."""
    the_canary = canary(TENANT, "podinfo")
    the_canary["spec"]["gitops"] = {"path": "./apps"}
    source = await resolve_source(own_repository(), the_canary, own_target(), SECURE_DEFAULTS)  # type: ignore[arg-type]
    assert source.path == "./apps"
    the_canary["spec"]["gitops"] = {"path": "../../etc"}
    with pytest.raises(SourceRefused, match="leaves the repository"):
        await resolve_source(own_repository(), the_canary, own_target(), SECURE_DEFAULTS)  # type: ignore[arg-type]
