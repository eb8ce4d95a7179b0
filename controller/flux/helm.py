"""HelmRelease correlation: which Flux HelmRelease installed a target, and where its chart and
values live. The rules here are pure, apart from :func:`chart_source`, which follows a
``spec.chartRef`` to its HelmChart.

helm-controller labels every object of a release with ``helm.toolkit.fluxcd.io/name`` and
``/namespace`` (the HelmRelease), and Helm annotates it with ``meta.helm.sh/release-name`` and
``meta.helm.sh/release-namespace``. A HelmRelease (``helm.toolkit.fluxcd.io/v2``) takes its chart
from ``spec.chart.spec`` (``sourceRef``: GitRepository, HelmRepository or Bucket, and ``chart``,
a path in a GitRepository or Bucket, ``valuesFiles`` relative to the source's root) or from
``spec.chartRef`` (an OCIRepository, or a HelmChart whose own ``spec.sourceRef`` names the
source).

Trust rule (there is no inventory of a Helm release on the HelmRelease): the labels are trusted
only when the target's Helm annotations name the HelmRelease's release, i.e. the release name
(``spec.releaseName``, by default ``[<spec.targetNamespace>-]<metadata.name>``, shortened as
helm-controller shortens names over 53 characters) and the release namespace
(``spec.targetNamespace``, by default the HelmRelease's namespace). The namespace rules of
:mod:`controller.tenancy` then apply to the HelmRelease as to a Kustomization.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.kube import Kube

Obj = dict[str, Any]

HELM_NAME = "helm.toolkit.fluxcd.io/name"
HELM_NAMESPACE = "helm.toolkit.fluxcd.io/namespace"
HELMRELEASE_API = "helm.toolkit.fluxcd.io/v2"
HELMCHART_API = "source.toolkit.fluxcd.io/v1"
RELEASE_NAME_ANNOTATION = "meta.helm.sh/release-name"
RELEASE_NAMESPACE_ANNOTATION = "meta.helm.sh/release-namespace"
RELEASE_NAME_MAX = 53
"""Helm's limit; helm-controller shortens a longer default name to 40 characters, a dash and
the first 12 hex digits of the name's SHA-256."""
_SHORT_HASH = 12

GIT_REPOSITORY = "GitRepository"


def helmrelease_of(obj: Obj) -> tuple[str, str] | None:
    """(namespace, name) of the HelmRelease helm-controller's labels name, or None."""
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    name = labels.get(HELM_NAME)
    if not name:
        return None
    return str(labels.get(HELM_NAMESPACE) or meta.get("namespace") or "flux-system"), str(name)


def shorten_release_name(name: str) -> str:
    """helm-controller's ``release.ShortenName``: names over 53 characters become their first
    40 characters, ``-`` and the first 12 hex digits of their SHA-256."""
    if len(name) <= RELEASE_NAME_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:_SHORT_HASH]
    return name[: RELEASE_NAME_MAX - _SHORT_HASH - 1] + "-" + digest


def release_namespace(helmrelease: Obj) -> str:
    """Where the release's objects go: ``spec.targetNamespace``, else the HelmRelease's own."""
    spec = helmrelease.get("spec") or {}
    return str(spec.get("targetNamespace") or (helmrelease.get("metadata") or {}).get("namespace") or "")


def release_name(helmrelease: Obj) -> str:
    """``spec.releaseName``, else ``[<targetNamespace>-]<name>``, shortened like helm-controller."""
    spec = helmrelease.get("spec") or {}
    name = str((helmrelease.get("metadata") or {}).get("name") or "")
    if spec.get("releaseName"):
        return shorten_release_name(str(spec["releaseName"]))
    target_ns = spec.get("targetNamespace")
    return shorten_release_name(f"{target_ns}-{name}" if target_ns else name)


def release_problem(helmrelease: Obj, target: Obj) -> str | None:
    """Why the target's helm-controller labels are not trusted (None: they are): its Helm
    annotations must name the HelmRelease's release name and namespace."""
    meta = target.get("metadata") or {}
    annotations: Mapping[str, str] = meta.get("annotations") or {}
    hr_meta = helmrelease.get("metadata") or {}
    wanted = (release_name(helmrelease), release_namespace(helmrelease))
    found = (annotations.get(RELEASE_NAME_ANNOTATION), annotations.get(RELEASE_NAMESPACE_ANNOTATION))
    if found == wanted:
        return None
    return (
        f"the Flux labels of {target.get('kind')} {meta.get('namespace')}/{meta.get('name')} name "
        f"HelmRelease {hr_meta.get('namespace')}/{hr_meta.get('name')}, whose release is "
        f"{wanted[1]}/{wanted[0]}, but its annotations {RELEASE_NAME_ANNOTATION} and "
        f"{RELEASE_NAMESPACE_ANNOTATION} say {found[1]}/{found[0]}: the labels are not trusted"
    )


