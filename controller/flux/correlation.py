"""Flux correlation: which Kustomization applied a target, from which GitRepository, at which revision.

Flux labels every object it applies with ``kustomize.toolkit.fluxcd.io/name``
and ``/namespace``. From the Kustomization we read ``spec.sourceRef``,
``spec.path`` and ``status.lastAppliedRevision`` (``main@sha1:<sha>``); from the
GitRepository its URL, branch and ``secretRef``. ``spec.gitops`` fields on the
Canary override every inferred value, so an empty ``gitops`` works on a Flux
cluster and an explicit one works without Flux labels.

A target installed by a Flux HelmRelease (helm-controller's ``helm.toolkit.fluxcd.io/name`` and
``/namespace`` labels, see :mod:`controller.flux.helm`) is correlated through the HelmRelease: its
markers live in the HelmRelease manifest's ``spec.values`` (the Kustomization that applied the
HelmRelease names the GitRepository and path) and, when the chart comes from that same
GitRepository, in the chart's ``values.yaml`` and ``valuesFiles`` too (``GitSource.also_paths``).
When neither the HelmRelease manifest nor the chart is in a GitRepository (an OCIRepository,
Bucket or HelmRepository chart, installed by a HelmRelease applied from elsewhere),
:class:`WriteBackUnsupported` names the source: only the write-back is impossible.

Tenancy (:mod:`controller.tenancy`): the labels are trusted only when the Kustomization's
``status.inventory`` lists the target (or, for a HelmRelease, when the target's Helm release
annotations name the HelmRelease's release), and a Canary writes only through a GitRepository in its
own namespace unless the controller flag or the GitRepository's
``gitcanary.io/allowed-namespaces`` annotation allows more; otherwise :class:`SourceRefused`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from controller.api.gitops import GitOpsSpec
from controller.api.model import plain
from controller.api.parsed import parsed_or_none
from controller.errors import PermanentError
from controller.flux.helm import (
    HELM_NAME,
    HELMRELEASE_API,
    ChartSource,
    chart_source,
    helm_placement,
    helmrelease_of,
    release_problem,
)
from controller.kube import Kube
from controller.tenancy import (
    TenancySettings,
    allowed_namespaces,
    branch_problem,
    cross_namespace_problem,
    first_problem,
    inventory_lists,
    kustomization_root,
    path_problem,
    url_problem,
)

Obj = dict[str, Any]

KUSTOMIZE_NAME = "kustomize.toolkit.fluxcd.io/name"
KUSTOMIZE_NAMESPACE = "kustomize.toolkit.fluxcd.io/namespace"
KUSTOMIZATION_API = "kustomize.toolkit.fluxcd.io/v1"
SOURCE_API = "source.toolkit.fluxcd.io/v1"
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"


class SourceNotFound(PermanentError, LookupError):
    """The Git source of a Canary cannot be inferred; the message says what is missing."""


class SourceRefused(SourceNotFound):
    """The tenancy rules refuse the Git source a Canary names (see :mod:`controller.tenancy`);
    the message says which rule, and how a platform team can allow it."""


class WriteBackUnsupported(SourceNotFound):
    """The target's HelmRelease takes its chart and values from no GitRepository (an
    OCIRepository, Bucket or HelmRepository chart): write-back is impossible, analysis is not."""

    def __init__(self, message: str, source_kind: str) -> None:
        super().__init__(message)
        self.source_kind = source_kind


@dataclass(frozen=True)
class GitSource:
    url: str
    branch: str
    path: str
    secret_name: str | None
    namespace: str
    source_name: str
    kustomization: tuple[str, str] | None
    revision: str
    artifact_revision: str = ""
    """The revision source-controller fetched last (``status.artifact.revision``)."""
    artifact_time: str = ""
    """When it fetched it (``status.artifact.lastUpdateTime``, RFC 3339)."""
    helm_release: tuple[str, str] | None = None
    """(namespace, name) of the HelmRelease that installed the target, if one did."""
    also_paths: tuple[str, ...] = ()
    """More directories (or files) the marker scan searches besides ``path``: a HelmRelease
    chart's directory and values files, when the chart is in this GitRepository."""

    def to_status(self) -> Obj:
        status: Obj = {
            "source": {
                "kind": "GitRepository",
                "name": self.source_name,
                "namespace": self.namespace,
                "url": self.url,
                "branch": self.branch,
                "path": self.path,
                "revision": self.revision,
            }
        }
        if self.kustomization:
            status["kustomization"] = {"namespace": self.kustomization[0], "name": self.kustomization[1]}
        return status


