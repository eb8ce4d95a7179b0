"""Every Flagger manifest in the seed docs works as a gitcanary.io manifest.

Each YAML code block of tests/seeds/*.md holding a
flagger.app/v1beta1 Canary, MetricTemplate or AlertProvider gets its apiVersion changed to
gitcanary.io/v1beta1, then must parse into the models and validate against the generated CRD
schema. The docs also contain fragments and mistakes; those are listed in KNOWN_INVALID with
the exact problems both validators must report, so a regression in either direction fails.
"""

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from controller.api import (
    AlertProvider,
    Canary,
    MetricTemplate,
    validate_alert_provider,
    validate_canary,
    validate_metric_template,
)
from controller.api.openapi import schema_problems
from tests.upstream import SEEDS

REPO = Path(__file__).resolve().parents[3]
MODELS: dict[str, type[BaseModel]] = {
    "Canary": Canary,
    "MetricTemplate": MetricTemplate,
    "AlertProvider": AlertProvider,
}
VALIDATORS: dict[str, Callable[[Any], list[str]]] = {
    "Canary": validate_canary,
    "MetricTemplate": validate_metric_template,
    "AlertProvider": validate_alert_provider,
}
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)

_STRATEGY = "spec.analysis"
_FRAGMENT = {"spec.targetRef", "spec.analysis.interval", "spec.analysis.threshold", _STRATEGY}
# (file, name, occurrence of that name in the file) -> (why, model problem paths, schema problem paths)
KNOWN_INVALID: dict[tuple[str, str, int], tuple[str, set[str], set[str]]] = {
    ("adr-canary-with-keda.md", "governor", 0): (
        "metrics and webhooks written under spec instead of spec.analysis",
        {"spec.metrics", "spec.webhooks"},
        {"spec.metrics", "spec.webhooks"},
    ),
    ("flagger-overview-guide.md", "myapp", 1): (
        "alerts-only fragment",
        _FRAGMENT,
        {"spec.targetRef", _STRATEGY},
    ),
    ("flagger-overview-guide.md", "recommendation-api", 0): (
        "interval 1h is outside Flagger's pattern ^[0-9]+(m|s), and threshold is missing",
        {
            "spec.analysis.interval",
            "spec.analysis.threshold",
            "spec.analysis.metrics[1].interval",
            "spec.analysis.metrics[2].interval",
        },
        {
            "spec.analysis.interval",
            "spec.analysis.metrics[1].interval",
            "spec.analysis.metrics[2].interval",
            _STRATEGY,
        },
    ),
    ("flagger-overview-guide.md", "user-service", 0): (
        "threshold missing",
        {"spec.analysis.threshold"},
        {_STRATEGY},
    ),
    ("flagger-overview-guide.md", "api-gateway", 0): (
        "threshold missing",
        {"spec.analysis.threshold"},
        {_STRATEGY},
    ),
    ("flagger-overview-guide.md", "api-gateway-us-east", 0): (
        "fragment without targetRef or threshold",
        {"spec.targetRef", "spec.analysis.threshold"},
        {"spec.targetRef", _STRATEGY},
    ),
    ("flagger-overview-guide.md", "api-gateway-eu-west", 0): (
        "fragment without targetRef or threshold",
        {"spec.targetRef", "spec.analysis.threshold"},
        {"spec.targetRef", _STRATEGY},
    ),
    ("flagger-overview-guide.md", "multi-provider-app", 0): (
        "metrics-only fragment",
        _FRAGMENT,
        {"spec.targetRef", _STRATEGY},
    ),
    ("flagger-overview-guide.md", "myapp-primary-cluster", 0): (
        "webhooks-only fragment",
        _FRAGMENT,
        {"spec.targetRef", _STRATEGY},
    ),
    ("flagger-overview-guide.md", "myapp-secondary-cluster", 0): (
        "webhooks-only fragment",
        _FRAGMENT,
        {"spec.targetRef", _STRATEGY},
    ),
    ("flagger-overview-guide.md", "myapp", 3): (
        "templateVariables under a non-existent analysis.canaryAnalysis",
        {"spec.analysis.canaryAnalysis", "spec.analysis.interval", "spec.analysis.threshold", _STRATEGY},
        {"spec.analysis.canaryAnalysis", _STRATEGY},
    ),
    ("flagger-overview-guide.md", "slack-oncall", 0): (
        "AlertProvider has no messageTemplate field in Flagger",
        {"spec.messageTemplate"},
        {"spec.messageTemplate"},
    ),
    ("flagger-overview-guide.md", "myapp", 4): (
        "webhooks-only fragment",
        _FRAGMENT,
        {"spec.targetRef", _STRATEGY},
    ),
    ("flagger-overview-guide.md", "myapp", 5): (
        "fragment setting both stepWeight and iterations",
        {"spec.targetRef", _STRATEGY},
        {"spec.targetRef", _STRATEGY},
    ),
}


