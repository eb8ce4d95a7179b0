"""Pure builders and readers of the canary Ingress generated for the ``nginx`` provider.

Also the Ingress copying shared with the ``skipper`` provider: both routers read the Ingress of
``spec.ingressRef`` (left untouched) and generate ``<ingress>-canary`` from it.

The canary Ingress is the referenced Ingress with every backend ``<svc>`` replaced by
``<svc>-canary``, the same labels and ingress class, the referenced Ingress's annotations
except NGINX canary ones (``<prefix>/canary*``) and ``kubectl.kubernetes.io/last-applied-
configuration``, and these canary annotations (``<prefix>`` is ``nginx.ingress.kubernetes.io``):

- canary weight > 0, weighted: ``canary: "true"``, ``canary-weight: "<w>"``;
- canary weight > 0, A/B testing: ``canary: "true"`` plus ``canary-by-header`` with
  ``canary-by-header-value`` (exact) or ``canary-by-header-pattern`` (prefix, suffix, regex),
  and/or ``canary-by-cookie``;
- canary weight 0: ``canary: "false"`` and nothing else, as Flagger does.

Invariants:
- ``routes_of`` reads the split back from the annotations alone: ``canary`` not ``"true"`` is
  all-primary; A/B annotations mean all matching traffic on the canary (0/100); otherwise
  ``canary-weight`` is the canary share and the primary gets the rest;
- what NGINX cannot express (more than one header, a cookie matched other than exactly, query
  parameters, source labels, mirroring, session affinity) raises ``UnsupportedFeature`` in
  ``check_supported`` before anything is written.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from controller.routers.base import RouterError, Routes, UnsupportedFeature
from controller.routers.route_objects import (
    KUBECTL_LAST_APPLIED,
    RouteContext,
    header_value_match,
    object_metadata,
    prefix_regex,
    refuse_features,
    unsupported,
)

Obj = dict[str, Any]

INGRESS_API = "networking.k8s.io/v1"
PROVIDER = "nginx"
ANNOTATION_PREFIX = "nginx.ingress.kubernetes.io"
COOKIE = "cookie"


def annotation(name: str, prefix: str = ANNOTATION_PREFIX) -> str:
    return f"{prefix}/{name}"


@dataclass(frozen=True)
class AbRule:
    """The A/B condition NGINX can express: one header and/or one cookie."""

    header: str | None = None
    header_value: str | None = None
    header_pattern: str | None = None
    cookie: str | None = None


# -- the Ingress copy (shared with skipper) -----------------------------------------------------
def ingress_name(ctx: RouteContext, provider: str) -> str:
    ref = ctx.canary.spec.ingress_ref
    if ref is None or not ref.name:
        raise UnsupportedFeature(
            f"canary {ctx.namespace}/{ctx.canary.metadata.name}: the {provider} provider needs spec.ingressRef"
        )
    return ref.name


def canary_ingress_name(ctx: RouteContext, provider: str) -> str:
    return f"{ingress_name(ctx, provider)}-canary"


def routes_to(path: Obj, service: str) -> bool:
    return ((path.get("backend") or {}).get("service") or {}).get("name") == service


def copied_annotations(ingress: Obj, dropped_prefix: str | None) -> dict[str, str]:
    """The referenced Ingress's annotations a generated Ingress keeps."""
    kept = {}
    for key, value in (ingress["metadata"].get("annotations") or {}).items():
        if key == KUBECTL_LAST_APPLIED or (dropped_prefix is not None and key.startswith(dropped_prefix)):
            continue
        kept[key] = value
    return kept


def ingress_copy(ctx: RouteContext, ingress: Obj, name: str, spec: Obj, annotations: dict[str, str]) -> Obj:
    """A generated Ingress: ``spec`` plus the source's labels and ``annotations``, owned by the Canary."""
    metadata = object_metadata(ctx, name)
    metadata["labels"] = {**(ingress["metadata"].get("labels") or {}), **metadata["labels"]}
    metadata["annotations"] = {**annotations, **metadata["annotations"]}
    return {"apiVersion": INGRESS_API, "kind": "Ingress", "metadata": metadata, "spec": spec}


# -- NGINX --------------------------------------------------------------------------------------
def check_supported(ctx: RouteContext) -> None:
    ingress_name(ctx, PROVIDER)
    refuse_features(ctx, PROVIDER)
    ab_rule(ctx)


