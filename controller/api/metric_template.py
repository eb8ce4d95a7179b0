"""The `MetricTemplate` kind: a reusable, provider-specific metric query.

Invariants:
- Fields follow Flagger's CRD; `query` is a Go-template-style string rendered by the metrics
  package with the canary's variables, never here.
"""

from collections.abc import Mapping
from typing import Any, Final, Literal

from pydantic import Field

from controller.api.model import ApiModel, LocalObjectRef, ObjectMeta, plain

__all__ = [
    "SERVED_PROVIDER_TYPES",
    "MetricProvider",
    "MetricProviderType",
    "MetricTemplate",
    "MetricTemplateSpec",
]

MetricProviderType = Literal[
    "prometheus",
    "influxdb",
    "datadog",
    "externalmetrics",
    "stackdriver",
    "cloudwatch",
    "newrelic",
    "graphite",
    "dynatrace",
    "keptn",
    "splunk",
]

SERVED_PROVIDER_TYPES: Final = (
    "cloudwatch",
    "datadog",
    "dynatrace",
    "externalmetrics",
    "graphite",
    "influxdb",
    "keptn",
    "newrelic",
    "prometheus",
    "splunk",
    "stackdriver",
)
"""The provider types this controller can query: ``controller.metrics.providers.registry`` builds
exactly these (a unit test pins it); the others are Flagger's, refused by validation."""


class MetricProvider(ApiModel):
    type: MetricProviderType
    address: str | None = None
    headers: dict[str, list[str]] = {}
    secret_ref: LocalObjectRef | None = None
    region: str | None = None
    insecure_skip_verify: bool = False


class MetricTemplateSpec(ApiModel):
    provider: MetricProvider
    query: str


class MetricTemplate(ApiModel):
    api_version: str = "gitcanary.io/v1beta1"
    kind: str = "MetricTemplate"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: MetricTemplateSpec

    @classmethod
    def from_k8s(cls, obj: Mapping[str, Any]) -> "MetricTemplate":
        """Parse a MetricTemplate from Kubernetes JSON; raises pydantic.ValidationError."""
        return cls.model_validate(plain(obj))
