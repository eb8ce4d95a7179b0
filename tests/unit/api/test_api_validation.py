"""validate_canary, validate_metric_template and validate_alert_provider."""

from collections.abc import Callable
from typing import Any

import pytest

from controller.api import validate_alert_provider, validate_canary, validate_metric_template

Build = Callable[..., dict[str, Any]]


def test_the_builder_canary_is_valid(canary_manifest: Build) -> None:
    assert validate_canary(canary_manifest()) == []


def test_a_wrong_type_gives_a_readable_error(canary_manifest: Build) -> None:
    problems = validate_canary(canary_manifest(analysis={"threshold": "five"}))
    assert problems == ["spec.analysis.threshold: Input should be a valid integer, got 'five'"]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"analysis": {"threshold": "5"}},
            "spec.analysis.threshold: Input should be a valid integer, got '5'",
        ),
        ({"suspend": "yes"}, "spec.suspend: Input should be a valid boolean, got 'yes'"),
        (
            {"targetRef": {"kind": "StatefulSet"}},
            "spec.targetRef.kind: Input should be 'DaemonSet', 'Deployment' or 'Service', got 'StatefulSet'",
        ),
        ({"targetRef": None}, "spec.targetRef: Required value"),
        ({"provider": "envoy"}, "spec.provider: Input should be"),
        (
            {"analysis": {"interval": "1h"}},
            "spec.analysis.interval: String should match pattern '^[0-9]+(m|s)'",
        ),
        ({"analysis": {"interval": "1mfoo"}}, "spec.analysis.interval: invalid duration '1mfoo'"),
        ({"analysis": {"threshold": 0}}, "spec.analysis.threshold: must be greater than 0, got 0"),
        ({"analysis": {"maxWeight": 150}}, "spec.analysis.maxWeight: must be between 1 and 100, got 150"),
        ({"analysis": {"stepWeight": 0}}, "spec.analysis.stepWeight: must be between 1 and 100, got 0"),
        (
            {"analysis": {"stepWeight": None, "stepWeights": [1, 5, 5]}},
            "spec.analysis.stepWeights: must be strictly ascending, got [1, 5, 5]",
        ),
        (
            {"analysis": {"stepWeight": None, "stepWeights": [10, 120]}},
            "spec.analysis.stepWeights[1]: must be between 1 and 100, got 120",
        ),
        (
            {"analysis": {"stepWeight": None}},
            "spec.analysis: set one of iterations (blue/green, A/B testing), stepWeight or stepWeights (canary)",
        ),
        (
            {"analysis": {"iterations": 5}},
            "spec.analysis: iterations and stepWeight are mutually exclusive; set only one",
        ),
        ({"analysis": {"mirrorWeight": -1}}, "spec.analysis.mirrorWeight: must be between 0 and 100, got -1"),
        (
            {"analysis": {"metrics": [{"name": "latency", "thresholdRange": {"min": 5, "max": 1}}]}},
            "spec.analysis.metrics[0].thresholdRange: min 5.0 is greater than max 1.0",
        ),
        (
            {"analysis": {"webhooks": [{"name": "load", "url": "http://x/", "timeout": "0s"}]}},
            "spec.analysis.webhooks[0].timeout: must be positive, got '0s'",
        ),
        (
            {"analysis": {"webhooks": [{"name": "load", "url": "http://x/", "type": "pre"}]}},
            "spec.analysis.webhooks[0].type: Input should be",
        ),
        ({"progressDeadlineSeconds": 0}, "spec.progressDeadlineSeconds: must be greater than 0, got 0"),
        ({"service": {"targetPort": 1.5}}, "spec.service.targetPort: Input should be a valid integer"),
        (
            {
                "autoscalerRef": {
                    "apiVersion": "autoscaling/v2",
                    "kind": "HorizontalPodAutoscaler",
                    "name": "p",
                    "primaryScalerReplicas": {"minReplicas": 4, "maxReplicas": 2},
                }
            },
            "spec.autoscalerRef.primaryScalerReplicas: minReplicas 4 is greater than maxReplicas 2",
        ),
        (
            {
                "autoscalerRef": {
                    "apiVersion": "autoscaling/v2",
                    "kind": "HorizontalPodAutoscaler",
                    "name": "p",
                    "primaryScalingSet": {"name": "primary"},
                }
            },
            "spec.autoscalerRef.primaryScalingSet: only applies to kind HTTPScaledObject",
        ),
        (
            {"analysis": {"metrics": [{"name": "x", "treshold": 1}]}},
            "spec.analysis.metrics[0].treshold: unknown field",
        ),
        (
            {"gitops": {"approval": {"mode": "manual"}}},
            "spec.gitops.approval.mode: Input should be 'none' or 'pullRequest', got 'manual'",
        ),
        (
            {"gitops": {"approval": {"timeout": "1d"}}},
            "spec.gitops.approval.timeout: String should match pattern",
        ),
        (
            {"gitops": {"promoteTo": [{"path": "./a"}, {"path": "./a"}]}},
            "spec.gitops.promoteTo: duplicate paths ./a",
        ),
        ({"gitops": {"promoteTo": [{"approval": "none"}]}}, "spec.gitops.promoteTo[0].path: Required value"),
    ],
)
def test_problems_are_reported(canary_manifest: Build, overrides: dict[str, Any], expected: str) -> None:
    problems = validate_canary(canary_manifest(**overrides))
    assert any(p.startswith(expected) for p in problems), problems


