"""What the Istio and Gateway API adapters share: names, metadata, ownership, match values.

Invariants:
- the route object is named after the apex Service ``<svc>`` (``spec.service.name``, else the
  target's name) and sends traffic to ``<svc>-primary`` and ``<svc>-canary``;
- every generated object carries a controller ownerReference to the Canary, the label
  ``app.kubernetes.io/managed-by: gitcanary`` and the annotation
  ``kustomize.toolkit.fluxcd.io/reconcile: disabled``, so Flux neither prunes nor fights it;
- the Canary is parsed with the API models once per generation (``parsed_canary``); a Canary the models reject is a ``RouterError``,
  a Canary without ``spec.service`` is an ``UnsupportedFeature`` (routers need a port);
- pass-through parts of the spec are dumped with ``exclude_unset``: exactly what the user wrote,
  never a model default.

Pure module: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from controller.api.analysis import CanaryAnalysis, HeaderMatch
from controller.api.canary import Canary
from controller.api.parsed import parsed_canary
from controller.api.service import CanaryService, ServiceMetadata, StringMatch
from controller.ownership import FLUX_RECONCILE_DISABLED, MANAGED_BY, owner_reference
from controller.routers.base import RouterError, Routes, UnsupportedFeature

Obj = dict[str, Any]

KUBECTL_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ORIGINAL_CONFIGURATION = "gitcanary.io/original-configuration"
FLAGGER_ORIGINAL_CONFIGURATION = "flagger.kubernetes.app/original-configuration"
_NOT_COPIED = (KUBECTL_LAST_APPLIED, ORIGINAL_CONFIGURATION, FLAGGER_ORIGINAL_CONFIGURATION)


@dataclass(frozen=True)
class ServiceNames:
    apex: str
    primary: str
    canary: str


@dataclass(frozen=True)
class RouteContext:
    """A Canary as the routers see it: the raw object (for ownership) and its parsed spec."""

    raw: Obj
    canary: Canary
    service: CanaryService
    analysis: CanaryAnalysis
    names: ServiceNames
    namespace: str

    @property
    def uid(self) -> str:
        return str(self.raw["metadata"].get("uid", ""))


def route_context(canary: Obj, provider: str, placeholder: CanaryService | None = None) -> RouteContext:
    """Parse the Canary; raise ``UnsupportedFeature`` when it has no ``spec.service``, unless a
    ``placeholder`` stands in for it (a mesh that needs no Service, whose port is never written)."""
    try:
        parsed = parsed_canary(canary)
    except ValidationError as exc:
        name = canary.get("metadata", {}).get("name", "?")
        raise RouterError(f"canary {name}: invalid spec: {exc}") from None
    meta = canary["metadata"]
    service = parsed.spec.service or placeholder
    if service is None:
        raise UnsupportedFeature(
            f"canary {meta['namespace']}/{meta['name']}: the {provider} provider needs spec.service"
        )
    apex = service.name or parsed.spec.target_ref.name
    return RouteContext(
        raw=canary,
        canary=parsed,
        service=service,
        analysis=parsed.spec.analysis,
        names=ServiceNames(apex, f"{apex}-primary", f"{apex}-canary"),
        namespace=str(meta["namespace"]),
    )


def unsupported(ctx: RouteContext, provider: str, what: str) -> UnsupportedFeature:
    return UnsupportedFeature(
        f"canary {ctx.namespace}/{ctx.canary.metadata.name}: the {provider} router does not support {what}"
    )


def refuse_features(
    ctx: RouteContext,
    provider: str,
    *,
    ab_testing: bool | str = False,
    mirroring: bool = True,
    affinity: bool = True,
) -> None:
    """Raise ``UnsupportedFeature`` when the Canary asks for what ``provider`` cannot do: A/B
    testing when ``ab_testing`` (a string says why), mirroring and session affinity by default."""
    analysis = ctx.analysis
    if ab_testing and analysis.match:
        why = f": {ab_testing}" if isinstance(ab_testing, str) else ""
        raise unsupported(ctx, provider, f"A/B testing (analysis.match){why}")
    if mirroring and analysis.mirror:
        raise unsupported(ctx, provider, "traffic mirroring (analysis.mirror)")
    if affinity and analysis.session_affinity is not None:
        raise unsupported(ctx, provider, "session affinity (analysis.sessionAffinity)")


def object_metadata(ctx: RouteContext, name: str, extra: ServiceMetadata | None = None) -> Obj:
    """Metadata of a generated object: ``extra`` labels/annotations plus ownership and Flux markers."""
    labels = dict(extra.labels) if extra else {}
    annotations = {k: v for k, v in (extra.annotations if extra else {}).items() if k not in _NOT_COPIED}
    return {
        "name": name,
        "namespace": ctx.namespace,
        "labels": {**labels, **MANAGED_BY},
        "annotations": {**annotations, **FLUX_RECONCILE_DISABLED},
        "ownerReferences": [owner_reference(ctx.raw)],
    }


def owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid for ref in refs)


def dump(model: BaseModel) -> Any:
    """The model as the user wrote it: aliases, no unset fields, no ``None``."""
    return model.model_dump(by_alias=True, exclude_none=True, exclude_unset=True, mode="json")


def prefix_regex(prefix: str) -> str:
    return f"^{re.escape(prefix)}.*"


def suffix_regex(suffix: str) -> str:
    return f".*{re.escape(suffix)}$"


def header_value_match(match: HeaderMatch | StringMatch) -> tuple[str, str] | None:
    """(kind, value) with kind ``exact``, ``prefix`` or ``regex``; a suffix becomes an anchored regex."""
    if match.exact is not None:
        return "exact", match.exact
    if match.prefix is not None:
        return "prefix", match.prefix
    if match.regex is not None:
        return "regex", match.regex
    suffix = getattr(match, "suffix", None)
    if suffix is not None:
        return "regex", suffix_regex(str(suffix))
    return None


def split_or_all_primary(live: Obj | None, read: Callable[[Obj], Routes]) -> Routes:
    """The live object's split, kept across reconciles; all-primary when there is no object yet or
    it does not split between our primary and canary (an adopted or foreign route)."""
    if live is None:
        return Routes(100, 0, False)
    try:
        return read(live)
    except RouterError:
        return Routes(100, 0, False)
