"""Generic JSON webhook notifier (a gitcanary addition; Flagger has no such type).

Body: ``{"workload", "namespace", "message", "severity", "fields": [{"name", "value"}]}``.
Any 2xx status counts as delivered.
"""

from __future__ import annotations

from collections.abc import Sequence

from controller.notify.contract import DEFAULT_NOTIFY_TIMEOUT, Field, Severity
from controller.notify.delivery import post_json

__all__ = ["WebhookNotifier"]

_SUCCESS = frozenset(range(200, 300))


class WebhookNotifier:
    """Posts a plain JSON document describing the alert."""

    def __init__(
        self, address: str, *, proxy: str | None = None, timeout: float = DEFAULT_NOTIFY_TIMEOUT
    ) -> None:
        self._address = address
        self._proxy = proxy
        self._timeout = timeout

    async def post(
        self, workload: str, namespace: str, message: str, fields: Sequence[Field], severity: Severity
    ) -> None:
        """Send one alert."""
        payload = {
            "workload": workload,
            "namespace": namespace,
            "message": message,
            "severity": severity,
            "fields": [{"name": f.name, "value": f.value} for f in fields],
        }
        await post_json(self._address, payload, proxy=self._proxy, timeout=self._timeout, accept=_SUCCESS)
