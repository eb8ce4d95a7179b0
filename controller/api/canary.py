"""The `Canary` kind (gitcanary.io/v1beta1): Flagger's spec and status plus `gitops`.

Invariants:
- A Flagger manifest parses unchanged apart from its apiVersion; `from_k8s` accepts any
  mapping (a kopf body, a dict from the Kubernetes client or from YAML).
- `targetRef` and `analysis` are required, as in the CRD; everything else is optional.
- Flagger's runtime defaults that are not CRD defaults are applied by the `effective_*`
  methods, never written into the spec.
"""

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from controller.api.analysis import CanaryAnalysis
from controller.api.gitops import GitOpsSpec
from controller.api.model import ApiModel, ObjectMeta, plain
from controller.api.service import CanaryService
from controller.api.status import CanaryStatus

__all__ = [
    "API_VERSION",
    "GROUP",
    "PROGRESS_DEADLINE_SECONDS",
    "AutoscalerRef",
    "Canary",
    "CanarySpec",
    "IngressRef",
    "PrimaryScalerReplicas",
    "Provider",
    "RouteRef",
    "ScalingSetRef",
    "TargetRef",
    "UpstreamRef",
]

GROUP = "gitcanary.io"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
PROGRESS_DEADLINE_SECONDS = 600

Provider = Literal[
    "apisix",
    "appmesh",
    "appmesh:v1beta2",
    "contour",
    "gatewayapi:v1",
    "gatewayapi:v1beta1",
    "gloo",
    "istio",
    "knative",
    "kubernetes",
    "kuma",
    "linkerd",
    "nginx",
    "osm",
    "skipper",
    "smi:v1alpha1",
    "smi:v1alpha2",
    "smi:v1alpha3",
    "traefik",
]


class TargetRef(ApiModel):
    api_version: str
    kind: Literal["DaemonSet", "Deployment", "Service"]
    name: str


class PrimaryScalerReplicas(ApiModel):
    min_replicas: int | None = Field(default=None, ge=1)
    max_replicas: int | None = Field(default=None, ge=1)


class ScalingSetRef(ApiModel):
    """The KEDA HTTP add-on scaling set that serves the primary's HTTPScaledObject."""

    name: str
    kind: Literal["HTTPScalingSet", "ClusterHTTPScalingSet"] | None = None


class AutoscalerRef(ApiModel):
    """An HPA, a KEDA ScaledObject or a KEDA HTTPScaledObject targeting the workload."""

    api_version: str
    kind: Literal["HorizontalPodAutoscaler", "ScaledObject", "HTTPScaledObject"]
    name: str
    primary_scaler_queries: dict[str, str] = {}
    primary_scaler_replicas: PrimaryScalerReplicas | None = None
    primary_scaling_set: ScalingSetRef | None = None


class IngressRef(ApiModel):
    api_version: str
    kind: Literal["Ingress"]
    name: str


class RouteRef(ApiModel):
    api_version: str
    kind: Literal["ApisixRoute"]
    name: str


class UpstreamRef(ApiModel):
    api_version: str
    kind: Literal["Upstream"]
    name: str
    namespace: str | None = None


class CanarySpec(ApiModel):
    provider: Provider | None = None
    metrics_server: str | None = None
    progress_deadline_seconds: int | None = None
    target_ref: TargetRef
    autoscaler_ref: AutoscalerRef | None = None
    ingress_ref: IngressRef | None = None
    route_ref: RouteRef | None = None
    upstream_ref: UpstreamRef | None = None
    service: CanaryService | None = None
    skip_analysis: bool = False
    revert_on_deletion: bool = False
    suspend: bool = False
    analysis: CanaryAnalysis
    gitops: GitOpsSpec | None = None

    def effective_progress_deadline_seconds(self) -> int:
        """Seconds a rollout may take before it counts as failed (default 600)."""
        if self.progress_deadline_seconds is None:
            return PROGRESS_DEADLINE_SECONDS
        return self.progress_deadline_seconds


class Canary(ApiModel):
    api_version: str = API_VERSION
    kind: str = "Canary"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: CanarySpec
    status: CanaryStatus = Field(default_factory=CanaryStatus)

    @classmethod
    def from_k8s(cls, obj: Mapping[str, Any]) -> "Canary":
        """Parse a Canary from Kubernetes JSON; raises pydantic.ValidationError."""
        return cls.model_validate(plain(obj))

    @property
    def key(self) -> str:
        """`<namespace>/<name>`, the canary's identity in logs, trailers and queues."""
        return f"{self.metadata.namespace}/{self.metadata.name}"

    def to_status_patch(self) -> dict[str, Any]:
        """A merge patch body for the `status` subresource."""
        return self.status.to_patch()