def kustomization_of(obj: Obj) -> tuple[str, str] | None:
    labels = obj.get("metadata", {}).get("labels") or {}
    name = labels.get(KUSTOMIZE_NAME)
    if not name:
        return None
    return labels.get(KUSTOMIZE_NAMESPACE) or obj["metadata"].get("namespace", "flux-system"), name


def applied_by_flux(obj: Obj) -> bool:
    """Whether Flux's labels say a Kustomization or a HelmRelease applied ``obj``."""
    return kustomization_of(obj) is not None or helmrelease_of(obj) is not None


def sha_of_revision(revision: str) -> str:
    """``main@sha1:abc`` -> ``abc``; a bare sha is returned as is."""
    return revision.rsplit(":", 1)[-1] if "@" in revision or ":" in revision else revision


async def resolve_source(
    kube: Kube, canary: Obj, target: Obj, tenancy: TenancySettings | None = None
) -> GitSource:
    """The Git source a Canary writes to, from ``spec.gitops`` over Flux's labels.

    Raises SourceNotFound when something is missing, and SourceRefused (before any Secret is
    read) when the tenancy rules of :mod:`controller.tenancy` refuse what the Canary names."""
    settings = tenancy or TenancySettings.from_env()
    hr_ref = helmrelease_of(target)
    if hr_ref is not None and kustomization_of(target) is None:
        return await _resolve_helm(kube, canary, target, hr_ref, settings)
    canary_ns = canary["metadata"]["namespace"]
    gitops = _gitops(canary)
    shown = f"{target['kind']} {canary_ns}/{target['metadata']['name']}"
    ks_ref, kustomization = await _applying_kustomization(kube, target, shown)
    if gitops.source_ref is not None:
        kind, name = gitops.source_ref.kind, gitops.source_ref.name
        namespace = gitops.source_ref.namespace or canary_ns
    elif kustomization is not None and ks_ref is not None:
        ks_source = kustomization["spec"]["sourceRef"]
        kind, name = ks_source.get("kind", "GitRepository"), ks_source["name"]
        namespace = ks_source.get("namespace") or ks_ref[0]
    else:
        raise SourceNotFound(
            f"{target['kind']} {target['metadata']['name']} carries no Flux labels "
            f"({KUSTOMIZE_NAME}) naming an existing Kustomization, and spec.gitops.sourceRef is not set"
        )
    if kind != "GitRepository":
        raise SourceNotFound(f"sourceRef kind {kind} is not a GitRepository")
    repo = await _git_repository(kube, namespace, name)
    branch = _branch(gitops, repo)
    ks_path = (kustomization or {}).get("spec", {}).get("path") or "./"
    applied_by = [("Kustomization", *ks_ref)] if ks_ref else []
    _check_tenancy(canary, settings, (namespace, name, repo), applied_by, branch, ks_path)
    return _git_source(
        repo,
        (namespace, name),
        branch,
        gitops.path or ks_path,
        ks_ref,
        str((kustomization or {}).get("status", {}).get("lastAppliedRevision", "")),
    )


async def _applying_kustomization(
    kube: Kube, obj: Obj, shown: str
) -> tuple[tuple[str, str] | None, Obj | None]:
    """The Kustomization Flux's labels on ``obj`` name, when it exists (else ``(None, None)``);
    SourceRefused when its ``status.inventory`` does not list ``obj`` (``shown`` names it)."""
    ks_ref = kustomization_of(obj)
    if not ks_ref:
        return None, None
    kustomization = await kube.get(KUSTOMIZATION_API, "Kustomization", ks_ref[0], ks_ref[1])
    if kustomization is None:
        return None, None
    if not inventory_lists(kustomization, obj):
        raise SourceRefused(
            f"the Flux labels of {shown} name Kustomization {ks_ref[0]}/{ks_ref[1]}, whose "
            "status.inventory does not list it: the labels are not trusted"
        )
    return ks_ref, kustomization


