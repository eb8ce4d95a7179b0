"""Metric effects: the Canary's metric checks, and the templates and Secrets they read.

A template or Secret that is missing is a ``MissingReference`` (permanent: ``Valid=False``),
a template this controller cannot query is a ``ValueError`` (permanent too), never a failed check.
Every check ends passed, failed or inconclusive (``controller.metrics.errors.Outcome``); the
engine gets the failures and the unmeasured checks apart, with their causes.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from controller import analysis as eng
from controller.api import Canary, MetricTemplate, validate_metric_template
from controller.errors import PermanentError
from controller.gitops.workflow.approval import MetricRow
from controller.kube import Kube
from controller.metrics.builtin import canary_context
from controller.metrics.checks import MetricCheck, MetricResult, TemplateSpec, describe, evaluate
from controller.metrics.errors import Outcome
from controller.metrics.providers.contract import ProviderConfig
from controller.metrics.providers.registry import provider_for
from controller.reconcile import spec_mapping

TEMPLATE_API = "gitcanary.io/v1beta1"


class MissingReference(PermanentError, LookupError):
    """A MetricTemplate or Secret the Canary names does not exist."""


async def read_secret(kube: Kube, namespace: str, name: str) -> dict[str, str]:
    secret = await kube.get("v1", "Secret", namespace, name)
    if secret is None:
        raise MissingReference(f"secret {namespace}/{name} not found")
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


async def load_templates(kube: Kube, canary: Canary) -> dict[tuple[str, str], TemplateSpec]:
    """The MetricTemplates the Canary's metrics name, with their providers' Secrets."""
    out: dict[tuple[str, str], TemplateSpec] = {}
    namespace = canary.metadata.namespace or ""
    for metric in canary.spec.analysis.metrics:
        if metric.template_ref is None:
            continue
        key = (metric.template_ref.namespace or namespace, metric.template_ref.name)
        if key in out:
            continue
        raw = await kube.get(TEMPLATE_API, "MetricTemplate", *key)
        if raw is None:
            raise MissingReference(f"MetricTemplate {key[0]}/{key[1]} not found")
        problems = validate_metric_template(raw)
        if problems:  # a template this controller cannot query: Valid=False, never a failed check
            raise ValueError(f"MetricTemplate {key[0]}/{key[1]} is invalid: {'; '.join(problems)}")
        template = MetricTemplate.from_k8s(raw)
        provider = template.spec.provider
        secret = await read_secret(kube, key[0], provider.secret_ref.name) if provider.secret_ref else None
        config = ProviderConfig(
            type=provider.type,
            address=provider.address or "",
            insecure_skip_verify=provider.insecure_skip_verify,
            headers={k: tuple(v) for k, v in provider.headers.items()},
            region=provider.region or "",
            has_secret=secret is not None,
        )
        out[key] = TemplateSpec(
            name=key[1], namespace=key[0], provider=config, query=template.spec.query, secret=secret
        )
    return out


@dataclass
class MetricEffects:
    kube: Kube
    canary: Canary
    checks: list[MetricCheck]
    metrics_server: str
    """The Prometheus the builtin checks (request-success-rate, request-duration) query."""
    default_provider: str = "kubernetes"
    results: tuple[MetricResult, ...] = field(default=())
    """The last analysis's results, for the approval pull request's metrics table."""

    async def run(self) -> eng.MetricsOutcome:
        if not self.checks:
            return eng.MetricsOutcome(True)
        name, namespace = self.canary.metadata.name or "", self.canary.metadata.namespace or ""
        context = canary_context(name, namespace, self.canary.spec, self.checks[0].interval)
        server = provider_for(ProviderConfig(type="prometheus", address=self.metrics_server))
        results = await evaluate(
            self.checks,
            context,
            metrics_server=server,
            router=spec_mapping.provider_name(self.canary, self.default_provider),
            # externalmetrics and keptn read the cluster through the controller's own client
            provider_factory=lambda t, interval: provider_for(
                t.provider, t.secret, interval=interval, kube=self.kube
            ),
        )
        self.results = tuple(results)
        # The engine words the halt ("Halt podinfo.test advancement ..."); keep only the detail.
        prefix = f"Halt {name}.{namespace} advancement "
        failures = tuple(describe(r, prefix) for r in results if r.outcome is Outcome.FAILED)
        unmeasured = tuple(describe(r, prefix) for r in results if r.outcome is Outcome.INCONCLUSIVE)
        return eng.MetricsOutcome(not failures and not unmeasured, failures, unmeasured)

    def rows(self) -> list[MetricRow]:
        """The last results with their thresholds, for the approval pull request."""
        bounds = {c.name: (c.threshold_min, c.threshold_max) for c in self.checks}
        return [MetricRow(r.name, r.value, *bounds.get(r.name, (None, None))) for r in self.results]

    def summary(self) -> str:
        if not self.results:
            return "The canary analysis passed."
        passed = [r for r in self.results if r.ok]
        return f"{len(passed)}/{len(self.results)} metric checks passed at the last analysis."
