"""Metric analysis: query templates, providers, built-in queries and threshold checks.

Layering: ``template``, ``builtin`` and ``durations`` are pure; ``providers`` do HTTP
with explicit timeouts; ``checks`` combines them. Nothing here imports Kubernetes.
"""

from controller.metrics.builtin import BUILTIN_METRICS, BuiltinQuery, builtin_query, is_builtin
from controller.metrics.checks import MetricCheck, MetricResult, TemplateSpec, evaluate
from controller.metrics.errors import (
    MetricsError,
    NoValuesFound,
    ProviderConfigError,
    ProviderError,
    TemplateError,
    UnknownProvider,
)
from controller.metrics.providers import MetricProvider, ProviderConfig, provider_for
from controller.metrics.template import TemplateContext, render_query

__all__ = [
    "BUILTIN_METRICS",
    "BuiltinQuery",
    "MetricCheck",
    "MetricProvider",
    "MetricResult",
    "MetricsError",
    "NoValuesFound",
    "ProviderConfig",
    "ProviderConfigError",
    "ProviderError",
    "TemplateContext",
    "TemplateError",
    "TemplateSpec",
    "UnknownProvider",
    "builtin_query",
    "evaluate",
    "is_builtin",
    "provider_for",
    "render_query",
]
