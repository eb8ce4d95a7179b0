"""Kubernetes external metrics provider: ``external.metrics.k8s.io/v1beta1``.

Follows Flagger's provider: the query is ``<namespace>/<metricName>?labelSelector=<url-encoded
selector>``, where only the metric name is required (the namespace defaults to ``default``,
``/metric`` also means ``default``, more than one ``/`` is an error). The value is the first
item's ``value`` (a Kubernetes quantity such as ``1500m`` or ``2k``); no item raises
``NoValuesFound``. ``is_online`` lists ``dummy-metric`` in ``kube-system`` and expects success.

Without ``address`` the call goes through the controller's own Kubernetes client. With
``address`` it goes to that API server, with the secret's ``token`` (if any) as a bearer token
and ``insecureSkipVerify`` as set; the controller's own credentials are never sent to a
MetricTemplate's address (Flagger would send them when the secret has no token).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from controller.metrics.errors import NoValuesFound, ProviderConfigError, ProviderError
from controller.metrics.providers.contract import ProviderConfig
from controller.metrics.providers.kube_api import KubeClient, kube_call, kube_error
from controller.metrics.providers.skeleton import HttpProvider, http_address
from controller.metrics.providers.transport import (
    backend_text,
    finite,
    json_of,
)

__all__ = ["ExternalMetricsProvider", "parse_quantity", "parse_query"]

API = "/apis/external.metrics.k8s.io/v1beta1"
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$")
_SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1),
    **{s: Decimal(1024) ** (i + 1) for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
    **{s: Decimal(10) ** e for s, e in (("n", -9), ("u", -6), ("m", -3), ("k", 3), ("M", 6), ("G", 9))},
    **{s: Decimal(10) ** e for s, e in (("T", 12), ("P", 15), ("E", 18))},
}


def parse_query(query: str) -> tuple[str, str, str]:
    """``(namespace, metric, labelSelector)`` of a Flagger external metrics query."""
    parts = urlsplit("dummy:///" + query.strip())
    segments = parts.path.removeprefix("/").split("/")
    if len(segments) > 2:
        raise ProviderError(
            "error parsing metric query: malformed query string, too many slashes, expected "
            f"<namespace>/<metricName>?labelSelector=<urlencoded label selectors>, got {backend_text(query, ())}"
        )
    namespace, metric = (
        ("default", segments[0]) if len(segments) == 1 else (segments[0] or "default", segments[1])
    )
    if not metric:
        raise ProviderError("error parsing metric query: metric name cannot be empty")
    selector = parse_qs(parts.query).get("labelSelector", [""])[0]
    return namespace, metric, selector


def parse_quantity(text: str) -> float:
    """A Kubernetes quantity (``1500m``, ``2k``, ``1Ki``, ``5e3``) as a float; ``ValueError`` if not one."""
    match = _QUANTITY.match(text.strip())
    if not match:
        raise ValueError(f"not a quantity: {text!r}")
    number, suffix = match.group(1), match.group(2) or ""
    try:
        if suffix[:1] in ("e", "E"):
            return float(Decimal(number) * Decimal(10) ** int(suffix[1:]))
        return float(Decimal(number) * _SUFFIXES[suffix])
    except (InvalidOperation, OverflowError):
        raise ValueError(f"not a quantity: {text!r}") from None


class ExternalMetricsProvider(HttpProvider):
    """Reads one external metric through the Kubernetes API (or the template's address)."""

    def __init__(
        self,
        config: ProviderConfig,
        secret: Mapping[str, str] | None = None,
        *,
        kube: KubeClient | None = None,
    ) -> None:
        super().__init__(config)
        self._kube = kube
        address = config.address.strip().rstrip("/")
        token = (secret or {}).get("token", "")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._secrets = (token,) if token else ()
        self._address = http_address(address, "externalmetrics") if address else ""
        if not self._address and kube is None:
            raise ProviderConfigError(
                "could not initialize ExternalMetricsProvider: no Kubernetes client and no address"
            )

    async def run_query(self, query: str) -> float:
        """Return the first item's value of the external metric named by ``query``."""
        namespace, metric, selector = parse_query(query)
        body = await self._list(namespace, metric, selector)
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(body, dict) or not isinstance(items, list | None):
            raise ProviderError("error unmarshaling result: not an ExternalMetricValueList")
        if not items:
            raise NoValuesFound(query)
        value = items[0].get("value") if isinstance(items[0], dict) else None
        if not isinstance(value, str):
            raise ProviderError("error unmarshaling result: item without a quantity value")
        try:
            number = parse_quantity(value)
        except ValueError:
            raise ProviderError(f"error parsing quantity {backend_text(value, self._secrets)}") from None
        return finite(number, query)

    async def is_online(self) -> bool:
        """True when listing a dummy metric in ``kube-system`` succeeds."""
        await self._list("kube-system", "dummy-metric", "")
        return True

    async def _list(self, namespace: str, metric: str, selector: str) -> Any:
        path = f"{API}/namespaces/{quote(namespace, safe='')}/{quote(metric, safe='')}"
        params = {"labelSelector": selector} if selector else None
        if self._address:
            response = await self._get(
                self._address + path, params, error_prefix="error querying external metrics API: "
            )
            return json_of(response)
        assert self._kube is not None
        reply = await kube_call(self._kube, "GET", path, deadline=self._config.timeout, params=params)
        if reply.status != 200:
            raise ProviderError(f"error querying external metrics API: {kube_error(reply)}")
        if reply.body is None:
            raise ProviderError("error unmarshaling result: not JSON")
        return reply.body
