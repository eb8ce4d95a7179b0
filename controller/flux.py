"""Flux correlation: which Kustomization applied a target, from which GitRepository, at which revision.

Flux labels every object it applies with ``kustomize.toolkit.fluxcd.io/name``
and ``/namespace``. From the Kustomization we read ``spec.sourceRef``,
``spec.path`` and ``status.lastAppliedRevision`` (``main@sha1:<sha>``); from the
GitRepository its URL, branch and ``secretRef``. ``spec.gitops`` fields on the
Canary override every inferred value, so an empty ``gitops`` works on a Flux
cluster and an explicit one works without Flux labels.

Tenancy (:mod:`controller.tenancy`): the labels are trusted only when the Kustomization's
``status.inventory`` lists the target, and a Canary writes only through a GitRepository in its
own namespace unless the controller flag or the GitRepository's
``gitcanary.io/allowed-namespaces`` annotation allows more; otherwise :class:`SourceRefused`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

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


class SourceNotFound(LookupError):
    """The Git source of a Canary cannot be inferred; the message says what is missing."""


class SourceRefused(SourceNotFound):
    """The tenancy rules refuse the Git source a Canary names (see :mod:`controller.tenancy`);
    the message says which rule, and how a platform team can allow it."""


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
    canary_ns = canary["metadata"]["namespace"]
    gitops = canary["spec"].get("gitops") or {}
    source_ref = gitops.get("sourceRef") or {}
    ks_ref = kustomization_of(target)
    kustomization = None
    if ks_ref:
        kustomization = await kube.get(KUSTOMIZATION_API, "Kustomization", ks_ref[0], ks_ref[1])
        if kustomization is not None and not inventory_lists(kustomization, target):
            raise SourceRefused(
                f"the Flux labels of {target['kind']} {canary_ns}/{target['metadata']['name']} name "
                f"Kustomization {ks_ref[0]}/{ks_ref[1]}, whose status.inventory does not list it: "
                "the labels are not trusted"
            )
    if source_ref:
        namespace = source_ref.get("namespace") or canary_ns
    elif kustomization is not None and ks_ref is not None:
        source_ref = kustomization["spec"]["sourceRef"]
        namespace = source_ref.get("namespace") or ks_ref[0]
    else:
        raise SourceNotFound(
            f"{target['kind']} {target['metadata']['name']} carries no Flux labels "
            f"({KUSTOMIZE_NAME}) naming an existing Kustomization, and spec.gitops.sourceRef is not set"
        )
    if source_ref.get("kind", "GitRepository") != "GitRepository":
        raise SourceNotFound(f"sourceRef kind {source_ref.get('kind')} is not a GitRepository")
    repo = await kube.get(SOURCE_API, "GitRepository", namespace, source_ref["name"])
    if repo is None:
        raise SourceNotFound(f"GitRepository {namespace}/{source_ref['name']} not found")
    ref = repo["spec"].get("ref") or {}
    branch = gitops.get("branch") or ref.get("branch") or "main"
    ks_path = (kustomization or {}).get("spec", {}).get("path") or "./"
    path = gitops.get("path") or ks_path
    trusted_ks = ks_ref if kustomization is not None else None
    _check_tenancy(canary, settings, (namespace, source_ref["name"], repo), trusted_ks, branch, ks_path)
    revision = str((kustomization or {}).get("status", {}).get("lastAppliedRevision", ""))
    secret = (repo["spec"].get("secretRef") or {}).get("name")
    artifact = (repo.get("status") or {}).get("artifact") or {}
    return GitSource(
        url=repo["spec"]["url"],
        branch=branch,
        path=path,
        secret_name=secret,
        namespace=namespace,
        source_name=source_ref["name"],
        kustomization=ks_ref if kustomization is not None else None,
        revision=revision,
        artifact_revision=str(artifact.get("revision") or ""),
        artifact_time=str(artifact.get("lastUpdateTime") or ""),
    )


def _check_tenancy(
    canary: Obj,
    settings: TenancySettings,
    repository: tuple[str, str, Obj],
    ks_ref: tuple[str, str] | None,
    branch: str,
    ks_path: str,
) -> None:
    """Raise SourceRefused when the Canary may not write through ``repository`` (namespace,
    name, object) as it asks to."""
    canary_ns = canary["metadata"]["namespace"]
    gitops = canary["spec"].get("gitops") or {}
    repo_ns, repo_name, repo = repository
    grant = allowed_namespaces((repo.get("metadata") or {}).get("annotations"))
    problems = [cross_namespace_problem("GitRepository", repo_ns, repo_name, canary_ns, settings, grant)]
    if ks_ref is not None:
        # A Kustomization elsewhere is usable under the GitRepository's grant only when it lives
        # beside that GitRepository (the platform's own Kustomizations).
        ks_grant = grant if ks_ref[0] == repo_ns else frozenset()
        problems.append(cross_namespace_problem("Kustomization", *ks_ref, canary_ns, settings, ks_grant))
    problems.append(url_problem(str(repo["spec"].get("url") or ""), settings))
    problems.append(branch_problem(branch, "spec.gitops.branch" if gitops.get("branch") else "branch"))
    if gitops.get("path"):
        problems.append(path_problem(str(gitops["path"]), kustomization_root(ks_path)))
    for entry in gitops.get("promoteTo") or []:
        problems.append(path_problem(str(entry.get("path") or ""), field="spec.gitops.promoteTo[].path"))
        if entry.get("branch"):
            problems.append(branch_problem(str(entry["branch"]), "spec.gitops.promoteTo[].branch"))
    problem = first_problem(problems)
    if problem:
        raise SourceRefused(problem)


async def request_reconcile(kube: Kube, source: GitSource, now: dt.datetime | None = None) -> None:
    """Ask Flux to reconcile the GitRepository and the Kustomization at once."""
    stamp = (now or dt.datetime.now(dt.UTC)).isoformat()
    patch = {"metadata": {"annotations": {REQUESTED_AT: stamp}}}
    await kube.merge_patch(SOURCE_API, "GitRepository", source.namespace, source.source_name, patch)
    if source.kustomization:
        await kube.merge_patch(KUSTOMIZATION_API, "Kustomization", *source.kustomization, patch)
