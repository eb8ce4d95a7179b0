"""Traffic routers: one adapter per file behind the ``Router`` Protocol.

:mod:`controller.routers.factory` picks the adapter by provider name (``router_for``).
"""

from controller.routers.base import Router, RouterError, Routes, UnsupportedFeature

__all__ = ["Router", "RouterError", "Routes", "UnsupportedFeature"]
