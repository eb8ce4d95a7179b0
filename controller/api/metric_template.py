"""The `MetricTemplate` kind: a reusable, provider-specific metric query.

Invariants:
- Fields follow Flagger's CRD; `query` is a Go-template-style string rendered by the metrics
  package with the canary's variables, never here.
"""

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from controller.api.model import ApiModel, LocalObjectRef, ObjectMeta, plain

__all__ = ["MetricProvider", "MetricProviderType", "MetricTemplate", "MetricTemplateSpec"]

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
