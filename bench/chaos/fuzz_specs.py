"""Fuzz Canary, MetricTemplate and AlertProvider manifests through validation and the engine.

Targets:

- ``canary``: ``validate_canary`` on drawn manifests (mostly well-formed, with junk in any field).
  Invariants: it never raises, it returns a list of readable messages; a manifest it accepts
  parses as a ``Canary``, maps onto the engine's inputs (``analysis_spec``, ``webhooks``,
  ``metric_checks``) without raising.
- ``engine``: accepted Canaries through 40 ticks of the pure engine, every request answered
  from drawn numbers (ready or not, hooks and metrics passing or failing, time jumps, a new
  revision now and then). Invariants: no exception; every decision requeues after a finite,
  positive delay; weights stay in 0..100 and the routes add up to 100; counters never go
  negative; the state round-trips through ``to_dict``/``from_dict``; events are non-empty text.
- ``metric_template``: ``validate_metric_template``, then for accepted templates the query is
  rendered (``render_promql`` / ``render_query``) and the provider built (``provider_for``).
  Only ``TemplateError`` and ``MetricsError`` may escape those, with readable messages.
- ``alert_provider``: ``validate_alert_provider``, then ``notifier_for`` for accepted ones
  (``NotifyError`` only, readable).

Run: ``.venv/bin/python bench/chaos/fuzz_specs.py --smoke`` (CI), or ``--cases 10000``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz_support import Target, Violation, main, require_readable
from fuzz_values import junk, numbers, objects, planted, text, with_pathological

from controller.analysis import (
    TOTAL_WEIGHT,
    AcquireSlot,
    CanaryState,
    CheckPrimaryPromoted,
    CheckReady,
    Decision,
    HookOutcome,
    MetricsOutcome,
    Notify,
    Readiness,
    Request,
    RunMetricChecks,
    RunWebhooks,
    SetRoutes,
    tick,
)
from controller.api import (
    WEBHOOK_TYPES,
    Canary,
    MetricTemplate,
    validate_alert_provider,
    validate_canary,
    validate_metric_template,
)
from controller.hooks.webhooks import HOOK_TYPES
from controller.metrics.checks import TemplateSpec
from controller.metrics.errors import MetricsError, TemplateError
from controller.metrics.providers import ProviderConfig, provider_for
from controller.metrics.template import TemplateContext, render_promql, render_query
from controller.notify.contract import NotifyError
from controller.notify.registry import notifier_for
from controller.reconcile.spec_mapping import analysis_spec, metric_checks, webhooks

API = "gitcanary.io/v1beta1"
NAMES = st.one_of(
    st.sampled_from(["podinfo", "test", "a", "flux-system", "b-2"]),
    st.lists(st.sampled_from("abcz09-"), min_size=1, max_size=20).map(lambda chars: "x" + "".join(chars)),
)
DURATIONS = st.one_of(
    st.sampled_from(["1m", "30s", "10s", "5s", "0s", "1h", "1m30s", "90s", "10ms", "24h", "25h", "-1m"]),
    st.tuples(st.integers(0, 10**25), st.sampled_from(["ms", "s", "m", "h", "us", "ns"])).map(
        lambda pair: f"{pair[0]}{pair[1]}"
    ),
    text(8),
)
COUNTS = st.one_of(st.integers(-3, 15), st.integers(), st.sampled_from([0, 100, 101, 1000, 1001]))
WEIGHTS = st.one_of(st.integers(-5, 105), st.integers())
URLS = st.one_of(
    st.sampled_from(
        [
            "http://loadtester.test/",
            "https://hooks.example.com/x?token=abc",
            "http://169.254.169.254/latest/meta-data",
            "http://[fe80::1]/",
            "http://0xa9fea9fe/",
            "http://metadata.google.internal/",
            "ftp://files.test/x",
            "javascript:alert(1)",
            "http://",
            "http://a b/",
            "http://[::1",
            "",
        ]
    ),
    text(30),
)


def _metric() -> st.SearchStrategy[Any]:
    bounds = objects({}, {"min": numbers(), "max": numbers()})
    return objects(
        {"name": st.sampled_from(["request-success-rate", "request-duration", "custom"]) | text()},
        {
            "interval": DURATIONS,
            "threshold": numbers(),
            "thresholdRange": bounds,
            "query": text(40),
            "templateRef": objects({"name": NAMES}, {"namespace": NAMES}),
            "templateVariables": st.dictionaries(text(8), text(8), max_size=3),
        },
    )


def _webhook() -> st.SearchStrategy[Any]:
    return objects(
        {"name": NAMES, "url": URLS},
        {
            "type": st.sampled_from(WEBHOOK_TYPES) | text(),
            "timeout": DURATIONS,
            "retries": COUNTS,
            "metadata": st.dictionaries(text(8), text(8), max_size=3),
            "muteAlert": st.booleans(),
            "disableTLS": st.booleans(),
        },
    )


def _analysis() -> st.SearchStrategy[Any]:
    match = objects({}, {"headers": st.dictionaries(text(8), objects({}, {"exact": text()}), max_size=2)})
    return objects(
        {"interval": DURATIONS, "threshold": COUNTS},
        {
            "iterations": COUNTS,
            "maxWeight": WEIGHTS,
            "stepWeight": WEIGHTS,
            "stepWeights": st.lists(WEIGHTS, max_size=6),
            "stepWeightPromotion": WEIGHTS,
            "mirror": st.booleans(),
            "mirrorWeight": WEIGHTS,
            "primaryReadyThreshold": WEIGHTS,
            "canaryReadyThreshold": WEIGHTS,
            "match": st.lists(match, max_size=2),
            "metrics": st.lists(_metric(), max_size=3),
            "webhooks": st.lists(_webhook(), max_size=3),
            "sessionAffinity": objects({"cookieName": NAMES}, {"maxAge": COUNTS}),
        },
    )


def _gitops() -> st.SearchStrategy[Any]:
    approval = objects(
        {},
        {
            "mode": st.sampled_from(["none", "pullRequest"]) | text(),
            "provider": st.sampled_from(["github", "gitlab", "gitea"]) | text(),
            "timeout": DURATIONS,
            "apiURL": URLS,
        },
    )
    return objects(
        {},
        {
            "branch": text(),
            "path": text(),
            "approval": approval,
            "promoteTo": st.lists(objects({"path": text(12)}, {"approval": text()}), max_size=3),
        },
    )


CANARIES = objects(
    {
        "apiVersion": st.just(API),
        "kind": st.just("Canary"),
        "metadata": objects({"name": NAMES, "namespace": NAMES}, {}),
        "spec": objects(
            {
                "targetRef": objects(
                    {
                        "apiVersion": st.just("apps/v1"),
                        "kind": st.sampled_from(["Deployment", "DaemonSet", "Service", "Pod"]),
                        "name": NAMES,
                    },
                    {},
                ),
                "service": objects({"port": st.integers(-1, 70_000)}, {"targetPort": WEIGHTS | text()}),
                "analysis": _analysis(),
            },
            {
                "provider": st.sampled_from(["kubernetes", "istio", "nginx", "gatewayapi:v1"]) | text(),
                "progressDeadlineSeconds": COUNTS,
                "skipAnalysis": st.booleans(),
                "suspend": st.booleans(),
                "metricsServer": URLS,
                "gitops": _gitops(),
            },
        ),
    },
    {},
)


def _readable_all(where: str, problems: object) -> list[str]:
    if not isinstance(problems, list):
        raise Violation("returns-list", f"{where} returned {type(problems).__name__}")
    for problem in problems:
        require_readable(where, problem)
    return problems


def _accepted_canary(obj: Any) -> Canary | None:
    if _readable_all("validate_canary", validate_canary(obj)):
        return None
    canary = Canary.from_k8s(obj)
    analysis_spec(canary)
    webhooks(canary)
    templates = {
        (m.template_ref.namespace or canary.metadata.namespace or "", m.template_ref.name): TemplateSpec(
            m.template_ref.name, "ns", ProviderConfig("prometheus", "http://127.0.0.1:9"), "up"
        )
        for m in canary.spec.analysis.metrics
        if m.template_ref is not None
    }
    metric_checks(canary, templates)
    return canary


def check_canary(obj: Any) -> None:
    _accepted_canary(obj)


# --- engine --------------------------------------------------------------------------------


class _Answers:
    """Answers every engine request from a list of drawn numbers."""

    def __init__(self, numbers: list[int]) -> None:
        self.numbers = numbers
        self.position = 0

    def next(self, modulo: int) -> int:
        value = self.numbers[self.position % len(self.numbers)] if self.numbers else 0
        self.position += 1
        return value % modulo

    def answer(self, request: Request) -> object:
        if isinstance(request, SetRoutes):
            p, c = request.primary_weight, request.canary_weight
            if not (0 <= p <= TOTAL_WEIGHT and 0 <= c <= TOTAL_WEIGHT and p + c == TOTAL_WEIGHT):
                raise Violation("route-weights", f"SetRoutes({p}, {c})")
        if isinstance(request, Notify) and not (isinstance(request.message, str) and request.message.strip()):
            raise Violation("event-text", f"empty event message {request!r}")
        if isinstance(request, CheckReady | CheckPrimaryPromoted):
            return Readiness(self.next(8) != 0, "waiting for rollout", self.next(16) == 0)
        if isinstance(request, RunWebhooks):
            return HookOutcome(self.next(3) != 0, "hook said no", "hook")
        if isinstance(request, RunMetricChecks):
            ok = self.next(5) != 0
            return MetricsOutcome(ok, () if ok else ("error rate 69.17% > 1%",))
        if isinstance(request, AcquireSlot):
            return self.next(6) != 0
        return None


def _check_decision(decision: Decision) -> None:
    state = decision.state
    if not (math.isfinite(decision.requeue_after) and decision.requeue_after > 0):
        raise Violation("requeue-delay", f"requeue_after {decision.requeue_after!r} in {state.phase}")
    if not 0 <= state.canary_weight <= TOTAL_WEIGHT:
        raise Violation("status-weight", f"canaryWeight {state.canary_weight} in {state.phase}")
    routes = (state.primary_route_weight, state.canary_route_weight)
    if sum(routes) != TOTAL_WEIGHT or min(routes) < 0:
        raise Violation("route-weights", f"routes {routes} in {state.phase}")
    if state.failed_checks < 0 or state.iterations < 0:
        raise Violation("counters", f"failedChecks {state.failed_checks}, iterations {state.iterations}")
    if CanaryState.from_dict(state.to_dict()) != state:
        raise Violation("state-round-trip", repr(state))


def check_engine(case: tuple[Any, list[int]]) -> None:
    obj, numbers = case
    canary = _accepted_canary(obj)
    if canary is None:
        return
    spec = analysis_spec(canary)
    answers = _Answers(numbers)
    state, now, revision = CanaryState(), 1_700_000_000.0, "rev-1"
    for step in range(40):
        if answers.next(7) == 0:
            revision = f"rev-{step + 2}"
        flow = tick(spec, state, now, revision)
        decision: Decision | None = None
        try:
            request = next(flow)
            while True:
                request = flow.send(answers.answer(request))
        except StopIteration as stop:
            decision = stop.value
        finally:
            flow.close()
        assert decision is not None
        _check_decision(decision)
        state = decision.state
        now += [decision.requeue_after, spec.interval_seconds, 0.5, 3_600.0][answers.next(4)]


@st.composite
def valid_canaries(draw: st.DrawFn) -> dict[str, Any]:
    """Canaries built from valid values only (mostly accepted), so the engine sees every strategy."""
    analysis: dict[str, Any] = {
        "interval": draw(st.sampled_from(["10s", "30s", "1m", "5m", "90s"])),
        "threshold": draw(st.integers(1, 10)),
    }
    strategy = draw(st.sampled_from(["stepWeight", "stepWeights", "iterations", "ab"]))
    if strategy == "stepWeight":
        analysis["stepWeight"] = draw(st.integers(1, 60))
        if draw(st.booleans()):
            analysis["maxWeight"] = draw(st.integers(1, 100))
    elif strategy == "stepWeights":
        analysis["stepWeights"] = sorted(draw(st.sets(st.integers(1, 100), min_size=1, max_size=6)))
    else:
        analysis["iterations"] = draw(st.integers(1, 20))
        if strategy == "ab":
            analysis["match"] = [{"headers": {"x-canary": {"exact": "insider"}}}]
    if draw(st.booleans()):
        analysis["stepWeightPromotion"] = draw(st.integers(1, 100))
    if draw(st.integers(0, 3)) == 0:
        analysis["mirror"] = True
        analysis["mirrorWeight"] = draw(st.integers(0, 100))
    analysis["metrics"] = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "name": st.sampled_from(["request-success-rate", "request-duration"]),
                    "interval": st.just("1m"),
                },
                optional={"thresholdRange": st.fixed_dictionaries({"min": st.floats(0, 99)})},
            ),
            max_size=2,
        )
    )
    hook_types = st.sampled_from(list(HOOK_TYPES))
    analysis["webhooks"] = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "name": st.sampled_from(["gate", "load", "check"]),
                    "url": st.just("http://loadtester.test/"),
                    "type": hook_types,
                    "timeout": st.just("30s"),
                }
            ),
            max_size=3,
            unique_by=lambda hook: hook["name"],
        )
    )
    spec: dict[str, Any] = {
        "targetRef": {
            "apiVersion": "apps/v1",
            "kind": draw(st.sampled_from(["Deployment", "DaemonSet"])),
            "name": "podinfo",
        },
        "service": {"port": 9898},
        "analysis": analysis,
        "progressDeadlineSeconds": draw(st.integers(60, 3600)),
        "skipAnalysis": draw(st.integers(0, 7)) == 0,
        "suspend": draw(st.integers(0, 15)) == 0,
        "provider": draw(st.sampled_from(["kubernetes", "istio", "nginx", "gatewayapi:v1"])),
    }
    if draw(st.integers(0, 3)) == 0:
        spec["gitops"] = {"approval": {"mode": "pullRequest", "provider": "github"}}
    return {
        "apiVersion": API,
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": spec,
    }


ENGINE_CASES = st.tuples(
    st.one_of(valid_canaries(), valid_canaries(), valid_canaries(), CANARIES),
    st.lists(st.integers(0, 2**16), min_size=8, max_size=64),
)


# --- MetricTemplate and AlertProvider ------------------------------------------------------

PROVIDER_TYPES = ["prometheus", "datadog", "graphite", "cloudwatch", "newrelic"]
QUERIES = st.one_of(
    st.sampled_from(
        [
            'sum(rate(http_requests_total{namespace="{{ namespace }}",pod=~"{{ target }}-[0-9a-z]+"}[{{ interval }}]))',
            "{{ variables.x }}",
            '{{ index variables "a b" }}',
            "{{- name -}}",
            "{{ .Name }}",
            "{{",
            "}}",
            "{{/* comment */}}",
            "target=summarize({{ target }})",
            "`{{ name }}` # {{ namespace }}",
        ]
    ),
    text(60),
)
TEMPLATES = objects(
    {
        "apiVersion": st.just(API),
        "kind": st.just("MetricTemplate"),
        "metadata": objects({"name": NAMES, "namespace": NAMES}, {}),
        "spec": objects(
            {
                "provider": objects(
                    {"type": st.sampled_from(PROVIDER_TYPES)},
                    {
                        "address": URLS,
                        "secretRef": objects({"name": NAMES}, {}),
                        "insecureSkipVerify": st.booleans(),
                        "headers": st.dictionaries(text(8), st.lists(text(8), max_size=2), max_size=2),
                    },
                ),
                "query": QUERIES,
            },
            {},
        ),
    },
    {},
)
TEMPLATE_CASES = st.tuples(
    with_pathological(TEMPLATES),
    st.dictionaries(st.sampled_from(["x", "a b", "y"]) | text(6), text(12), max_size=3),
    st.dictionaries(st.sampled_from(["token", "username", "password", "datadog_api_key"]), text(8)),
)


def check_metric_template(case: tuple[Any, dict[str, str], dict[str, str]]) -> None:
    obj, variables, secret = case
    if _readable_all("validate_metric_template", validate_metric_template(obj)):
        return
    template = MetricTemplate.from_k8s(obj)
    context = TemplateContext.for_canary(
        name="podinfo", namespace="test", target="podinfo", variables=variables
    )
    provider = template.spec.provider
    for render in (render_promql, render_query):
        try:
            rendered = render(template.spec.query, context)
        except TemplateError as error:
            require_readable(render.__name__, str(error))
        else:
            if not isinstance(rendered, str):
                raise Violation("render-text", f"{render.__name__} returned {type(rendered).__name__}")
    config = ProviderConfig(
        provider.type,
        provider.address or "",
        provider.insecure_skip_verify,
        {k: tuple(v) for k, v in provider.headers.items()},
        has_secret=provider.secret_ref is not None,
    )
    try:
        provider_for(config, secret if provider.secret_ref is not None else None)
    except MetricsError as error:
        require_readable("provider_for", str(error))


ALERT_PROVIDERS = objects(
    {
        "apiVersion": st.just(API),
        "kind": st.just("AlertProvider"),
        "metadata": objects({"name": NAMES, "namespace": NAMES}, {}),
        "spec": objects(
            {"type": st.sampled_from(["slack", "msteams", "discord", "rocket", "gchat", "webhook", "sms"])},
            {
                "address": URLS,
                "channel": text(),
                "username": text(),
                "proxy": URLS,
                "secretRef": objects({"name": NAMES}, {}),
            },
        ),
    },
    {},
)


def check_alert_provider(obj: Any) -> None:
    if _readable_all("validate_alert_provider", validate_alert_provider(obj)):
        return
    spec = obj["spec"]
    try:
        notifier_for(
            spec["type"],
            address=spec.get("address") or "",
            channel=spec.get("channel") or "",
            username=spec.get("username") or "",
            proxy=spec.get("proxy"),
        )
    except NotifyError as error:
        require_readable("notifier_for", str(error))


EDGE_VALUES = st.one_of(
    junk(), numbers(), DURATIONS, URLS, COUNTS, WEIGHTS, text(), st.lists(WEIGHTS, max_size=4)
)
CANARY_CASES = with_pathological(
    st.one_of(CANARIES, planted(valid_canaries(), EDGE_VALUES), planted(valid_canaries(), EDGE_VALUES))
)

TARGETS = [
    Target("canary", CANARY_CASES, check_canary, smoke_cases=120),
    Target("engine", ENGINE_CASES, check_engine, smoke_cases=100),
    Target("metric_template", TEMPLATE_CASES, check_metric_template, smoke_cases=120),
    Target("alert_provider", with_pathological(ALERT_PROVIDERS), check_alert_provider, smoke_cases=120),
]

if __name__ == "__main__":
    sys.exit(main("specs", TARGETS))
