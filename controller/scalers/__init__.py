"""Autoscalers of the primary: one adapter per autoscaler kind behind ``PrimaryScaler``."""

from controller.scalers.base import NopScaler, PrimaryScaler, ScalerError, scaler_for

__all__ = ["NopScaler", "PrimaryScaler", "ScalerError", "scaler_for"]
