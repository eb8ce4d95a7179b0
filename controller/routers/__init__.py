"""Traffic routers: one adapter per file behind the ``Router`` Protocol, chosen by provider name."""

from controller.routers.base import Router, RouterError, Routes, UnsupportedFeature, router_for

__all__ = ["Router", "RouterError", "Routes", "UnsupportedFeature", "router_for"]
