"""Map the Canary API model onto the plain inputs of the engine, the metric checks and the hooks.

Pure functions: they read a parsed ``Canary`` (and already-fetched MetricTemplates)
and return dataclasses. Flagger's runtime defaults live on the API model
(``interval_seconds()``, ``effective_threshold()`` ...); nothing is defaulted twice.

Approval by pull request (``spec.gitops.approval.mode: pullRequest``) is a built-in
confirm-promotion gate: :func:`hook_types` adds ``confirm-promotion`` and ``rollback`` so the
engine asks for them, and the world answers them with ``controller.gitops.workflow.approval_gate``.
"""

from __future__ import annotations

from collections.abc import Mapping

from controller.analysis import AnalysisSpec, HookType, InconclusivePolicy, Strategy
from controller.api import Canary, strategy_of
from controller.api.duration import parse_duration
from controller.hooks.webhooks import HOOK_TYPES, WebhookSpec
from controller.metrics.checks import MetricCheck, TemplateSpec

DEFAULT_WEBHOOK_TIMEOUT_S = 10.0

_STRATEGIES = {
    "canary": Strategy.CANARY,
    "ab-testing": Strategy.AB_TESTING,
    "blue-green": Strategy.BLUE_GREEN,
}


def provider_name(canary: Canary, default: str = "kubernetes") -> str:
    return str(canary.spec.provider or default)


def hook_type(raw: str | None) -> HookType:
    return HookType(raw or "rollout")


APPROVAL_HOOK_TYPES = frozenset({HookType.CONFIRM_PROMOTION, HookType.ROLLBACK})


def approval_by_pull_request(canary: Canary) -> bool:
    gitops = canary.spec.gitops
    return gitops is not None and gitops.approval.mode == "pullRequest"


def hook_types(canary: Canary) -> frozenset[HookType]:
    """The hook types the engine asks for: the spec's webhooks plus the approval gate's."""
    declared = frozenset(hook_type(w.type) for w in canary.spec.analysis.webhooks)
    return declared | APPROVAL_HOOK_TYPES if approval_by_pull_request(canary) else declared


def analysis_spec(canary: Canary, default_provider: str = "kubernetes") -> AnalysisSpec:
    spec, analysis = canary.spec, canary.spec.analysis
    return AnalysisSpec(
        name=canary.metadata.name or "",
        namespace=canary.metadata.namespace or "",
        strategy=_STRATEGIES[strategy_of(analysis)],
        interval_seconds=analysis.interval_seconds(),
        threshold=analysis.effective_threshold(),
        max_weight=analysis.max_weight or 0,
        step_weight=analysis.step_weight or 0,
        step_weights=tuple(analysis.step_weights or ()),
        step_weight_promotion=analysis.step_weight_promotion or 0,
        iterations=analysis.iterations or 0,
        mirror=analysis.mirror,
        mirror_weight=analysis.mirror_weight or 0,
        progress_deadline_seconds=float(spec.effective_progress_deadline_seconds()),
        skip_analysis=spec.skip_analysis,
        suspend=spec.suspend,
        provider=provider_name(canary, default_provider),
        has_webhooks_of=hook_types(canary),
        target_name=spec.target_ref.name,
        target_kind=spec.target_ref.kind,
        on_inconclusive=InconclusivePolicy(analysis.effective_on_inconclusive()),
        inconclusive_threshold=analysis.effective_inconclusive_threshold(),
    )


def webhooks(canary: Canary) -> list[WebhookSpec]:
    out = []
    for hook in canary.spec.analysis.webhooks:
        kind = next((t for t in HOOK_TYPES if t == (hook.type or "rollout")), None)
        if kind is None:
            raise ValueError(f"webhook {hook.name}: unknown type {hook.type!r}")
        out.append(
            WebhookSpec(
                name=hook.name,
                url=hook.url,
                type=kind,
                timeout=parse_duration(hook.timeout) if hook.timeout else DEFAULT_WEBHOOK_TIMEOUT_S,
                metadata=dict(hook.metadata),
                retries=hook.retries or 0,
                mute_alert=hook.mute_alert,
                disable_tls=hook.disable_tls,
            )
        )
    return out


def metric_checks(canary: Canary, templates: Mapping[tuple[str, str], TemplateSpec]) -> list[MetricCheck]:
    """One check per ``spec.analysis.metrics`` entry; ``templates`` is keyed (namespace, name)."""
    checks = []
    namespace = canary.metadata.namespace or ""
    for metric in canary.spec.analysis.metrics:
        lo = metric.threshold_range.min if metric.threshold_range else None
        hi = metric.threshold_range.max if metric.threshold_range else None
        if metric.threshold is not None and lo is None and hi is None:
            # Flagger's deprecated `threshold`: a minimum for success rate, a maximum otherwise.
            if metric.name == "request-success-rate":
                lo = metric.threshold
            else:
                hi = metric.threshold
        template = None
        if metric.template_ref is not None:
            key = (metric.template_ref.namespace or namespace, metric.template_ref.name)
            template = templates[key]
        checks.append(
            MetricCheck(
                name=metric.name,
                interval=metric.effective_interval(),
                query=metric.query,
                template=template,
                threshold_min=lo,
                threshold_max=hi,
                template_variables=dict(metric.template_variables),
            )
        )
    return checks
