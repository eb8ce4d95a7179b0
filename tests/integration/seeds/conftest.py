"""What the seed-tutorial tests share: the seed manifests, kubectl probes, a stand-in for
Flagger's load tester, and a stand-in Gateway API controller.

The tutorials run against the sandbox, which has a real apiserver, fake nodes, Prometheus and
the traffic exporter, but no mesh, no ingress and no load tester. Two stand-ins fill those gaps:

- ``WebhookReceiver`` answers the tutorials' webhooks (``http://flagger-loadtester.test/``) on
  127.0.0.1 with 200 and records every payload. The controller process runs on the same host,
  so it reaches the receiver. The receiver runs no commands: it only records them.
- ``GatewayStandIn`` plays the Gateway API controller. It sets
  ``status.parents[].conditions`` Accepted=True on each HTTPRoute of a namespace for the
  route's current generation, as Istio's gateway would. The Gateway API router's
  ``get_routes`` refuses a split that the parents have not accepted.

Invariants: every stand-in is stopped by the fixture that started it, and ``wait_for``
fails with the tail of the controller log, so a timeout shows what the controller did.

The ``controller_process`` fixture is the operator suite's fixture (one real ``gitcanary run``
against the sandbox). It is re-exported here because a conftest fixture is only visible
under its own directory.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import urllib3
import yaml
from kubernetes import client, config

from gitcanary_sandbox.client import SandboxClient

__all__ = [
    "GatewayStandIn",
    "WebhookReceiver",
    "apply",
    "canary_events",
    "follow_rollout",
    "get",
    "phase",
    "seed_documents",
    "wait_for",
]

Obj = dict[str, Any]
FENCE = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)
GATEWAY_CONTROLLER = "gitcanary.io/seed-test-gateway"


# -- the seeds ----------------------------------------------------------------------------------
def seed_documents(path: Path) -> list[Obj]:
    """Every YAML mapping in the seed's ```yaml fences, in order."""
    docs: list[Obj] = []
    for block in FENCE.findall(path.read_text()):
        for doc in yaml.safe_load_all(block.replace("\u00a0", " ")):
            if isinstance(doc, dict):
                docs.append(doc)
    return docs


# -- kubectl probes -----------------------------------------------------------------------------
def apply(sandbox: SandboxClient, *objs: Obj) -> None:
    items = {"apiVersion": "v1", "kind": "List", "items": list(objs)}
    sandbox.kubectl("apply", "-f", "-", stdin=json.dumps(items))


def get(sandbox: SandboxClient, kind: str, namespace: str, name: str) -> Obj:
    obj: Obj = json.loads(sandbox.kubectl("get", kind, "-n", namespace, name, "-o", "json"))
    return obj


def phase(sandbox: SandboxClient, namespace: str, name: str = "podinfo") -> str:
    status = get(sandbox, "canaries.gitcanary.io", namespace, name).get("status") or {}
    return str(status.get("phase", ""))


def canary_events(sandbox: SandboxClient, namespace: str) -> list[str]:
    items = json.loads(sandbox.kubectl("get", "events", "-n", namespace, "-o", "json"))["items"]
    return [str(e["message"]) for e in items if e["involvedObject"]["kind"] == "Canary"]


def wait_for(what: str, probe: Callable[[], Any], timeout: float, log: Path, every: float = 0.5) -> Any:
    """Poll ``probe`` until it returns something truthy; fail with the controller log's tail."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what}; last: {last}\ncontroller log:\n{tail}"
    )


Split = tuple[int, int]
"""(primary weight, canary weight) as read back from the router's object."""


