"""The ``linkerd``, ``osm`` and ``smi:<version>`` providers: an SMI TrafficSplit per Canary.

The TrafficSplit ``<svc>`` (``split.smi-spec.io``) has ``spec.service`` set to the first of
``spec.service.hosts`` (else ``<svc>``) and two backends, ``<svc>-canary`` and
``<svc>-primary``, in that order, as Flagger writes them. The API version follows Flagger's
router factory: ``linkerd`` uses ``v1alpha1``, ``osm`` uses ``v1alpha2``, and
``smi:v1alpha1`` / ``smi:v1alpha2`` / ``smi:v1alpha3`` use the version they name.

Invariants:
- the live TrafficSplit is the source of truth: ``get_routes`` reads the backend weights and
  ``reconcile`` keeps them; only ``set_routes`` changes them;
- ``v1alpha1`` weights are Kubernetes quantities (written as decimal strings such as ``"10"``,
  as Flagger does; read back in any quantity form, ``"500m"`` included); ``v1alpha2`` and
  ``v1alpha3`` weights are integers;
- SMI splits by weight only: A/B matching, mirroring and session affinity raise
  ``UnsupportedFeature`` before anything is written;
- ``finalize`` deletes a TrafficSplit the Canary owns, so the apex Service takes its traffic
  directly again (Flagger leaves it to garbage collection); one it does not own is left alone.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from controller.kube import Kube
from controller.routers.base import RouterError, Routes, provider_of
from controller.routers.route_objects import (
    RouteContext,
    object_metadata,
    refuse_features,
)
from controller.routers.skeleton import RouteObjectRouter

Obj = dict[str, Any]

GROUP = "split.smi-spec.io"
KIND = "TrafficSplit"
VERSIONS = ("v1alpha1", "v1alpha2", "v1alpha3")
DEFAULT_VERSIONS = {"linkerd": "v1alpha1", "osm": "v1alpha2", "smi": "v1alpha2"}
QUERY_SETS = {"linkerd": "linkerd", "osm": "osm"}
_QUANTITY_SUFFIXES = {"m": Decimal("0.001"), "": Decimal(1), "k": Decimal(1000)}


def split_version(provider: str) -> str:
    """The TrafficSplit version for a provider string (``linkerd``, ``osm``, ``smi:v1alpha3``...)."""
    parts = provider.split(":")
    name = parts[0]
    if name not in DEFAULT_VERSIONS:
        raise RouterError(f"provider {provider!r} is not an SMI provider")
    if len(parts) > 1 and parts[1]:
        if parts[1] not in VERSIONS:
            raise RouterError(f"provider {provider!r}: unknown TrafficSplit version {parts[1]!r}")
        return parts[1]
    return DEFAULT_VERSIONS[name]


def check_supported(ctx: RouteContext, provider: str) -> None:
    refuse_features(ctx, provider, ab_testing="SMI splits by weight only")


def weight_value(version: str, weight: int) -> int | str:
    return str(weight) if version == "v1alpha1" else weight


def parse_weight(value: object) -> int:
    """A backend weight as an integer: an int, or a quantity string (``"10"``, ``"500m"``)."""
    if isinstance(value, bool):
        raise RouterError(f"invalid TrafficSplit weight {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    text = str(value).strip()
    suffix = text[-1:] if text[-1:].isalpha() else ""
    if suffix not in _QUANTITY_SUFFIXES:
        raise RouterError(f"invalid TrafficSplit weight {value!r}")
    try:
        number = Decimal(text[: len(text) - len(suffix)]) * _QUANTITY_SUFFIXES[suffix]
    except InvalidOperation:
        raise RouterError(f"invalid TrafficSplit weight {value!r}") from None
    return int(number)


def traffic_split(ctx: RouteContext, version: str, weights: Routes) -> Obj:
    """The TrafficSplit ``<svc>`` with the given split."""
    names = ctx.names
    service = ctx.service.hosts[0] if ctx.service.hosts else names.apex
    return {
        "apiVersion": f"{GROUP}/{version}",
        "kind": KIND,
        "metadata": object_metadata(ctx, names.apex, ctx.service.apex),
        "spec": {
            "service": service,
            "backends": [
                {"service": names.canary, "weight": weight_value(version, weights.canary_weight)},
                {"service": names.primary, "weight": weight_value(version, weights.primary_weight)},
            ],
        },
    }


def routes_of(split: Obj, primary: str, canary: str) -> Routes:
    """The split of a live TrafficSplit; ``RouterError`` when neither backend has weight."""
    weights = {
        b.get("service"): parse_weight(b.get("weight", 0))
        for b in (split.get("spec") or {}).get("backends") or []
    }
    primary_weight, canary_weight = weights.get(primary, 0), weights.get(canary, 0)
    if primary_weight == 0 and canary_weight == 0:
        meta = split["metadata"]
        raise RouterError(
            f"TrafficSplit {meta.get('namespace')}/{meta['name']} has no weight for {primary} or {canary}"
        )
    return Routes(primary_weight, canary_weight, False)


class SmiRouter(RouteObjectRouter):
    route_kind = KIND

    def __init__(self, kube: Kube, canary: Obj) -> None:
        super().__init__(kube, canary)
        self.provider = provider_of(canary, "linkerd")
        self.version = split_version(self.provider)
        self.route_api_version = f"{GROUP}/{self.version}"

    def check_supported(self, ctx: RouteContext) -> None:
        check_supported(ctx, self.provider)

    def routes_of(self, ctx: RouteContext, live: Obj) -> Routes:
        return routes_of(live, ctx.names.primary, ctx.names.canary)

    async def write_routes(self, ctx: RouteContext, live: Obj | None, weights: Routes) -> None:
        await self.apply(
            traffic_split(ctx, self.version, Routes(weights.primary_weight, weights.canary_weight))
        )

    async def hand_back(self, ctx: RouteContext, live: Obj) -> None:
        await self.delete_if_owned(ctx, live)
