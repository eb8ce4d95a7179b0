"""How ``gitcanary run`` runs kopf: alone, or as one candidate of a leader election.

With leader election the process first waits as a standby (answering its liveness
endpoint itself, so the kubelet does not restart a healthy standby), then runs the kopf
operator while a second task renews the Lease. When renewal fails past the renew
deadline the process exits with status 1 at once, without waiting for handlers to
finish: another replica may take over as soon as the Lease expires, and two instances
must never drive one Canary. Kubernetes restarts the exited replica as a standby.
On a clean stop (SIGTERM) the leader releases the Lease so a standby takes over
within one retry period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import kopf

from controller.kube import Kube
from controller.leader import DEFAULT_LEASE_NAME, LeaderElector, LeadershipLost

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaderElection:
    namespace: str
    name: str = DEFAULT_LEASE_NAME


def default_lease_namespace() -> str:
    """The Pod's namespace in a cluster (service account mount), else ``gitcanary-system``."""
    path = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    with contextlib.suppress(OSError), open(path) as handle:
        return handle.read().strip()
    return "gitcanary-system"


async def _standby_health(endpoint: str) -> asyncio.Server:
    """A minimal liveness responder while waiting for the Lease (kopf serves it once leading)."""
    url = urlparse(endpoint)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
            body = b'{"standby": true}'
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )
            await writer.drain()
        writer.close()

    return await asyncio.start_server(answer, url.hostname or "0.0.0.0", url.port or 8080)


async def run_operator(namespaces: list[str], health: str, leader: LeaderElection | None) -> None:
    def operator() -> Coroutine[Any, Any, None]:
        return kopf.operator(
            clusterwide=not namespaces, namespaces=namespaces, standalone=True, liveness_endpoint=health
        )

    if leader is None:
        await operator()
        return
    kube = Kube.from_kubeconfig(os.environ.get("KUBECONFIG") or None)
    elector = LeaderElector(kube, leader.namespace, leader.name)
    standby = await _standby_health(health)
    try:
        await elector.acquire()
    finally:
        standby.close()
        await standby.wait_closed()
    renewing = asyncio.create_task(elector.hold(), name="leader-election")
    running = asyncio.create_task(operator(), name="kopf")
    done, _ = await asyncio.wait({renewing, running}, return_when=asyncio.FIRST_COMPLETED)
    if renewing in done:
        exc = renewing.exception()
        reason = str(exc) if isinstance(exc, LeadershipLost) else repr(exc)
        log.error("leader election lost: %s; exiting so that no two instances drive a Canary", reason)
        sys.stderr.flush()
        os._exit(1)
    renewing.cancel()
    await elector.release()
    await kube.close()
    running.result()
