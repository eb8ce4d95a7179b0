"""`spec.service` of a Canary: the apex/primary/canary Services and the route options.

Invariants:
- Fields and nesting follow Flagger's CRD exactly; the router adapters read from here and
  never from raw dicts.
- The Istio-style match types (`StringMatch`, `HttpMatchRequest`) carry the same
  "at most one of exact/prefix/regex" rule as the CRD's `oneOf`; the API server enforces it,
  so the models do not repeat it.
"""

from typing import Literal

from pydantic import Field

from controller.api.model import ApiModel
from controller.api.traffic_policy import TrafficPolicy

__all__ = [
    "BackendRef",
    "CanaryService",
    "CorsPolicy",
    "GatewayRef",
    "HeaderOperation",
    "HeaderOperations",
    "HttpMatchRequest",
    "HttpMirror",
    "HttpRetry",
    "HttpRewrite",
    "ServiceMetadata",
    "StringMatch",
    "UnmanagedMetadata",
]


class StringMatch(ApiModel):
    """An exact, prefix or RE2 regex match on a string."""

    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None


class HttpMatchRequest(ApiModel):
    """An Istio HTTPMatchRequest, applied to the generated routes."""

    authority: StringMatch | None = None
    gateways: list[str] = []
    headers: dict[str, StringMatch] = {}
    ignore_uri_case: bool | None = None
    method: StringMatch | None = None
    name: str | None = None
    port: int | None = None
    query_params: dict[str, StringMatch] = {}
    scheme: StringMatch | None = None
    source_labels: dict[str, str] = {}
    source_namespace: str | None = None
    uri: StringMatch | None = None
    without_headers: dict[str, StringMatch] = {}


class HttpRetry(ApiModel):
    attempts: int | None = None
    per_try_timeout: str | None = None
    retry_on: str | None = None


class HttpRewrite(ApiModel):
    uri: str | None = None
    authority: str | None = None
    type: str | None = None


class BackendRef(ApiModel):
    """A Gateway API backend reference (used by request mirroring)."""

    group: str = ""
    kind: str = "Service"
    name: str
    namespace: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)


class HttpMirror(ApiModel):
    # Optional as in Flagger's CRD, whose `required: [backendRef]` sits on the array, not the items.
    backend_ref: BackendRef | None = None


class HeaderOperation(ApiModel):
    add: dict[str, str] = {}
    remove: list[str] = []
    set: dict[str, str] = {}


class HeaderOperations(ApiModel):
    request: HeaderOperation | None = None
    response: HeaderOperation | None = None


class GatewayRef(ApiModel):
    """A Gateway API parentRef for the generated HTTPRoute."""

    group: str = "gateway.networking.k8s.io"
    kind: str = "Gateway"
    name: str
    namespace: str | None = None
    section_name: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)


class CorsPolicy(ApiModel):
    allow_credentials: bool | None = None
    allow_headers: list[str] = []
    allow_methods: list[str] = []
    allow_origin: list[str] = []
    allow_origins: list[StringMatch] = []
    expose_headers: list[str] = []
    max_age: str | None = None


class ServiceMetadata(ApiModel):
    """Labels and annotations added to the apex, primary or canary Service."""

    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}


class UnmanagedMetadata(ApiModel):
    """Metadata keys the controller must leave alone on the generated objects."""

    annotations: list[str] = []
    labels: list[str] = []


class CanaryService(ApiModel):
    """How the apex, primary and canary Services and the routes are generated."""

    name: str | None = None
    port: int
    port_name: str | None = None
    app_protocol: str | None = None
    traffic_distribution: Literal["PreferClose", "PreferSameZone", "PreferSameNode"] | None = None
    target_port: int | str | None = None
    port_discovery: bool = False
    headless: bool = False
    timeout: str | None = None
    backend_timeout: str | None = None
    mesh_name: str | None = None
    backends: list[str] = []
    hosts: list[str] = []
    delegation: bool = False
    match: list[HttpMatchRequest] = []
    retries: HttpRetry | None = None
    rewrite: HttpRewrite | None = None
    mirror: list[HttpMirror] = []
    headers: HeaderOperations | None = None
    gateways: list[str] = []
    gateway_refs: list[GatewayRef] = Field(default=[], max_length=32)
    cors_policy: CorsPolicy | None = None
    traffic_policy: TrafficPolicy | None = None
    apex: ServiceMetadata | None = None
    primary: ServiceMetadata | None = None
    canary: ServiceMetadata | None = None
    unmanaged_metadata: UnmanagedMetadata | None = None
