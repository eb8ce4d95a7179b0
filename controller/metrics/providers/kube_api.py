"""Calls to the Kubernetes API for the providers that read it (externalmetrics, keptn).

They go through the controller's own client (its address, TLS and credentials) under the same
rules as every provider call: a total deadline per call, a 1 MiB cap on the answer, and a
``ProviderError`` naming the status and a short fragment of the answer on failure.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any, Protocol

import httpx

from controller.metrics.errors import ProviderError
from controller.metrics.providers.transport import backend_text
from controller.outbound import DEFAULT_MAX_BYTES

__all__ = ["KubeClient", "KubeReply", "kube_call", "kube_error"]


class KubeClient(Protocol):
    """What the providers need of ``controller.kube.Kube``."""

    http: httpx.AsyncClient

    def auth_headers(self) -> dict[str, str]: ...


class KubeReply:
    def __init__(self, status: int, body: Any, text: str) -> None:
        self.status = status
        self.body = body
        self.text = text


async def kube_call(
    kube: KubeClient,
    method: str,
    path: str,
    *,
    deadline: float,
    params: Mapping[str, str] | None = None,
    json_body: object = None,
) -> KubeReply:
    """One API call; the body is decoded JSON (None when it is not JSON)."""
    headers = {"Accept": "application/json", **kube.auth_headers()}
    try:
        async with asyncio.timeout(deadline):
            request = kube.http.build_request(
                method, path, params=dict(params or {}), json=json_body, headers=headers
            )
            response = await kube.http.send(request, stream=True)
            try:
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > DEFAULT_MAX_BYTES:
                        raise ProviderError(f"response is larger than the {DEFAULT_MAX_BYTES}-byte limit")
                    chunks.append(chunk)
            finally:
                await response.aclose()
    except TimeoutError:
        raise ProviderError(f"request timed out after {deadline:g}s") from None
    except httpx.HTTPError as exc:
        raise ProviderError(f"request failed: {type(exc).__name__}") from None
    content = b"".join(chunks)
    text = content.decode("utf-8", errors="replace")
    try:
        body = json.loads(content) if content else None
    except (ValueError, RecursionError):
        body = None
    return KubeReply(response.status_code, body, text)


def kube_error(reply: KubeReply) -> str:
    """``<status>: <message>`` from a Kubernetes ``Status`` answer, or a fragment of the text."""
    message = reply.body.get("message") if isinstance(reply.body, dict) else None
    return f"{reply.status}: {backend_text(str(message) if message else reply.text, ())}"