@dataclass(frozen=True)
class ChartSource:
    """Where a HelmRelease's chart comes from."""

    kind: str
    """GitRepository, HelmRepository, Bucket or OCIRepository (or HelmChart, when the HelmChart
    a ``chartRef`` names does not exist)."""
    namespace: str
    name: str
    chart: str = ""
    """The chart's path in a GitRepository or Bucket, or its name in a HelmRepository."""
    values_files: tuple[str, ...] = ()
    """``valuesFiles``, relative to the source's root."""

    @property
    def in_git(self) -> bool:
        return self.kind == GIT_REPOSITORY

    def describe(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

    def scan_paths(self) -> tuple[str, ...]:
        """The chart's directory (its ``values.yaml``) and its values files, in the Git source."""
        if not self.in_git:
            return ()
        return tuple(dict.fromkeys(p for p in (self.chart or ".", *self.values_files) if p))


def _template_source(helmrelease: Obj) -> ChartSource | None:
    hr_ns = str((helmrelease.get("metadata") or {}).get("namespace") or "")
    template = ((helmrelease.get("spec") or {}).get("chart") or {}).get("spec") or {}
    ref = template.get("sourceRef") or {}
    if not ref.get("name"):
        return None
    return ChartSource(
        kind=str(ref.get("kind") or ""),
        namespace=str(ref.get("namespace") or hr_ns),
        name=str(ref["name"]),
        chart=str(template.get("chart") or ""),
        values_files=tuple(str(f) for f in template.get("valuesFiles") or []),
    )


async def chart_source(kube: Kube, helmrelease: Obj) -> ChartSource | None:
    """The HelmRelease's chart source: ``spec.chart.spec.sourceRef``, or ``spec.chartRef``
    (an OCIRepository as is; a HelmChart followed to its own ``spec.sourceRef``). None when the
    HelmRelease names none."""
    template = _template_source(helmrelease)
    if template is not None:
        return template
    hr_ns = str((helmrelease.get("metadata") or {}).get("namespace") or "")
    ref = (helmrelease.get("spec") or {}).get("chartRef") or {}
    if not ref.get("name"):
        return None
    kind, namespace, name = str(ref.get("kind") or ""), str(ref.get("namespace") or hr_ns), str(ref["name"])
    if kind != "HelmChart":
        return ChartSource(kind=kind, namespace=namespace, name=name)
    helmchart = await kube.get(HELMCHART_API, "HelmChart", namespace, name)
    if helmchart is None:
        return ChartSource(kind=kind, namespace=namespace, name=name)
    spec = helmchart.get("spec") or {}
    source = spec.get("sourceRef") or {}
    return ChartSource(
        kind=str(source.get("kind") or ""),
        namespace=namespace,  # a HelmChart's sourceRef is local to the HelmChart
        name=str(source.get("name") or ""),
        chart=str(spec.get("chart") or ""),
        values_files=tuple(str(f) for f in spec.get("valuesFiles") or []),
    )


@dataclass(frozen=True)
class HelmPlacement:
    """Where a HelmRelease's markers are: a GitRepository, the directory to scan first, and
    more directories or files (the chart's, when the chart is in that GitRepository)."""

    repository: tuple[str, str]
    path: str
    also: tuple[str, ...]
    kustomization: tuple[str, str] | None
    revision: str


def helm_placement(
    ks_ref: tuple[str, str] | None, kustomization: Obj | None, chart: ChartSource | None
) -> HelmPlacement | None:
    """Pure: the HelmRelease manifest's values (in the GitRepository of the Kustomization that
    applied it) come first; the chart's directory and values files are added when the chart is
    in that same GitRepository, or are the only place when the HelmRelease is not in Git.
    None: neither is in a GitRepository."""
    chart_repo = (chart.namespace, chart.name) if chart is not None and chart.in_git else None
    if kustomization is not None and ks_ref is not None:
        ref = (kustomization.get("spec") or {}).get("sourceRef") or {}
        if ref.get("kind", "GitRepository") == "GitRepository" and ref.get("name"):
            repo = (str(ref.get("namespace") or ks_ref[0]), str(ref["name"]))
            also = chart.scan_paths() if chart is not None and chart_repo == repo else ()
            revision = str((kustomization.get("status") or {}).get("lastAppliedRevision") or "")
            path = str((kustomization.get("spec") or {}).get("path") or "./")
            return HelmPlacement(repo, path, also, ks_ref, revision)
    if chart is not None and chart_repo is not None:
        paths = chart.scan_paths()
        return HelmPlacement(chart_repo, paths[0], paths[1:], None, "")
    return None
