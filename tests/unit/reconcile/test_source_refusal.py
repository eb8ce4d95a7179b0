"""correlate_source(): a refused source is a SourceAllowed=False condition and one Warning Event."""

from __future__ import annotations

from typing import Any

from controller.reconcile.correlation import SOURCE_ALLOWED, correlate_source
from tests.builders import canary, deployment, flux_applied, git_repository, kustomization

Obj = dict[str, Any]
NOW = 1_800_000_000.0


class Cluster:
    """GETs by (kind, namespace, name), empty lists, and the Events created."""

    def __init__(self, *objects: Obj) -> None:
        self.objects = {(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects}
        self.events: list[Obj] = []

    async def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> Any:
        return self.objects.get((kind, namespace or "", name))

    async def list(self, api_version: str, kind: str, namespace: str | None, label_selector: str = "") -> Any:
        return []

    async def create(self, obj: Obj) -> Obj:
        self.events.append(obj)
        return obj


def forged() -> tuple[Cluster, Obj, Obj]:
    """A tenant Deployment labelled as applied by the platform's Kustomization, which never applied it."""
    target = flux_applied(deployment("team-a", "podinfo", "img:2"), "apps", "flux-system")
    cluster = Cluster(
        git_repository("flux-system", "fleet", "https://git.example.com/fleet.git", allowed_namespaces="*"),
        kustomization("flux-system", "apps", "fleet", "./apps"),
    )
    return cluster, canary("team-a", "podinfo"), target


async def test_a_refusal_sets_the_condition_and_records_one_warning_event() -> None:
    cluster, the_canary, target = forged()
    old = [{"type": "Valid", "status": "True", "reason": "Valid"}]

    fields, conditions = await correlate_source(cluster, the_canary, target, "img:2", old, NOW)  # type: ignore[arg-type]

    assert fields is None
    refused = next(c for c in conditions if c["type"] == SOURCE_ALLOWED)
    assert (refused["status"], refused["reason"]) == ("False", "SourceRefused")
    assert "flux-system/apps" in refused["message"] and "not trusted" in refused["message"]
    assert [c["type"] for c in conditions] == ["Valid", SOURCE_ALLOWED]
    assert [(e["type"], e["reason"]) for e in cluster.events] == [("Warning", "SourceRefused")]
    assert cluster.events[0]["message"] == refused["message"]

    again, kept = await correlate_source(cluster, the_canary, target, "img:2", conditions, NOW + 10)  # type: ignore[arg-type]
    assert again is None and kept == conditions, "the same refusal is not announced twice"
    assert len(cluster.events) == 1


async def test_a_source_allowed_again_drops_the_refusal() -> None:
    cluster, the_canary, target = forged()
    _, conditions = await correlate_source(cluster, the_canary, target, "", [], NOW)  # type: ignore[arg-type]
    cluster.objects[("Kustomization", "flux-system", "apps")] = kustomization(
        "flux-system", "apps", "fleet", "./apps", (target,)
    )

    fields, cleared = await correlate_source(cluster, the_canary, target, "", conditions, NOW + 10)  # type: ignore[arg-type]

    assert fields is not None and fields["kustomization"] == {"namespace": "flux-system", "name": "apps"}
    assert cleared == []


async def test_an_explicit_source_ref_elsewhere_is_refused_without_flux_labels() -> None:
    cluster = Cluster(git_repository("flux-system", "fleet", "https://git.example.com/fleet.git"))
    the_canary = canary("team-a", "podinfo")
    the_canary["spec"]["gitops"] = {"sourceRef": {"name": "fleet", "namespace": "flux-system"}}

    fields, conditions = await correlate_source(
        cluster,  # type: ignore[arg-type]
        the_canary,
        deployment("team-a", "podinfo", "img:2"),
        "",
        [],
        NOW,
    )

    assert fields is None and conditions[0]["reason"] == "SourceRefused"
    assert "GitRepository flux-system/fleet" in conditions[0]["message"]
