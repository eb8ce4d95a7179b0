"""The ``knative`` provider: traffic percentages between two revisions of one Knative Service.

The Canary's target is the Knative Service itself (``targetRef`` ``serving.knative.dev/v1``
``Service``); there are no generated Services and no primary workload. As Flagger 1.44's Knative
router, the route object is that Service's ``spec.traffic``:

- the primary is a pinned revision, named in the annotation ``gitcanary.io/primary-revision``
  (Flagger's ``flagger.app/primary-revision`` is read when ours is absent, for canaries that
  Flagger managed before); ``reconcile`` pins ``status.latestCreatedRevisionName`` when there is
  no pin yet;
- the canary is whatever revision is latest: ``[{latestRevision: true, percent: <canary>},
  {revisionName: <primary>, percent: <primary>}]``;
- the split is read from ``status.traffic`` once Knative has observed the Service's generation
  (what Knative really serves, as Flagger reads it), else from ``spec.traffic`` (what was asked);
- only ``metadata.annotations[<pin>]`` and ``spec.traffic`` are written, by server-side apply: the
  Service is the user's and never gets an ownerReference;
- ``finalize`` (``revertOnDeletion``) removes the pin and sends all traffic to the latest revision
  (Flagger only removes the pin and leaves the last split in place).

A/B testing, mirroring and session affinity are refused: a Knative traffic target has no match
and no mirror.
"""

from __future__ import annotations

from typing import Any

from controller.api.service import CanaryService
from controller.kube import KubeError
from controller.routers.base import RouterError, Routes
from controller.routers.route_objects import RouteContext, refuse_features, route_context
from controller.routers.skeleton import RouteObjectRouter

Obj = dict[str, Any]

PROVIDER = "knative"
API_VERSION = "serving.knative.dev/v1"
KIND = "Service"
PLACEHOLDER_SERVICE = CanaryService(port=80)
"""Stands in for a missing ``spec.service`` (Flagger's example has none); never written."""
PRIMARY_REVISION = "gitcanary.io/primary-revision"
FLAGGER_PRIMARY_REVISION = "flagger.app/primary-revision"


def check_supported(ctx: RouteContext) -> None:
    refuse_features(ctx, PROVIDER, ab_testing=True)


def pinned_revision(live: Obj) -> str | None:
    """The primary revision the Service is pinned to (ours, else Flagger's annotation)."""
    annotations = live.get("metadata", {}).get("annotations") or {}
    return annotations.get(PRIMARY_REVISION) or annotations.get(FLAGGER_PRIMARY_REVISION) or None


def traffic_of(live: Obj) -> list[Obj]:
    """``status.traffic`` once Knative observed the current generation, else ``spec.traffic``."""
    status = live.get("status") or {}
    generation = int(live.get("metadata", {}).get("generation") or 0)
    if status.get("traffic") and int(status.get("observedGeneration") or 0) >= generation:
        return list(status["traffic"])
    return list((live.get("spec") or {}).get("traffic") or [])


def routes_of(live: Obj) -> Routes:
    """The split between the pinned primary revision and the latest one."""
    name = live["metadata"]["name"]
    primary = pinned_revision(live)
    if primary is None:
        raise RouterError(f"Knative Service {name} has no {PRIMARY_REVISION} annotation")
    traffic = traffic_of(live)
    latest = next((t for t in traffic if t.get("latestRevision") is True), None)
    pinned = next(
        (t for t in traffic if t.get("revisionName") == primary and not t.get("latestRevision")), None
    )
    if latest is None or pinned is None:
        raise RouterError(f"Knative Service {name} does not split between the latest revision and {primary}")
    if latest.get("percent") is None or pinned.get("percent") is None:
        raise RouterError(f"Knative Service {name}: a traffic target has no percent")
    return Routes(int(pinned["percent"]), int(latest["percent"]))


def traffic_patch(ctx: RouteContext, name: str, primary: str, weights: Routes) -> Obj:
    """The apply body: the pin and the two traffic targets, nothing else of the Service."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "namespace": ctx.namespace, "annotations": {PRIMARY_REVISION: primary}},
        "spec": {
            "traffic": [
                {"latestRevision": True, "percent": weights.canary_weight},
                {"latestRevision": False, "revisionName": primary, "percent": weights.primary_weight},
            ]
        },
    }


def hand_back_patch(live: Obj) -> Obj:
    """A merge patch: no pin, all traffic to the latest revision."""
    return {
        "metadata": {"annotations": {PRIMARY_REVISION: None, FLAGGER_PRIMARY_REVISION: None}},
        "spec": {"traffic": [{"latestRevision": True, "percent": 100}]},
    }


class KnativeRouter(RouteObjectRouter):
    provider = PROVIDER
    route_kind = KIND
    route_api_version = API_VERSION

    def read_context(self) -> RouteContext:
        """A Knative Canary needs no ``spec.service`` (Flagger's example has none): the routes are
        revisions of the target, so a placeholder port stands in and is never written."""
        return route_context(self.canary, self.provider, placeholder=PLACEHOLDER_SERVICE)

    def route_name(self, ctx: RouteContext) -> str:
        return ctx.canary.spec.target_ref.name

    def check_supported(self, ctx: RouteContext) -> None:
        check_supported(ctx)

    def routes_of(self, ctx: RouteContext, live: Obj) -> Routes:
        return routes_of(live)

    async def write_routes(self, ctx: RouteContext, live: Obj | None, weights: Routes) -> None:
        if live is None:
            raise RouterError(f"{self.describe(ctx)} not found")
        primary = pinned_revision(live) or (live.get("status") or {}).get("latestCreatedRevisionName")
        if not primary:
            raise RouterError(f"{self.describe(ctx)} has no revision yet (status.latestCreatedRevisionName)")
        await self.apply(traffic_patch(ctx, self.route_name(ctx), str(primary), weights))

    async def pin_latest(self) -> str:
        """Promotion: the latest revision becomes the primary (Flagger's ``Promote``)."""
        ctx = self.context()
        live = await self.live(ctx)
        latest = ((live or {}).get("status") or {}).get("latestCreatedRevisionName")
        if live is None or not latest:
            raise RouterError(f"{self.describe(ctx)} has no latest revision to promote")
        await self.apply(traffic_patch(ctx, self.route_name(ctx), str(latest), Routes(100, 0)))
        return str(latest)

    async def hand_back(self, ctx: RouteContext, live: Obj) -> None:
        try:
            await self.kube.merge_patch(
                API_VERSION, KIND, ctx.namespace, self.route_name(ctx), hand_back_patch(live)
            )
        except KubeError as exc:
            raise RouterError(f"{self.describe(ctx)}: {exc}") from exc