def ab_rule(ctx: RouteContext) -> AbRule | None:
    """The header/cookie condition of ``analysis.match``; ``None`` when not A/B testing."""
    if not ctx.analysis.match:
        return None
    headers: dict[str, tuple[str, str] | None] = {}
    cookie = None
    for match in ctx.analysis.match:
        if match.query_params:
            raise unsupported(ctx, PROVIDER, "query parameter matches (analysis.match[].queryParams)")
        if match.source_labels:
            raise unsupported(ctx, PROVIDER, "source label matches (analysis.match[].sourceLabels)")
        for name, value in match.headers.items():
            if name.lower() == COOKIE:
                if value.exact is None:
                    raise unsupported(ctx, PROVIDER, "cookie matches other than exact (the cookie name)")
                if cookie is not None and cookie != value.exact:
                    raise unsupported(ctx, PROVIDER, "more than one cookie in analysis.match")
                cookie = value.exact
            else:
                headers[name] = header_value_match(value)
    if len(headers) > 1:
        raise unsupported(
            ctx, PROVIDER, f"more than one header in analysis.match ({', '.join(sorted(headers))})"
        )
    rule = AbRule(cookie=cookie)
    for name, found in headers.items():
        if found is None:
            rule = AbRule(header=name, cookie=cookie)
        elif found[0] == "exact":
            rule = AbRule(header=name, header_value=found[1], cookie=cookie)
        else:
            pattern = prefix_regex(found[1]) if found[0] == "prefix" else found[1]
            rule = AbRule(header=name, header_pattern=pattern, cookie=cookie)
    return rule


def canary_spec(ctx: RouteContext, ingress: Obj) -> Obj:
    """The referenced Ingress's spec with every ``<svc>`` backend sent to ``<svc>-canary``."""
    spec = copy.deepcopy(ingress.get("spec") or {})
    found = False
    for rule in spec.get("rules") or []:
        for path in (rule.get("http") or {}).get("paths") or []:
            if routes_to(path, ctx.names.apex):
                path["backend"]["service"]["name"] = ctx.names.canary
                found = True
    if not found:
        name = ingress["metadata"]["name"]
        raise RouterError(f"Ingress {ctx.namespace}/{name} has no backend {ctx.names.apex}")
    return spec


def canary_annotations(ctx: RouteContext, weights: Routes, prefix: str = ANNOTATION_PREFIX) -> dict[str, str]:
    if weights.canary_weight <= 0:
        return {annotation("canary", prefix): "false"}
    out = {annotation("canary", prefix): "true"}
    rule = ab_rule(ctx)
    if rule is None:
        out[annotation("canary-weight", prefix)] = str(weights.canary_weight)
        return out
    if rule.cookie is not None:
        out[annotation("canary-by-cookie", prefix)] = rule.cookie
    if rule.header is not None:
        out[annotation("canary-by-header", prefix)] = rule.header
    if rule.header_value is not None:
        out[annotation("canary-by-header-value", prefix)] = rule.header_value
    if rule.header_pattern is not None:
        out[annotation("canary-by-header-pattern", prefix)] = rule.header_pattern
    return out


def canary_ingress(ctx: RouteContext, ingress: Obj, weights: Routes, prefix: str = ANNOTATION_PREFIX) -> Obj:
    """The ``<ingress>-canary`` Ingress with the given split."""
    annotations = {
        **copied_annotations(ingress, annotation("canary", prefix)),
        **canary_annotations(ctx, weights, prefix),
    }
    return ingress_copy(
        ctx, ingress, canary_ingress_name(ctx, PROVIDER), canary_spec(ctx, ingress), annotations
    )


def routes_of(ingress: Obj, prefix: str = ANNOTATION_PREFIX) -> Routes:
    annotations = ingress["metadata"].get("annotations") or {}
    if annotations.get(annotation("canary", prefix)) != "true":
        return Routes(100, 0, False)
    if any(annotation(k, prefix) in annotations for k in ("canary-by-header", "canary-by-cookie")):
        return Routes(0, 100, False)
    raw = annotations.get(annotation("canary-weight", prefix), "0")
    try:
        weight = int(raw)
    except ValueError:
        raise RouterError(f"Ingress {ingress['metadata']['name']}: invalid canary-weight {raw!r}") from None
    return Routes(100 - weight, weight, False)