def test_interval_below_ten_seconds_is_clamped_not_rejected(canary_manifest: Build) -> None:
    assert validate_canary(canary_manifest(analysis={"interval": "5s"})) == []


def test_a_flagger_api_version_is_pointed_out(canary_manifest: Build) -> None:
    manifest = canary_manifest()
    manifest["apiVersion"] = "flagger.app/v1beta1"
    assert validate_canary(manifest) == [
        "apiVersion: must be gitcanary.io/v1beta1, got 'flagger.app/v1beta1'"
    ]


@pytest.mark.parametrize("junk", [None, "canary", 42, [1, 2], {"spec": "x"}, {"spec": {"analysis": [1]}}])
def test_junk_never_raises(junk: Any) -> None:
    assert validate_canary(junk) != []


def test_a_full_gitops_spec_is_valid(canary_manifest: Build) -> None:
    gitops = {
        "sourceRef": {"kind": "GitRepository", "name": "flux-system", "namespace": "flux-system"},
        "branch": "main",
        "path": "./apps/podinfo",
        "commit": {
            "author": {"name": "gitcanary", "email": "bot@example.com"},
            "signingKey": {"secretRef": {"name": "gpg"}, "format": "ssh"},
            "messageTemplate": "{{ .Result }}",
        },
        "onRollback": {"revert": True, "quarantine": False},
        "onPromotion": {"pin": True, "record": True},
        "approval": {
            "mode": "pullRequest",
            "provider": "gitea",
            "secretRef": {"name": "forge-token"},
            "timeout": "1h30m",
            "onTimeout": "wait",
            "apiURL": "http://127.0.0.1:3000/api/v1",
        },
        "promoteTo": [{"path": "./clusters/production/podinfo", "approval": "pullRequest", "branch": "prod"}],
        "reconcileFlux": False,
    }
    assert validate_canary(canary_manifest(gitops=gitops)) == []


def test_metric_template_validation() -> None:
    template: dict[str, Any] = {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "MetricTemplate",
        "metadata": {"name": "t"},
        "spec": {"provider": {"type": "prometheus", "address": "http://p:9090"}, "query": "up"},
    }
    assert validate_metric_template(template) == []
    template["spec"]["provider"]["type"] = "graphana"
    assert validate_metric_template(template)[0].startswith(
        "spec.provider.type: Input should be 'prometheus'"
    )


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"type": "slack", "address": "https://hooks.slack.com/x"}, []),
        ({"type": "slack", "secretRef": {"name": "s"}}, []),
        ({"type": "slack"}, ["spec: set exactly one of address or secretRef"]),
        (
            {"type": "slack", "address": "https://hooks.example/a", "secretRef": {"name": "s"}},
            ["spec: set exactly one of address or secretRef"],
        ),
        ({"address": "a"}, ["spec.type: Required value"]),
    ],
)
def test_alert_provider_validation(spec: dict[str, Any], expected: list[str]) -> None:
    provider = {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "AlertProvider",
        "metadata": {"name": "p"},
        "spec": spec,
    }
    assert validate_alert_provider(provider) == expected