def _seed_manifests() -> list[tuple[tuple[str, str, int], dict[str, Any]]]:
    found: list[tuple[tuple[str, str, int], dict[str, Any]]] = []
    seen: dict[tuple[str, str], int] = {}
    for path in sorted(SEEDS.glob("*.md")):
        for block in FENCE.findall(path.read_text()):
            text = block.replace("\u00a0", " ")  # the docs indent with non-breaking spaces
            if "flagger.app/v1beta1" not in text:
                continue
            try:
                docs = list(yaml.safe_load_all(text))
            except yaml.YAMLError:
                continue  # shell snippets that mention flagger.app
            for doc in docs:
                if not isinstance(doc, dict) or doc.get("apiVersion") != "flagger.app/v1beta1":
                    continue
                if doc.get("kind") not in MODELS:
                    continue  # e.g. the ADR's imaginary `Alert` kind
                name = doc.get("metadata", {}).get("name", "")
                ordinal = seen.get((path.name, name), 0)
                seen[(path.name, name)] = ordinal + 1
                doc["apiVersion"] = "gitcanary.io/v1beta1"
                found.append(((path.name, name, ordinal), doc))
    return found


MANIFESTS = _seed_manifests()
VALID = [(key, doc) for key, doc in MANIFESTS if key not in KNOWN_INVALID]
INVALID = [(key, doc) for key, doc in MANIFESTS if key in KNOWN_INVALID]


def _missing(original: Any, dumped: Any, path: str) -> list[str]:
    """Paths of `original` that `dumped` lacks or changes (dumped may add defaults)."""
    if isinstance(original, dict) and isinstance(dumped, dict):
        return [p for k, v in original.items() for p in _missing(v, dumped.get(k), f"{path}.{k}")]
    if isinstance(original, list) and isinstance(dumped, list) and len(original) == len(dumped):
        return [
            p
            for i, (a, b) in enumerate(zip(original, dumped, strict=True))
            for p in _missing(a, b, f"{path}[{i}]")
        ]
    return [] if original == dumped else [path]


def _paths(problems: list[str]) -> set[str]:
    return {problem.split(": ", 1)[0] for problem in problems}


def test_the_seeds_were_found_and_the_known_invalid_list_is_current() -> None:
    assert len(MANIFESTS) >= 25, f"only {len(MANIFESTS)} manifests found under {SEEDS}"
    kinds = {doc["kind"] for _, doc in MANIFESTS}
    assert kinds == {"Canary", "MetricTemplate", "AlertProvider"}
    assert {key for key, _ in INVALID} == set(KNOWN_INVALID)
    assert len(VALID) >= 15


@pytest.mark.parametrize(("key", "doc"), VALID, ids=[":".join(map(str, k)) for k, _ in VALID])
def test_valid_seed_parses_and_matches_the_crd(
    key: tuple[str, str, int], doc: dict[str, Any], crd_schema: Callable[[str], dict[str, Any]]
) -> None:
    kind = doc["kind"]
    model = MODELS[kind].model_validate(doc)
    assert VALIDATORS[kind](doc) == []
    schema = crd_schema(kind)
    assert schema_problems(doc, schema) == []
    dumped = model.model_dump(by_alias=True, exclude_none=True, mode="json")
    assert schema_problems(dumped, schema) == [], "the model's own output must satisfy the CRD"
    assert MODELS[kind].model_validate(dumped) == model
    assert _missing(doc["spec"], dumped["spec"], "spec") == [], "no field of the manifest may be lost"


@pytest.mark.parametrize(("key", "doc"), INVALID, ids=[":".join(map(str, k)) for k, _ in INVALID])
def test_invalid_seed_is_reported_precisely(
    key: tuple[str, str, int], doc: dict[str, Any], crd_schema: Callable[[str], dict[str, Any]]
) -> None:
    _why, model_paths, schema_paths = KNOWN_INVALID[key]
    assert _paths(VALIDATORS[doc["kind"]](doc)) == model_paths
    assert _paths(schema_problems(doc, crd_schema(doc["kind"]))) == schema_paths
