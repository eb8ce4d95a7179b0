"""The one skeleton every HTTP notifier stands on: build a JSON payload, post it, classify errors.

A notifier subclasses ``JsonNotifier`` and writes only its payload shape (``payload``), and where
it differs, the address it posts to (``endpoint``) and its headers (``headers``). Posting (URL
policy, proxy, total deadline, size cap, 2xx success, errors without the address) is
``controller.notify.delivery.post_json``. Retries belong to the caller (the alert outbox and the
event webhook make a bounded number of tries), so one failed try is one ``NotifyError``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from controller.notify.contract import DEFAULT_NOTIFY_TIMEOUT, Field, Severity
from controller.notify.delivery import post_json

__all__ = ["Alert", "JsonNotifier"]


@dataclass(frozen=True)
class Alert:
    """One alert, as ``Notifier.post`` receives it."""

    workload: str
    namespace: str
    message: str
    fields: Sequence[Field]
    severity: Severity

    @property
    def subject(self) -> str:
        """``<workload>.<namespace>``, the title line of every Flagger notifier."""
        return f"{self.workload}.{self.namespace}"


class JsonNotifier(ABC):
    """A ``Notifier`` that posts one JSON document per alert."""

    def __init__(
        self, address: str, *, proxy: str | None = None, timeout: float = DEFAULT_NOTIFY_TIMEOUT
    ) -> None:
        self._address = self.endpoint(address)
        self._proxy = proxy
        self._timeout = timeout

    def endpoint(self, address: str) -> str:
        """Where the alert is posted, given the configured address."""
        return address

    def headers(self) -> Mapping[str, str]:
        """Extra request headers (none by default)."""
        return {}

    def secrets(self) -> Sequence[str]:
        """Values that must never appear in an error message (the address always is one)."""
        return ()

    @abstractmethod
    def payload(self, alert: Alert) -> object:
        """The JSON document of one alert."""

    async def post(
        self, workload: str, namespace: str, message: str, fields: Sequence[Field], severity: Severity
    ) -> None:
        """Send one alert; raise ``NotifyError`` on failure."""
        document = self.payload(Alert(workload, namespace, message, tuple(fields), severity))
        await post_json(
            self._address,
            document,
            proxy=self._proxy,
            headers=self.headers(),
            timeout=self._timeout,
            secrets=self.secrets(),
        )