def follow_rollout(
    sandbox: SandboxClient,
    namespace: str,
    log: Path,
    read_split: Callable[[], Split],
    *,
    until: Callable[[str, Split], bool],
    timeout: float,
) -> list[Split]:
    """Poll the Canary phase and the live split until ``until(phase, split)``; return every
    distinct split seen, in order.

    ``until`` is only consulted once the Canary is Progressing, so the phase a previous rollout
    ended in is never mistaken for this one's. A Canary that ends in a phase ``until`` does not
    accept fails the test at once instead of waiting for the timeout."""
    seen: list[Split] = []
    progressing = False

    def probe() -> bool:
        nonlocal progressing
        # The phase is read before the split: the controller moves the routes before it writes a
        # final phase, so the split read after seeing that phase already shows the final routes.
        current = phase(sandbox, namespace)
        split = read_split()
        if not seen or seen[-1] != split:
            seen.append(split)
        progressing = progressing or current == "Progressing"
        if not progressing:
            return False
        if until(current, split):
            return True
        if current in ("Succeeded", "Failed"):
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
            raise AssertionError(f"the Canary ended {current}; splits seen: {seen}\ncontroller log:\n{tail}")
        return False

    wait_for(f"the rollout in {namespace} (splits seen: {seen})", probe, timeout, log)
    return seen


# -- the load tester stand-in ---------------------------------------------------------------------
@dataclass
class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that answers 200 and records ``(path, payload)`` per call."""

    calls: list[tuple[str, Obj]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                payload = json.loads(self.rfile.read(length) or b"{}")
                receiver.calls.append((self.path, payload))
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def url(self, hook: str) -> str:
        assert self._server is not None, "the receiver is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/{hook}"

    def payloads(self, hook: str) -> list[Obj]:
        return [payload for path, payload in list(self.calls) if path == f"/{hook}"]


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


# -- the Gateway API controller stand-in ----------------------------------------------------------
def accepted_status(route: Obj, now: str) -> Obj:
    """``status.parents`` accepting the route's current generation on every parentRef (pure)."""
    generation = int(route["metadata"].get("generation", 1))
    conditions = [
        {
            "type": kind,
            "status": "True",
            "reason": kind,
            "message": "set by the seed tests' stand-in gateway controller",
            "observedGeneration": generation,
            "lastTransitionTime": now,
        }
        for kind in ("Accepted", "ResolvedRefs")
    ]
    parents = [
        {"parentRef": ref, "controllerName": GATEWAY_CONTROLLER, "conditions": conditions}
        for ref in (route.get("spec") or {}).get("parentRefs") or []
    ]
    return {"parents": parents}


def is_accepted(route: Obj) -> bool:
    generation = int(route["metadata"].get("generation", 1))
    parents = (route.get("status") or {}).get("parents") or []
    wanted = len((route.get("spec") or {}).get("parentRefs") or [])
    accepted = [
        p
        for p in parents
        for c in p.get("conditions") or []
        if c.get("type") == "Accepted"
        and c.get("status") == "True"
        and int(c.get("observedGeneration", 0)) >= generation
    ]
    return len(accepted) >= wanted


class GatewayStandIn:
    """Accepts every HTTPRoute of one namespace, generation after generation, until stopped."""

    GROUP, VERSION, PLURAL = "gateway.networking.k8s.io", "v1", "httproutes"

    def __init__(self, kubeconfig: Path, namespace: str) -> None:
        self.namespace = namespace
        api_client = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
        self.api = client.CustomObjectsApi(api_client)
        self.accepted: list[tuple[str, int]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self.accept_pending()
            except client.ApiException as exc:
                # A status write racing the router's write of a new generation: next round.
                self.errors.append(f"{exc.status}: {exc.reason}")
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                self.errors.append(repr(exc))

    def accept_pending(self) -> None:
        routes = self.api.list_namespaced_custom_object(
            self.GROUP, self.VERSION, self.namespace, self.PLURAL, _request_timeout=5
        )
        assert isinstance(routes, dict), routes
        for route in routes.get("items") or []:
            if is_accepted(route):
                continue
            now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            name = route["metadata"]["name"]
            self.api.patch_namespaced_custom_object_status(
                self.GROUP,
                self.VERSION,
                self.namespace,
                self.PLURAL,
                name,
                {"status": accepted_status(route, now)},
                _content_type="application/merge-patch+json",
                _request_timeout=5,
            )
            self.accepted.append((name, int(route["metadata"].get("generation", 1))))


@pytest.fixture
def gateway_stand_in(sandbox: SandboxClient, namespace: str) -> Iterator[GatewayStandIn]:
    stand_in = GatewayStandIn(sandbox.kubeconfig, namespace)
    stand_in.start()
    try:
        yield stand_in
    finally:
        stand_in.stop()
