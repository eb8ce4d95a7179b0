"""The load tester's HTTP routes, with Flagger's answers (``pkg/loadtester/server.go``).

Answers, as Flagger gives them:
- ``/gate/approve`` 200 ``OK``; ``/gate/halt`` 403 ``Forbidden``.
- ``/gate/check`` and ``/rollback/check``: 200 ``Approved`` when open, 403 ``Forbidden`` when
  closed (every gate starts closed). ``/gate/open|close`` and ``/rollback/open|close``: 202.
- ``POST /`` (and any other path): 400 for a body that is no webhook payload, for a payload
  without metadata, an unknown type or no ``cmd``; 202 once a ``cmd`` task is queued; 200 when a
  ``bash``/``helm``/``kubectl`` task succeeds (with its output when ``returnCmdOutput`` is true),
  500 with the reason and output when it fails.
- Every route but the approve/halt constants answers 403 ``Forbidden`` when ``--namespace-regexp``
  does not match the payload's namespace (Flagger's authorizer).
- ``/healthz`` 200 ``OK``; ``/metrics`` the load tester's Prometheus metrics.
Request bodies are capped at ``MAX_BODY_BYTES``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import prometheus_client
from aiohttp import web

from controller.loadtester.gates import GateStore, gate_key, rollback_key
from controller.loadtester.tasks import (
    BACKGROUND_TYPE,
    TaskError,
    TaskRunner,
    build_task,
    parse_bool,
    run_task,
)

__all__ = ["MAX_BODY_BYTES", "Payload", "build_app"]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
Handler = Callable[[web.Request], Awaitable[web.Response]]


@dataclass(frozen=True)
class Payload:
    """Flagger's ``CanaryWebhookPayload``: the fields the load tester reads."""

    name: str
    namespace: str
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def canary(self) -> str:
        return f"{self.name}.{self.namespace}"


class BadPayload(Exception):
    """The body is not a webhook payload (Go's json.Unmarshal would fail)."""


def parse_payload(body: bytes) -> Payload:
    try:
        loaded = json.loads(body)
    except ValueError as exc:
        raise BadPayload(f"decoding the request body failed: {exc}") from exc
    if not isinstance(loaded, dict):
        raise BadPayload("decoding the request body failed: not a JSON object")
    name, namespace = loaded.get("name", ""), loaded.get("namespace", "")
    metadata = loaded.get("metadata") or {}
    if not isinstance(name, str) or not isinstance(namespace, str):
        raise BadPayload("decoding the request body failed: name and namespace must be strings")
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise BadPayload("decoding the request body failed: metadata must map strings to strings")
    return Payload(name, namespace, dict(metadata))


def _text(status: int, text: str = "") -> web.Response:
    return web.Response(status=status, text=text)


class LoadTester:
    """The route handlers over one gate store and one task runner."""

    def __init__(
        self, gates: GateStore, runner: TaskRunner, namespace_regexp: re.Pattern[str] | None
    ) -> None:
        self.gates = gates
        self.runner = runner
        self.namespace_regexp = namespace_regexp
        self.registry = prometheus_client.CollectorRegistry()
        self.tasks = prometheus_client.Counter(
            "gitcanary_loadtester_tasks",
            "Tasks the load tester ran, by type and result.",
            ["type", "result"],
            registry=self.registry,
        )
        self.gate_checks = prometheus_client.Counter(
            "gitcanary_loadtester_gate_checks",
            "Gate and rollback checks, by route and answer.",
            ["route", "approved"],
            registry=self.registry,
        )

    async def _payload(self, request: web.Request) -> Payload | web.Response:
        try:
            payload = parse_payload(await request.read())
        except BadPayload as exc:
            log.warning("%s: %s", request.path, exc)
            return _text(400, str(exc))
        if self.namespace_regexp is not None and not self.namespace_regexp.search(payload.namespace):
            return _text(403, "Forbidden")
        return payload

    def check(self, rollback: bool) -> Handler:
        async def handle(request: web.Request) -> web.Response:
            payload = await self._payload(request)
            if isinstance(payload, web.Response):
                return payload
            key = (rollback_key if rollback else gate_key)(payload.name, payload.namespace)
            approved = self.gates.is_open(key)
            self.gate_checks.labels(request.path, str(approved).lower()).inc()
            log.info("%s check: approved %s", key, approved)
            return _text(200, "Approved") if approved else _text(403, "Forbidden")

        return handle

    def change(self, rollback: bool, is_open: bool) -> Handler:
        async def handle(request: web.Request) -> web.Response:
            payload = await self._payload(request)
            if isinstance(payload, web.Response):
                return payload
            key = (rollback_key if rollback else gate_key)(payload.name, payload.namespace)
            await self.gates.set(key, is_open)
            log.info("%s %s", key, "opened" if is_open else "closed")
            return _text(202)

        return handle

    async def new_task(self, request: web.Request) -> web.Response:
        payload = await self._payload(request)
        if isinstance(payload, web.Response):
            return payload
        if not payload.metadata:
            return _text(400, "metadata not found in payload")
        try:
            task = build_task(payload.canary, payload.metadata, self.runner.settings)
        except TaskError as exc:
            return _text(exc.status, str(exc))
        if task.type == BACKGROUND_TYPE:
            self.runner.add(task)
            self.tasks.labels(task.type, "queued").inc()
            return _text(202)
        result = await run_task(task, self.runner.settings)
        self.tasks.labels(task.type, "succeeded" if result.ok else "failed").inc()
        output = result.output.decode("utf-8", "replace")
        if not result.ok:
            return _text(500, f"{task.type} task {task.program} failed ({result.describe()}): {output}")
        return _text(200, output if parse_bool(payload.metadata.get("returnCmdOutput")) else "")

    async def metrics(self, _request: web.Request) -> web.Response:
        body = prometheus_client.generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST})


async def _ok(_request: web.Request) -> web.Response:
    return _text(200, "OK")


async def _halt(_request: web.Request) -> web.Response:
    return _text(403, "Forbidden")


def build_app(
    gates: GateStore, runner: TaskRunner, namespace_regexp: re.Pattern[str] | None = None
) -> web.Application:
    """The aiohttp application; closing it cancels the running ``cmd`` tasks."""
    tester = LoadTester(gates, runner, namespace_regexp)
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    routes = [
        ("/healthz", _ok),
        ("/metrics", tester.metrics),
        ("/gate/approve", _ok),
        ("/gate/halt", _halt),
        ("/gate/check", tester.check(rollback=False)),
        ("/gate/open", tester.change(rollback=False, is_open=True)),
        ("/gate/close", tester.change(rollback=False, is_open=False)),
        ("/rollback/check", tester.check(rollback=True)),
        ("/rollback/open", tester.change(rollback=True, is_open=True)),
        ("/rollback/close", tester.change(rollback=True, is_open=False)),
        ("/{path:.*}", tester.new_task),
    ]
    for path, handler in routes:
        app.router.add_route("*", path, handler)

    async def stop_tasks(_app: web.Application) -> None:
        await runner.close()

    app.on_cleanup.append(stop_tasks)
    return app
