"""Keptn metric provider: a ``KeptnMetric``'s value or the outcome of a Keptn ``Analysis``.

Follows Flagger's provider (which reads ``metrics.keptn.sh/v1beta1`` through the cluster's
API): the query, lower-cased and trimmed, is
``<keptnmetric|keptnmetrics|analysis|analyses>/<namespace>/<name>[/<duration>[/<k=v;k=v>]]``.

* ``keptnmetric/<ns>/<name>``: the value is ``status.value`` of that KeptnMetric, parsed as a
  number; a missing object or value is an error.
* ``analysis/<ns>/<definition>/<duration>/<args>``: creates an ``Analysis`` named
  ``<definition>-<6 hex>`` for the AnalysisDefinition with ``timeframe.recent`` = duration
  (default ``1m``) and the arguments, polls it every second until ``status.state`` is
  ``Completed`` (at most 10 s), and answers 1 when ``status.pass`` is true, else 0. The
  Analysis is deleted afterwards, whatever happened.

``is_online`` is always True, as in Flagger. Every call goes through the controller's own
Kubernetes client with a total deadline; ``address`` and ``secretRef`` are not used.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from controller.metrics.errors import ProviderConfigError, ProviderError
from controller.metrics.providers.contract import ProviderConfig
from controller.metrics.providers.kube_api import KubeClient, kube_call, kube_error
from controller.metrics.providers.transport import backend_text, finite

__all__ = ["KeptnProvider", "KeptnQuery", "parse_query"]

log = logging.getLogger(__name__)

GROUP_VERSION = "metrics.keptn.sh/v1beta1"
ANALYSIS_TIMEOUT = 10.0
POLL_INTERVAL = 1.0
_FORMAT = "<keptnmetric|analysis>/<namespace>/<resourceName>/<duration>/<arguments>"


class KeptnQuery:
    def __init__(self, resource: str, namespace: str, name: str, duration: str, args: dict[str, str]) -> None:
        self.resource, self.namespace, self.name, self.duration, self.args = (
            resource,
            namespace,
            name,
            duration,
            args,
        )


def parse_query(query: str) -> KeptnQuery:
    parts = query.lower().strip().split("/")
    if len(parts) < 3:
        raise ProviderError(f"unexpected query format. query must be in the format {_FORMAT}")
    kind, namespace, name = parts[0], parts[1], parts[2]
    if kind in ("keptnmetric", "keptnmetrics"):
        return KeptnQuery("keptnmetrics", namespace, name, "", {})
    if kind in ("analysis", "analyses"):
        duration = parts[3] if len(parts) >= 4 else "1m"
        args: dict[str, str] = {}
        if len(parts) >= 5:
            for pair in parts[4].split(";"):
                key_value = pair.split("=")
                if len(key_value) == 2:
                    args[key_value[0]] = key_value[1]
        return KeptnQuery("analyses", namespace, name, duration, args)
    raise ProviderError(
        "unexpected resource kind provided in the query. must be one of: ['keptnmetric', 'analysis']"
    )


class KeptnProvider:
    """Reads KeptnMetrics and runs Keptn Analyses through the Kubernetes API."""

    def __init__(
        self,
        config: ProviderConfig,
        *,
        kube: KubeClient | None,
        analysis_timeout: float = ANALYSIS_TIMEOUT,
        poll_interval: float = POLL_INTERVAL,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if kube is None:
            raise ProviderConfigError("could not initialize KeptnProvider: no Kubernetes client")
        self._config = config
        self._kube = kube
        self._analysis_timeout = analysis_timeout
        self._poll_interval = poll_interval
        self._sleep = sleep

    async def run_query(self, query: str) -> float:
        parsed = parse_query(query)
        if parsed.resource == "keptnmetrics":
            return await self._metric(parsed, query)
        return await self._analysis(parsed)

    async def is_online(self) -> bool:
        return True

    def _path(self, q: KeptnQuery, name: str = "") -> str:
        base = f"/apis/{GROUP_VERSION}/namespaces/{q.namespace}/{q.resource}"
        return f"{base}/{name}" if name else base

    async def _call(self, method: str, path: str, body: object = None) -> Any:
        reply = await kube_call(self._kube, method, path, deadline=self._config.timeout, json_body=body)
        if reply.status >= 300:
            raise ProviderError(kube_error(reply))
        return reply.body

    async def _metric(self, q: KeptnQuery, query: str) -> float:
        where = f"{q.namespace}/{q.name}"
        try:
            obj = await self._call("GET", self._path(q, q.name))
        except ProviderError as exc:
            raise ProviderError(f"could not retrieve KeptnMetric {where}: {exc}") from None
        status = obj.get("status") if isinstance(obj, dict) else None
        value = status.get("value") if isinstance(status, dict) else None
        if not isinstance(value, str) or not value:
            raise ProviderError(f"could not retrieve KeptnMetric - no value found in resource {where}")
        try:
            return finite(value, query)
        except ProviderError:
            raise ProviderError(
                f"could not parse value of KeptnMetric {where} to float: {backend_text(value, ())}"
            ) from None

    async def _analysis(self, q: KeptnQuery) -> float:
        where = f"{q.namespace}/{q.name}"
        wanted = f"{q.name}-{secrets.token_hex(3)}"
        analysis = {
            "apiVersion": GROUP_VERSION,
            "kind": "Analysis",
            "metadata": {"name": wanted, "namespace": q.namespace},
            "spec": {
                "analysisDefinition": {"name": q.name},
                "timeframe": {"recent": q.duration},
                "args": q.args,
            },
        }
        try:
            created = await self._call("POST", self._path(q), analysis)
        except ProviderError as exc:
            raise ProviderError(f"could not create Keptn Analysis {where}: {exc}") from None
        meta = created.get("metadata") if isinstance(created, dict) else None
        name = str(meta.get("name") or wanted) if isinstance(meta, dict) else wanted
        try:
            async with asyncio.timeout(self._analysis_timeout):
                return await self._wait(q, name, where)
        except TimeoutError:
            raise ProviderError(
                f"encountered timeout while waiting for Keptn Analysis {where} to be finished"
            ) from None
        finally:
            await self._delete(q, name)

    async def _wait(self, q: KeptnQuery, name: str, where: str) -> float:
        while True:
            await self._sleep(self._poll_interval)
            try:
                obj = await self._call("GET", self._path(q, name))
            except ProviderError as exc:
                raise ProviderError(
                    f"could not check status of created Keptn Analysis {where}: {exc}"
                ) from None
            status = obj.get("status") if isinstance(obj, dict) else None
            if isinstance(status, dict) and status.get("state") == "Completed" and "pass" in status:
                passed = status["pass"]
                if not isinstance(passed, bool):
                    raise ProviderError(
                        f"could not check status of created Keptn Analysis {where}: pass is not a bool"
                    )
                return 1.0 if passed else 0.0

    async def _delete(self, q: KeptnQuery, name: str) -> None:
        """Delete the Analysis; a failure is logged (as Flagger does) and does not change the answer."""
        try:
            reply = await kube_call(self._kube, "DELETE", self._path(q, name), deadline=self._config.timeout)
        except ProviderError as exc:
            log.warning("could not delete Keptn Analysis %s/%s: %s", q.namespace, name, exc)
            return
        if reply.status >= 300 and reply.status != 404:
            log.warning("could not delete Keptn Analysis %s/%s: %s", q.namespace, name, kube_error(reply))