async def _git_repository(kube: Kube, namespace: str, name: str) -> Obj:
    repo = await kube.get(SOURCE_API, "GitRepository", namespace, name)
    if repo is None:
        raise SourceNotFound(f"GitRepository {namespace}/{name} not found")
    return repo


def _gitops(canary: Obj) -> GitOpsSpec:
    """``spec.gitops`` of the parsed Canary (``{}`` when unset)."""
    parsed = parsed_or_none(canary)
    if parsed is not None:
        return parsed.spec.gitops or GitOpsSpec()
    # The write-back worker still writes a pending decision back after the rest of the spec was
    # broken, as it always did: only spec.gitops is read then (a broken one is a ValueError,
    # which the worker reports).
    return GitOpsSpec.model_validate(plain((canary.get("spec") or {}).get("gitops") or {}))


def _branch(gitops: GitOpsSpec, repo: Obj) -> str:
    return str(gitops.branch or (repo["spec"].get("ref") or {}).get("branch") or "main")


def _git_source(
    repo: Obj,
    repo_key: tuple[str, str],
    branch: str,
    path: str,
    kustomization: tuple[str, str] | None,
    revision: str,
    helm_release: tuple[str, str] | None = None,
    also_paths: tuple[str, ...] = (),
) -> GitSource:
    artifact = (repo.get("status") or {}).get("artifact") or {}
    return GitSource(
        url=repo["spec"]["url"],
        branch=branch,
        path=path,
        secret_name=(repo["spec"].get("secretRef") or {}).get("name"),
        namespace=repo_key[0],
        source_name=repo_key[1],
        kustomization=kustomization,
        revision=revision,
        artifact_revision=str(artifact.get("revision") or ""),
        artifact_time=str(artifact.get("lastUpdateTime") or ""),
        helm_release=helm_release,
        also_paths=also_paths,
    )


async def _resolve_helm(
    kube: Kube, canary: Obj, target: Obj, hr_ref: tuple[str, str], settings: TenancySettings
) -> GitSource:
    """:func:`resolve_source` for a target helm-controller installed (see :mod:`controller.flux.helm`)."""
    canary_ns = canary["metadata"]["namespace"]
    gitops = _gitops(canary)
    shown_hr = f"HelmRelease {hr_ref[0]}/{hr_ref[1]}"
    helmrelease = await kube.get(HELMRELEASE_API, "HelmRelease", *hr_ref)
    if helmrelease is None:
        raise SourceNotFound(
            f"{target['kind']} {target['metadata']['name']} carries Flux labels ({HELM_NAME}) naming "
            f"{shown_hr}, which does not exist"
        )
    problem = release_problem(helmrelease, target)
    if problem:
        raise SourceRefused(problem)
    chart = await chart_source(kube, helmrelease)
    ks_ref, kustomization = await _applying_kustomization(kube, helmrelease, shown_hr)
    placement = helm_placement(ks_ref, kustomization, chart)
    applied_by = [("HelmRelease", *hr_ref), *([("Kustomization", *ks_ref)] if ks_ref else [])]
    if gitops.source_ref is not None:
        repo_key = (gitops.source_ref.namespace or canary_ns, gitops.source_ref.name)
    elif placement is not None:
        repo_key = placement.repository
    else:
        problem = first_problem([cross_namespace_problem("HelmRelease", *hr_ref, canary_ns, settings)])
        if problem:
            raise SourceRefused(problem)
        raise _unsupported(shown_hr, chart, kustomization)
    repo = await _git_repository(kube, *repo_key)
    same = placement is not None and placement.repository == repo_key
    base = placement.path if placement is not None and same else "./"
    also = placement.also if placement is not None and same and not gitops.path else ()
    branch = _branch(gitops, repo)
    _check_tenancy(canary, settings, (*repo_key, repo), applied_by, branch, base, also)
    return _git_source(
        repo,
        repo_key,
        branch,
        gitops.path or base,
        placement.kustomization if placement is not None and same else None,
        placement.revision if placement is not None and same else "",
        hr_ref,
        also,
    )


