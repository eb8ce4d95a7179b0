"""Pure translation between the Gateway API HTTPRoute and its KEDA-interceptor form.

The ``gatewayapi`` builders produce an HTTPRoute whose backends are the ``<svc>-primary`` and
``<svc>-canary`` Services. With the KEDA HTTP add-on, traffic must enter through an interceptor
so the workloads can scale to and from zero, so each backend is rewritten:

- canary -> the add-on's default interceptor proxy Service (``keda-add-ons-http-interceptor-proxy``
  in ``keda`` on 8080, or the Canary annotation ``gitcanary.io/keda-http-interceptor:
  <namespace>/<service>:<port>``), which serves the target's HTTPScaledObject;
- primary -> with ``primaryScalingSet``, that scaling set's interceptor proxy
  ``<set>-interceptor-proxy`` (in the add-on namespace for a ClusterHTTPScalingSet, in the
  Canary's namespace for an HTTPScalingSet); without it, the default interceptor;
- the apex Service (``finalize``) -> the canary's interceptor (the target's own HTTPScaledObject);
- a ``RequestMirror`` to the canary Service -> the canary's interceptor.

Every rewritten backend carries a ``RequestHeaderModifier`` setting ``x-gitcanary-backend`` to
``primary`` or ``canary``. The header is how ``to_services`` recognises the backends when it
reads a live route back (both may be the same Service), and how one interceptor tells the primary
HTTPScaledObject (``spec.headers`` matches it) from the target's.

Invariant: ``to_services(to_interceptors(route)) == route`` for every route the gatewayapi
builders produce, so the gatewayapi readers (weights, mirroring, cookies) work unchanged.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from controller.routers.route_objects import ServiceNames
from controller.scalers.keda_http import CANARY_BACKEND, PRIMARY_BACKEND, ROUTING_HEADER

Obj = dict[str, Any]

INTERCEPTOR_ANNOTATION = "gitcanary.io/keda-http-interceptor"
DEFAULT_INTERCEPTOR_NAMESPACE = "keda"
DEFAULT_INTERCEPTOR_SERVICE = "keda-add-ons-http-interceptor-proxy"
DEFAULT_PROXY_PORT = 8080
HEADER_FILTER = "RequestHeaderModifier"


@dataclass(frozen=True)
class ServiceRef:
    namespace: str
    name: str
    port: int

    def backend(self, route_namespace: str) -> Obj:
        ref: Obj = {"group": "", "kind": "Service", "name": self.name}
        if self.namespace != route_namespace:
            ref["namespace"] = self.namespace
        ref["port"] = self.port
        return ref


@dataclass(frozen=True)
class Interceptors:
    """Where the primary's and the canary's traffic enter the add-on."""

    primary: ServiceRef
    canary: ServiceRef


def default_interceptor(annotations: dict[str, str]) -> ServiceRef:
    """The add-on's interceptor proxy: the Canary annotation ``<ns>/<svc>:<port>``, else the chart's."""
    raw = annotations.get(INTERCEPTOR_ANNOTATION)
    if not raw:
        return ServiceRef(DEFAULT_INTERCEPTOR_NAMESPACE, DEFAULT_INTERCEPTOR_SERVICE, DEFAULT_PROXY_PORT)
    namespace, slash, rest = raw.partition("/")
    name, colon, port = rest.partition(":")
    if not slash or not namespace or not name or (colon and not port.isdigit()):
        raise ValueError(
            f"annotation {INTERCEPTOR_ANNOTATION}: {raw!r} is not <namespace>/<service>[:<port>]"
        )
    return ServiceRef(namespace, name, int(port) if colon else DEFAULT_PROXY_PORT)


def scaling_set_interceptor(
    kind: str, name: str, canary_namespace: str, addon: ServiceRef, scaling_set: Obj | None
) -> ServiceRef:
    """The proxy Service the add-on creates for a scaling set, on its configured proxy port."""
    config = (((scaling_set or {}).get("spec") or {}).get("interceptor") or {}).get("config") or {}
    port = int(config.get("proxyPort") or DEFAULT_PROXY_PORT)
    namespace = addon.namespace if kind == "ClusterHTTPScalingSet" else canary_namespace
    return ServiceRef(namespace, f"{name}-interceptor-proxy", port)


def _marker(value: str) -> Obj:
    return {
        "type": HEADER_FILTER,
        "requestHeaderModifier": {"set": [{"name": ROUTING_HEADER, "value": value}]},
    }


def _marked(ref: ServiceRef, namespace: str, source: Obj, value: str) -> Obj:
    out = ref.backend(namespace)
    if "weight" in source:
        out["weight"] = source["weight"]
    others = [f for f in source.get("filters") or [] if f.get("type") != HEADER_FILTER]
    out["filters"] = [*others, _marker(value)]
    return out


def _marker_of(backend: Obj) -> str | None:
    for f in backend.get("filters") or []:
        if f.get("type") == HEADER_FILTER:
            for header in (f.get("requestHeaderModifier") or {}).get("set") or []:
                if str(header.get("name", "")).lower() == ROUTING_HEADER:
                    return str(header.get("value"))
    return None


def _same_service(backend: Obj, ref: ServiceRef, namespace: str) -> bool:
    return (
        backend.get("name") == ref.name
        and (backend.get("namespace") or namespace) == ref.namespace
        and int(backend.get("port") or 0) == ref.port
    )


def to_interceptors(route: Obj, names: ServiceNames, interceptors: Interceptors) -> Obj:
    """The route with its Service backends replaced by the interceptors (pure)."""
    out = copy.deepcopy(route)
    namespace = out["metadata"]["namespace"]
    targets = {
        names.primary: (interceptors.primary, PRIMARY_BACKEND),
        names.canary: (interceptors.canary, CANARY_BACKEND),
        names.apex: (interceptors.canary, CANARY_BACKEND),
    }
    for rule in out["spec"].get("rules") or []:
        rule["backendRefs"] = [
            _marked(targets[b["name"]][0], namespace, b, targets[b["name"]][1])
            if b.get("name") in targets
            else b
            for b in rule.get("backendRefs") or []
        ]
        for f in rule.get("filters") or []:
            mirror = f.get("requestMirror") or {}
            if f.get("type") == "RequestMirror" and mirror.get("backendRef", {}).get("name") == names.canary:
                mirror["backendRef"] = interceptors.canary.backend(namespace)
    return out


def to_services(route: Obj, names: ServiceNames, port: int, interceptors: Interceptors) -> Obj:
    """A live interceptor route seen as the gatewayapi builders wrote it (pure)."""
    out = copy.deepcopy(route)
    namespace = out["metadata"]["namespace"]
    by_marker = {PRIMARY_BACKEND: names.primary, CANARY_BACKEND: names.canary}
    for rule in (out.get("spec") or {}).get("rules") or []:
        backends = []
        for b in rule.get("backendRefs") or []:
            marker = _marker_of(b)
            if marker in by_marker:
                service: Obj = {"group": "", "kind": "Service", "name": by_marker[marker], "port": port}
                if "weight" in b:
                    service["weight"] = b["weight"]
                others = [f for f in b.get("filters") or [] if f.get("type") != HEADER_FILTER]
                if others:
                    service["filters"] = others
                b = service
            backends.append(b)
        rule["backendRefs"] = backends
        for f in rule.get("filters") or []:
            mirror = f.get("requestMirror") or {}
            if f.get("type") == "RequestMirror" and _same_service(
                mirror.get("backendRef") or {}, interceptors.canary, namespace
            ):
                mirror["backendRef"] = {"group": "", "kind": "Service", "name": names.canary, "port": port}
    return out
