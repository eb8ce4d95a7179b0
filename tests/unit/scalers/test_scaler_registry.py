"""The scaler registry: one adapter per autoscalerRef kind, the Nop scaler without one."""

from __future__ import annotations

from typing import Any, cast

import pytest

from controller.kube import Kube
from controller.scalers import NopScaler, ScalerError
from controller.scalers.factory import scaler_for
from controller.scalers.hpa import HPAScaler
from controller.scalers.keda import ScaledObjectScaler
from controller.scalers.keda_http import HTTPScaledObjectScaler

KUBE = cast(Kube, object())  # the factories only keep it


def canary(ref: dict[str, Any] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"}}
    if ref is not None:
        spec["autoscalerRef"] = ref
    return {"metadata": {"name": "podinfo", "namespace": "test", "uid": "u"}, "spec": spec}


async def test_no_autoscaler_ref_is_the_nop_scaler() -> None:
    scaler = scaler_for(KUBE, canary(None))
    assert isinstance(scaler, NopScaler)
    assert await scaler.replicas_hint() is None
    assert await scaler.reconcile_primary() is None


@pytest.mark.parametrize(
    ("kind", "api_version", "cls"),
    [
        ("HorizontalPodAutoscaler", "autoscaling/v2", HPAScaler),
        ("ScaledObject", "keda.sh/v1alpha1", ScaledObjectScaler),
        ("HTTPScaledObject", "keda.sh/v1alpha1", HTTPScaledObjectScaler),
    ],
)
def test_each_kind_has_its_scaler(kind: str, api_version: str, cls: type) -> None:
    scaler = scaler_for(KUBE, canary({"apiVersion": api_version, "kind": kind, "name": "podinfo"}))
    assert isinstance(scaler, cls)


def test_http_scaled_object_with_the_seed_group_uses_http_keda_sh() -> None:
    ref = {"apiVersion": "keda.sh/v1alpha1", "kind": "HTTPScaledObject", "name": "podinfo"}
    scaler = scaler_for(KUBE, canary(ref))
    assert isinstance(scaler, HTTPScaledObjectScaler)
    assert scaler.api_version == "http.keda.sh/v1alpha1"
    assert scaler.group_note is not None


def test_an_invalid_reference_is_a_scaler_error() -> None:
    with pytest.raises(ScalerError, match="autoscalerRef"):
        scaler_for(KUBE, canary({"apiVersion": "v1", "kind": "Pod", "name": "x"}))
