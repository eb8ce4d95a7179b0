"""Fixtures for the API tests: the generated CRDs, the seed docs, and a Canary builder."""

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
CRD_FILES = {
    "Canary": "canary.yaml",
    "MetricTemplate": "metrictemplate.yaml",
    "AlertProvider": "alertprovider.yaml",
}


def load_crd(kind: str) -> dict[str, Any]:
    crd: dict[str, Any] = yaml.safe_load((REPO / "crds" / CRD_FILES[kind]).read_text())
    return crd


def crd_schema_of(kind: str) -> dict[str, Any]:
    schema: dict[str, Any] = load_crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def build_canary(**spec_overrides: Any) -> dict[str, Any]:
    """A valid podinfo Canary; keyword arguments deep-merge into `spec` (None removes a key)."""
    base = {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898},
            "analysis": {"interval": "1m", "threshold": 5, "maxWeight": 50, "stepWeight": 10},
        },
    }
    return _merge(base, {"spec": spec_overrides})


@pytest.fixture
def canary_manifest() -> Callable[..., dict[str, Any]]:
    """Builder of valid Canary manifests: `canary_manifest(analysis={"threshold": "five"})`."""
    return build_canary


@pytest.fixture
def crd() -> Callable[[str], dict[str, Any]]:
    """Loader of a generated CRD by kind."""
    return load_crd


@pytest.fixture
def crd_schema() -> Callable[[str], dict[str, Any]]:
    """Loader of a generated CRD's openAPIV3Schema by kind."""
    return crd_schema_of

