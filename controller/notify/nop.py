"""The null notifier, used when no alert address is configured."""

from __future__ import annotations

from collections.abc import Sequence

from controller.notify.contract import Field, Severity

__all__ = ["NopNotifier"]


class NopNotifier:
    """Accepts every alert and sends nothing."""

    async def post(
        self, workload: str, namespace: str, message: str, fields: Sequence[Field], severity: Severity
    ) -> None:
        """Do nothing."""
        return None
