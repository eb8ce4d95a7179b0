"""Alerts are best-effort and leave the tick's critical path.

A tick only collects the alerts its decision asks for (``PendingAlert``). The runner hands them
to the process-wide ``AlertOutbox`` after the tick's status patch, so an alert always follows
the traffic change and the saved decision, and can neither delay nor abort them. A tick that
fails drops its alerts: its replay decides again and asks again.

The outbox delivers each alert in a background task:

- it resolves the AlertProviders of ``spec.analysis.alerts`` whose severity filter accepts the
  alert, and their Secrets;
- each send has a total deadline (``deadline``), and is tried at most ``attempts`` times with
  exponential backoff (``backoff``, doubled after each failure);
- a send that still fails becomes one Warning Event ``AlertFailed`` naming the provider
  (namespace/name and type) and the notifier's error, which never holds the address and quotes
  at most a short sanitized fragment of a response body;
- a configuration problem (provider or Secret missing, unknown type, not an http(s) URL) is a
  Warning Event at once, without retries: retrying cannot fix it;
- a Canary without ``analysis.alerts`` gets every alert on the controller's default alert
  (``default``: ``gitcanary run --slack-url``, ``--msteams-url`` or ``--discord-url``), with no
  severity filter, as Flagger's global notifier; a Canary with alerts never uses it;
- every alert's first field is ``Cluster`` when ``cluster_name`` (``--cluster-name``) is set;
- at most ``concurrency`` sends run at once; ``drain`` waits for the deliveries in flight and
  ``aclose`` cancels them (at shutdown).
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.api import AlertProvider, Canary
from controller.api.analysis import CanaryAlert
from controller.errors import BestEffortError, TemporaryError
from controller.events import record_event
from controller.kube import Kube
from controller.notify import (
    DEFAULT_NOTIFY_TIMEOUT,
    Field,
    Notifier,
    NotifyError,
    NotifyRefused,
    Severity,
    notifier_for,
    should_send,
)
from controller.notify.background import BackgroundTasks
from controller.notify.settings import DefaultAlert

__all__ = ["ALERT_FAILED", "AlertOutbox", "PendingAlert", "alert_fields"]

log = logging.getLogger(__name__)
Obj = dict[str, Any]

ALERT_FAILED = "AlertFailed"
"""The reason of the Warning Event that reports an alert that could not be delivered."""


@dataclass(frozen=True, slots=True)
class PendingAlert:
    """An alert a tick's decision asked for, sent once the decision is saved."""

    message: str
    severity: Severity


def alert_fields(canary: Canary, raw: Obj, cluster_name: str = "") -> list[Field]:
    """The fields every alert of this Canary carries: the cluster, its target and the Flux revision."""
    namespace = canary.metadata.namespace or ""
    target = canary.spec.target_ref
    fields = [Field("Cluster", cluster_name)] if cluster_name else []
    fields.append(Field("Target", f"{target.kind}/{target.name}.{namespace}"))
    gitops = (raw.get("status") or {}).get("gitops") or {}
    revision = str((gitops.get("source") or {}).get("revision") or "")
    if revision:
        fields.append(Field("Source", revision))
    return fields


class _ProviderProblem(BestEffortError):
    """An alert provider that no retry can fix (missing, unknown type, bad URL)."""


