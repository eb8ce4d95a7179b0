"""Autoscalers of the primary: one adapter per autoscaler kind behind ``PrimaryScaler``.

:mod:`controller.scalers.factory` picks the adapter by ``spec.autoscalerRef.kind`` (``scaler_for``).
"""

from controller.scalers.base import NopScaler, PrimaryScaler, ScalerError

__all__ = ["NopScaler", "PrimaryScaler", "ScalerError"]
