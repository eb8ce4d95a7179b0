"""parse_duration, strategy_of, Flagger's runtime defaults, status and write-back helpers, __all__."""

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

import pytest

import controller.api
from controller.api import (
    Canary,
    CanaryAnalysis,
    CanaryPhase,
    CanaryStatus,
    GitOpsSpec,
    is_mirroring,
    parse_duration,
    strategy_of,
    validate_canary,
)

Build = Callable[..., dict[str, Any]]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1m30s", 90.0),
        ("500ms", 0.5),
        ("24h", 86400.0),
        ("0", 0.0),
        ("1.5h", 5400.0),
        ("-2s", -2.0),
        ("1h2m3s", 3723.0),
        ("250us", 0.00025),
        ("10ns", 1e-8),
        (".5s", 0.5),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "invalid duration ''"),
        ("60", "missing or unknown unit"),
        ("1d", "missing or unknown unit"),
        ("m", "unexpected 'm'"),
        ("1m 30s", "unexpected ' 30s'"),
        ("-", "invalid duration '-'"),
    ],
)
def test_parse_duration_rejects(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match="expected a Go duration") as info:
        parse_duration(text)
    assert fragment in str(info.value)


def _analysis(**fields: Any) -> CanaryAnalysis:
    return CanaryAnalysis.model_validate({"interval": "1m", "threshold": 5, **fields})


@pytest.mark.parametrize(
    ("fields", "strategy"),
    [
        ({"stepWeight": 10, "maxWeight": 50}, "canary"),
        ({"stepWeights": [1, 10, 50]}, "canary"),
        ({"iterations": 10}, "blue-green"),
        ({"iterations": 10, "mirror": True}, "blue-green"),
        ({"iterations": 10, "match": [{"headers": {"x-canary": {"exact": "insider"}}}]}, "ab-testing"),
        ({"stepWeight": 10, "match": [{"headers": {"x-canary": {"exact": "insider"}}}]}, "canary"),
        ({"iterations": 0, "stepWeight": 5}, "canary"),
    ],
)
def test_strategy_of(fields: dict[str, Any], strategy: str) -> None:
    assert strategy_of(_analysis(**fields)) == strategy


def test_is_mirroring() -> None:
    assert is_mirroring(_analysis(iterations=10, mirror=True))
    assert not is_mirroring(_analysis(iterations=10))


def test_flagger_runtime_defaults(canary_manifest: Build) -> None:
    canary = Canary.from_k8s(canary_manifest(analysis={"interval": "5s", "maxWeight": None}))
    analysis = canary.spec.analysis
    assert analysis.interval_seconds() == 10.0
    assert analysis.effective_max_weight() == 100
    assert analysis.effective_primary_ready_threshold() == 100
    assert _analysis(stepWeights=[5, 20, 40], maxWeight=90).effective_max_weight() == 40
    assert _analysis(stepWeight=5, canaryReadyThreshold=0).effective_canary_ready_threshold() == 0
    assert _analysis(stepWeight=5, threshold=-1).effective_threshold() == 1
    assert canary.spec.effective_progress_deadline_seconds() == 600
    assert (
        Canary.from_k8s(
            canary_manifest(progressDeadlineSeconds=60)
        ).spec.effective_progress_deadline_seconds()
        == 60
    )
    assert (
        analysis.metrics == []
        and _analysis(stepWeight=1, metrics=[{"name": "m"}]).metrics[0].effective_interval() == "1m"
    )


def test_empty_gitops_has_the_crd_defaults() -> None:
    gitops = GitOpsSpec.model_validate({})
    assert (gitops.on_rollback.revert, gitops.on_rollback.quarantine) == (True, True)
    assert (gitops.on_promotion.pin, gitops.on_promotion.record) == (True, True)
    assert (gitops.approval.mode, gitops.approval.timeout, gitops.approval.on_timeout) == (
        "none",
        "24h",
        "rollback",
    )
    assert gitops.reconcile_flux is True and gitops.promote_to == [] and gitops.source_ref is None


def test_from_k8s_accepts_any_mapping_and_round_trips(canary_manifest: Build) -> None:
    class Body(dict[str, Any]):
        """Stands in for kopf's Body: a mapping, not necessarily a plain dict."""

    manifest = canary_manifest()
    manifest["status"] = {
        "phase": "Progressing",
        "canaryWeight": 20,
        "failedChecks": 1,
        "gitops": {"source": {"revision": "main@sha1:abc"}},
    }
    canary = Canary.from_k8s(Body(manifest))
    assert canary.status.phase is CanaryPhase.PROGRESSING
    assert canary.key == "test/podinfo"
    assert canary.to_status_patch()["status"]["canaryWeight"] == 20
    assert canary.to_status_patch()["status"]["gitops"] == {
        "source": {"revision": "main@sha1:abc"},
        "imagePolicies": [],
        "pending": [],
        "applied": [],
    }


def test_empty_phase_reads_as_unset() -> None:
    assert CanaryStatus.model_validate({"phase": ""}).phase is None
    assert [p.value for p in CanaryPhase] == [
        "Initializing",
        "Initialized",
        "Waiting",
        "Progressing",
        "WaitingPromotion",
        "Promoting",
        "Finalising",
        "Succeeded",
        "Failed",
        "Terminating",
        "Terminated",
    ]


def test_all_is_the_public_surface() -> None:
    exported = set(controller.api.__all__)
    assert len(exported) == len(controller.api.__all__), "duplicates in __all__"
    for name in exported:
        assert hasattr(controller.api, name), name
    public: set[str] = set()
    for module in pkgutil.iter_modules(controller.api.__path__):
        public |= set(importlib.import_module(f"controller.api.{module.name}").__all__)
    assert exported == public
    assert {
        "Canary",
        "MetricTemplate",
        "AlertProvider",
        "validate_canary",
        "parse_duration",
        "strategy_of",
        "is_mirroring",
        "CanaryPhase",
        "schema_problems",
        "structural_problems",
    } <= exported


def test_the_status_the_controller_writes_is_valid(canary_manifest: Build) -> None:
    """Every status field the runner and the worker write is known to the API (and the CRD)."""
    manifest = canary_manifest()
    manifest["status"] = {
        "engine": {"stableImage": "app:1", "stableImages": {"app": "app:1", "proxy": "proxy:1"}},
        "gitops": {
            "introducedBy": "abc",
            "imagePolicies": ["flux-system:podinfo"],
            "imageAutomation": {
                "namespace": "flux-system",
                "name": "apps",
                "lastPushCommit": "abc",
                "lastPushTime": "2026-11-25T12:00:00Z",
            },
        },
    }
    assert validate_canary(manifest) == []
    canary = Canary.from_k8s(manifest)
    assert canary.status.gitops is not None and canary.status.gitops.image_automation is not None
    assert canary.status.gitops.image_automation.last_push_commit == "abc"