def _unsupported(shown_hr: str, chart: ChartSource | None, kustomization: Obj | None) -> SourceNotFound:
    if chart is None:
        return SourceNotFound(f"{shown_hr} names no chart (spec.chart.spec.sourceRef or spec.chartRef)")
    if kustomization is not None:
        ks_source = (kustomization.get("spec") or {}).get("sourceRef") or {}
        values = f"its manifest comes from {ks_source.get('kind') or 'a source'} {ks_source.get('name')}"
    else:
        values = "no Kustomization applied it from Git"
    return WriteBackUnsupported(
        f"{shown_hr} takes its chart from {chart.describe()} and {values}: write-back not possible, "
        "gitcanary writes only to a GitRepository (the analysis runs, its outcome is not written "
        "back); set spec.gitops.sourceRef to a GitRepository that holds the markers",
        chart.kind,
    )


def _check_tenancy(
    canary: Obj,
    settings: TenancySettings,
    repository: tuple[str, str, Obj],
    applied_by: list[tuple[str, str, str]],
    branch: str,
    ks_path: str,
    also_paths: tuple[str, ...] = (),
) -> None:
    """Raise SourceRefused when the Canary may not write through ``repository`` (namespace,
    name, object) as it asks to. ``applied_by`` lists the Flux objects (kind, namespace, name)
    that applied the target: a Kustomization, or a HelmRelease and the Kustomization that
    applied it."""
    canary_ns = canary["metadata"]["namespace"]
    gitops = _gitops(canary)
    repo_ns, repo_name, repo = repository
    grant = allowed_namespaces((repo.get("metadata") or {}).get("annotations"))
    problems = [cross_namespace_problem("GitRepository", repo_ns, repo_name, canary_ns, settings, grant)]
    for kind, namespace, name in applied_by:
        # A Kustomization (or HelmRelease) elsewhere is usable under the GitRepository's grant
        # only when it lives beside that GitRepository (the platform's own objects).
        beside = grant if namespace == repo_ns else frozenset()
        problems.append(cross_namespace_problem(kind, namespace, name, canary_ns, settings, beside))
    problems.append(url_problem(str(repo["spec"].get("url") or ""), settings))
    problems.append(branch_problem(branch, "spec.gitops.branch" if gitops.branch else "branch"))
    if gitops.path:
        # A borrowed repository (another namespace's) is written only where its Kustomization
        # applies the target; in the Canary's own repository the bound is the repository.
        within = kustomization_root(ks_path) if repo_ns != canary_ns else "."
        problems.append(path_problem(gitops.path, within))
    for also in also_paths:
        problems.append(path_problem(also, field="HelmRelease chart path"))
    for entry in gitops.promote_to:
        problems.append(path_problem(entry.path, field="spec.gitops.promoteTo[].path"))
        if entry.branch:
            problems.append(branch_problem(entry.branch, "spec.gitops.promoteTo[].branch"))
    problem = first_problem(problems)
    if problem:
        raise SourceRefused(problem)


async def request_reconcile(kube: Kube, source: GitSource, now: dt.datetime | None = None) -> None:
    """Ask Flux to reconcile the GitRepository, the Kustomization and the HelmRelease at once."""
    stamp = (now or dt.datetime.now(dt.UTC)).isoformat()
    patch = {"metadata": {"annotations": {REQUESTED_AT: stamp}}}
    await kube.merge_patch(SOURCE_API, "GitRepository", source.namespace, source.source_name, patch)
    if source.kustomization:
        await kube.merge_patch(KUSTOMIZATION_API, "Kustomization", *source.kustomization, patch)
    if source.helm_release:
        await kube.merge_patch(HELMRELEASE_API, "HelmRelease", *source.helm_release, patch)
