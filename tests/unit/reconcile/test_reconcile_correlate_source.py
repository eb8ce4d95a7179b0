"""correlate(): the revision under analysis is the one Flux is applying, even before its status says so."""

from __future__ import annotations

from typing import Any

from controller.reconcile.correlation import correlate
from tests.builders import canary, deployment, flux_applied

OLD, NEW = f"main@sha1:{'a' * 40}", f"main@sha1:{'b' * 40}"


class FluxObjects:
    """Just enough of controller.kube.Kube for correlate(): GETs of Flux objects, empty lists."""

    def __init__(self, applied: str, artifact: str) -> None:
        self.objects = {
            ("Kustomization", "flux-system", "apps"): {
                "spec": {"path": "./apps", "sourceRef": {"kind": "GitRepository", "name": "fleet"}},
                "status": {
                    "lastAppliedRevision": applied,
                    "inventory": {"entries": [{"id": "test_podinfo_apps_Deployment", "v": "v1"}]},
                },
            },
            ("GitRepository", "flux-system", "fleet"): {
                # The platform's repository admits the Canary's namespace (see controller.tenancy).
                "metadata": {"annotations": {"gitcanary.io/allowed-namespaces": "test"}},
                "spec": {"url": "https://git.example.com/fleet.git", "ref": {"branch": "main"}},
                "status": {"artifact": {"revision": artifact, "lastUpdateTime": "2026-11-25T12:00:00Z"}},
            },
        }

    async def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> Any:
        return self.objects.get((kind, namespace or "", name))

    async def list(self, api_version: str, kind: str, namespace: str | None, label_selector: str = "") -> Any:
        return []


async def _correlate(applied: str, artifact: str) -> dict[str, Any]:
    target = flux_applied(deployment("test", "podinfo", "img:2"), "apps", "flux-system")
    fields = await correlate(FluxObjects(applied, artifact), canary("test", "podinfo"), target, "img:2")  # type: ignore[arg-type]
    assert fields is not None
    return fields


async def test_the_artifact_being_applied_wins_over_a_stale_applied_revision() -> None:
    fields = await _correlate(applied=OLD, artifact=NEW)
    assert fields["introducedBy"] == "b" * 40
    assert fields["source"]["revision"] == NEW


async def test_a_settled_kustomization_is_read_as_is() -> None:
    fields = await _correlate(applied=NEW, artifact=NEW)
    assert (fields["introducedBy"], fields["source"]["revision"]) == ("b" * 40, NEW)
    assert "imagePolicies" not in fields, "no ImagePolicy proposed img:2"


async def test_without_an_artifact_the_applied_revision_is_used() -> None:
    fields = await _correlate(applied=OLD, artifact="")
    assert (fields["introducedBy"], fields["source"]["revision"]) == ("a" * 40, OLD)