@dataclass
class AlertOutbox:
    """Sends alerts in the background with bounded retries; see the module docstring."""

    attempts: int = 3
    """How many times one alert is tried per provider."""
    deadline: float = DEFAULT_NOTIFY_TIMEOUT
    """Seconds one try may take in total (connect, send, answer)."""
    backoff: float = 1.0
    """Seconds before the second try; doubled before each further try."""
    concurrency: int = 32
    """Sends in flight at most, over all Canaries."""
    default: DefaultAlert | None = None
    """The controller's default alert, for Canaries without ``analysis.alerts``."""
    cluster_name: str = ""
    """Shown as the first field (``Cluster``) of every alert when set."""
    _tasks: BackgroundTasks = field(default_factory=BackgroundTasks, init=False, repr=False)
    _sending: asyncio.Semaphore | None = field(default=None, init=False, repr=False)

    def send(self, kube: Kube, canary: Canary, raw: Obj, alerts: Sequence[PendingAlert]) -> None:
        """Start delivering ``alerts`` in the background; return at once."""
        if not alerts or not (canary.spec.analysis.alerts or self.default):
            return
        fields = tuple(alert_fields(canary, raw, self.cluster_name))
        for alert in alerts:
            self._tasks.start(self._deliver_all(kube, canary, raw, alert, fields))

    async def drain(self) -> None:
        """Wait until every delivery started so far has finished."""
        await self._tasks.drain()

    async def aclose(self) -> None:
        """Cancel the deliveries in flight (at shutdown)."""
        await self._tasks.aclose()

    async def _deliver_all(
        self, kube: Kube, canary: Canary, raw: Obj, alert: PendingAlert, fields: tuple[Field, ...]
    ) -> None:
        if not canary.spec.analysis.alerts and self.default:  # Flagger's global notifier: no filter
            await self._deliver(kube, canary, raw, self.default, alert, fields)
        for wanted in canary.spec.analysis.alerts:
            if should_send(wanted.severity or "info", alert.severity):
                await self._deliver(kube, canary, raw, wanted, alert, fields)

    async def _deliver(
        self,
        kube: Kube,
        canary: Canary,
        raw: Obj,
        wanted: CanaryAlert | DefaultAlert,
        alert: PendingAlert,
        fields: tuple[Field, ...],
    ) -> None:
        """Resolve the provider and post, at most ``attempts`` times; an Event if all fail."""
        namespace = canary.metadata.namespace or ""
        if isinstance(wanted, DefaultAlert):
            named = wanted.flag
        else:
            named = f"{wanted.provider_ref.namespace or namespace}/{wanted.provider_ref.name}"
        provider = named
        wait, error, attempts = self.backoff, "", max(1, self.attempts)
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                await asyncio.sleep(wait)
                wait *= 2
            try:
                if isinstance(wanted, DefaultAlert):
                    notifier, kind = wanted.notifier, str(wanted.kind)
                else:
                    notifier, kind = await _notifier(kube, wanted, namespace)
                provider = f"{named} ({kind})"
                await self._post(notifier, canary, alert, fields)
                return
            except (_ProviderProblem, NotifyRefused) as exc:  # no retry can fix it
                await record_event(kube, raw, "Warning", ALERT_FAILED, f"alert provider {provider}: {exc}")
                return
            except (NotifyError, TemporaryError) as exc:
                error = str(exc)
                log.warning(
                    "%s: alert provider %s, try %d of %d: %s", canary.key, provider, attempt, attempts, error
                )
        tries = f"{attempts} tries" if attempts > 1 else "1 try"
        await record_event(
            kube, raw, "Warning", ALERT_FAILED, f"alert provider {provider} failed after {tries}: {error}"
        )

    async def _post(
        self, notifier: Notifier, canary: Canary, alert: PendingAlert, fields: tuple[Field, ...]
    ) -> None:
        if self._sending is None:
            self._sending = asyncio.Semaphore(self.concurrency)
        async with self._sending:
            try:
                async with asyncio.timeout(self.deadline):
                    await notifier.post(
                        canary.spec.target_ref.name,
                        canary.metadata.namespace or "",
                        alert.message,
                        fields,
                        alert.severity,
                    )
            except TimeoutError:
                raise NotifyError(
                    f"sending notification failed: no answer within {self.deadline:g}s"
                ) from None


async def _notifier(kube: Kube, alert: CanaryAlert, namespace: str) -> tuple[Notifier, str]:
    """The notifier of the AlertProvider ``alert`` names, and the provider's type."""
    ref = alert.provider_ref
    ref_namespace = ref.namespace or namespace
    raw = await kube.get("gitcanary.io/v1beta1", "AlertProvider", ref_namespace, ref.name)
    if raw is None:
        raise _ProviderProblem("not found")
    try:
        provider = AlertProvider.from_k8s(raw)
    except ValueError as exc:
        raise _ProviderProblem(f"invalid: {exc}") from None
    secret: Mapping[str, str] | None = None
    if provider.spec.secret_ref:
        secret = await _secret(kube, ref_namespace, provider.spec.secret_ref.name)
    try:
        notifier = notifier_for(
            provider.spec.type,
            address=provider.spec.address or "",
            channel=provider.spec.channel or "",
            username=provider.spec.username or "",
            proxy=provider.spec.proxy,
            secret=secret,
        )
    except NotifyError as exc:
        raise _ProviderProblem(f"({provider.spec.type}) {exc}") from None
    return notifier, str(provider.spec.type)


async def _secret(kube: Kube, namespace: str, name: str) -> dict[str, str]:
    secret = await kube.get("v1", "Secret", namespace, name)
    if secret is None:
        raise _ProviderProblem(f"secret {namespace}/{name} not found")
    try:
        return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    except ValueError:
        raise _ProviderProblem(f"secret {namespace}/{name} holds data that is not base64 UTF-8") from None
