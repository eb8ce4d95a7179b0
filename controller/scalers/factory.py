"""Pick the PrimaryScaler for a Canary: the one module that knows every scaler adapter.

Adding a scaler is one module in this package (a class built from ``(kube, canary, ref)`` that
implements :class:`controller.scalers.base.PrimaryScaler`), one line in ``SCALERS``, and its test.
Adapters never import this module; the caller that needs a scaler (the target workload) does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.kube import Kube
from controller.scalers import hpa, keda, keda_http
from controller.scalers.base import NopScaler, PrimaryScaler, ScalerError, ScalerFactory, autoscaler_ref

__all__ = ["SCALERS", "scaler_for"]

Obj = dict[str, Any]

SCALERS: Mapping[str, ScalerFactory] = {
    hpa.KIND: hpa.HPAScaler,
    keda.KIND: keda.ScaledObjectScaler,
    keda_http.KIND: keda_http.HTTPScaledObjectScaler,
}
"""``spec.autoscalerRef.kind`` to scaler adapter."""


def scaler_for(kube: Kube, canary: Obj) -> PrimaryScaler:
    """The scaler for ``spec.autoscalerRef.kind``; the Nop scaler when there is no reference."""
    ref = autoscaler_ref(canary)
    if ref is None:
        return NopScaler()
    factory = SCALERS.get(ref.kind)
    if factory is None:
        raise ScalerError(f"autoscalerRef kind {ref.kind} is not supported; use {', '.join(sorted(SCALERS))}")
    return factory(kube, canary, ref)
