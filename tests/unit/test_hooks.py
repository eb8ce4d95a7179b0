from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from controller.hooks.webhooks import (
    DEFAULT_WEBHOOK_TIMEOUT,
    WebhookPayload,
    WebhookSpec,
    call_webhook,
    event_metadata,
    run_hooks,
    send_event,
)

PAYLOAD = WebhookPayload(name="podinfo", namespace="test", phase="Progressing", checksum="abc123")


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: dict[str, object]


@dataclass
class HookServer:
    url: str = ""
    hits: list[Hit] = field(default_factory=list)
    statuses: dict[str, list[int]] = field(default_factory=dict)
    """Per path, the statuses to answer in turn (the last one repeats)."""
    delay: float = 0.0
    reply: bytes | None = None
    """A body to answer instead of ``reply <status> from <path>``."""
    trickle: bool = False
    """Send the headers, then one byte of a long body every 50 ms."""

    def status_for(self, path: str) -> int:
        queue = self.statuses.get(path, [200])
        return queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.fixture
def hook_server() -> Iterator[HookServer]:
    state = HookServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.hits.append(
                Hit(self.path, {k.lower(): v for k, v in self.headers.items()}, json.loads(raw))
            )
            if state.delay:
                time.sleep(state.delay)
            status = state.status_for(self.path)
            reply = state.reply if state.reply is not None else f"reply {status} from {self.path}".encode()
            if state.trickle:
                self._trickle(status)
                return
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
            except (BrokenPipeError, ConnectionResetError):
                return  # the client timed out first

        def _trickle(self, status: int) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Length", "100000")
                self.end_headers()
                for _ in range(100000):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.05)
            except (BrokenPipeError, ConnectionResetError):
                return

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def hook(server: HookServer, path: str, **kw: object) -> WebhookSpec:
    return WebhookSpec(name=path.strip("/"), url=server.url + path, **kw)  # type: ignore[arg-type]


async def test_payload_shape_matches_flagger(hook_server: HookServer) -> None:
    spec = hook(hook_server, "/load", metadata={"cmd": "hey -z 1m http://podinfo-canary.test:9898/"})
    result = await call_webhook(spec, PAYLOAD)
    assert (result.ok, result.status_code) == (True, 200)
    (hit,) = hook_server.hits
    assert hit.headers["content-type"] == "application/json"
    assert hit.body == {
        "name": "podinfo",
        "namespace": "test",
        "phase": "Progressing",
        "checksum": "abc123",
        "metadata": {"cmd": "hey -z 1m http://podinfo-canary.test:9898/"},
    }


async def test_empty_metadata_is_omitted(hook_server: HookServer) -> None:
    await call_webhook(hook(hook_server, "/plain"), PAYLOAD)
    assert "metadata" not in hook_server.hits[0].body


@pytest.mark.parametrize(
    ("status", "ok"), [(200, True), (201, True), (202, True), (203, False), (500, False)]
)
async def test_only_200_to_202_count_as_success(hook_server: HookServer, status: int, ok: bool) -> None:
    hook_server.statuses["/s"] = [status]
    result = await call_webhook(hook(hook_server, "/s"), PAYLOAD, backoff=0)
    assert (result.ok, result.status_code) == (ok, status)
    if not ok:
        assert result.message == f"reply {status} from /s"


async def test_informational_status_is_not_success(hook_server: HookServer) -> None:
    hook_server.statuses["/info"] = [199]
    result = await call_webhook(hook(hook_server, "/info", timeout=0.5), PAYLOAD, backoff=0)
    assert result.ok is False
    assert result.status_code is None


async def test_timeout_fails_without_leaking_the_url(hook_server: HookServer) -> None:
    hook_server.delay = 0.5
    spec = hook(hook_server, "/slow?token=hunter2", timeout=0.1)
    result = await call_webhook(spec, PAYLOAD)
    assert (result.ok, result.status_code, result.message) == (False, None, "timeout after 0.1s")
    assert "hunter2" not in result.message


async def test_server_errors_are_retried_with_backoff(hook_server: HookServer) -> None:
    hook_server.statuses["/flaky"] = [500, 503, 200]
    started = time.monotonic()
    result = await call_webhook(hook(hook_server, "/flaky", retries=2), PAYLOAD, backoff=0.05)
    elapsed = time.monotonic() - started
    assert result.ok is True
    assert len(hook_server.hits) == 3
    assert elapsed >= 0.05 + 0.1  # 0.05s then 0.1s between attempts


async def test_retries_are_bounded_and_client_errors_are_final(hook_server: HookServer) -> None:
    hook_server.statuses["/down"] = [500]
    hook_server.statuses["/denied"] = [403]
    down = await call_webhook(hook(hook_server, "/down", retries=2), PAYLOAD, backoff=0)
    denied = await call_webhook(hook(hook_server, "/denied", retries=2), PAYLOAD, backoff=0)
    assert (down.ok, denied.ok) == (False, False)
    assert [h.path for h in hook_server.hits] == ["/down"] * 3 + ["/denied"]


async def test_connection_refused_is_a_failure() -> None:
    spec = WebhookSpec(name="gone", url="http://127.0.0.1:9/", timeout=1.0)
    result = await call_webhook(spec, PAYLOAD, backoff=0)
    assert (result.ok, result.status_code) == (False, None)
    assert result.message.startswith("request failed:")


async def test_run_hooks_stops_at_first_failure_with_flagger_message(hook_server: HookServer) -> None:
    hook_server.statuses["/b"] = [500]
    hooks = [
        hook(hook_server, "/a", type="pre-rollout"),
        hook(hook_server, "/b", type="pre-rollout", mute_alert=True),
        hook(hook_server, "/c", type="pre-rollout"),
        hook(hook_server, "/other", type="rollout"),
    ]
    outcome = await run_hooks(hooks, "pre-rollout", PAYLOAD, backoff=0)
    assert outcome.ok is False
    assert outcome.message == "Halt podinfo.test advancement pre-rollout check b failed reply 500 from /b"
    assert outcome.mute_alert is True
    assert [h.path for h in hook_server.hits] == ["/a", "/b"]


async def test_run_hooks_all_pass(hook_server: HookServer) -> None:
    hooks = [hook(hook_server, "/a", type="rollout"), hook(hook_server, "/b", type="rollout")]
    outcome = await run_hooks(hooks, "rollout", PAYLOAD)
    assert outcome.ok is True
    assert outcome.message == "Rollout check a passed; Rollout check b passed"
    assert len(outcome.results) == 2


@pytest.mark.parametrize(
    ("hook_type", "message"),
    [
        ("confirm-rollout", "Halt podinfo.test advancement waiting for approval gate"),
        ("confirm-promotion", "Halt podinfo.test advancement waiting for promotion approval gate"),
        (
            "confirm-traffic-increase",
            "Halt podinfo.test advancement waiting for traffic increase approval gate",
        ),
        ("rollout", "Halt podinfo.test advancement external check gate failed reply 403 from /gate"),
        ("post-rollout", "Post-rollout hook gate failed reply 403 from /gate"),
    ],
)
async def test_gate_messages(hook_server: HookServer, hook_type: str, message: str) -> None:
    hook_server.statuses["/gate"] = [403]
    outcome = await run_hooks([hook(hook_server, "/gate", type=hook_type)], hook_type, PAYLOAD)  # type: ignore[arg-type]
    assert (outcome.ok, outcome.message) == (False, message)


async def test_rollback_hooks_request_rollback_on_success(hook_server: HookServer) -> None:
    hook_server.statuses["/closed"] = [403]
    hooks = [hook(hook_server, "/closed", type="rollback"), hook(hook_server, "/open", type="rollback")]
    outcome = await run_hooks(hooks, "rollback", PAYLOAD)
    assert (outcome.ok, outcome.message) == (True, "Rollback check open passed")
    hook_server.statuses["/open"] = [403]
    quiet = await run_hooks(hooks, "rollback", PAYLOAD)
    assert quiet.ok is False
    assert quiet.message.endswith("Rollback hook open not signaling a rollback")


async def test_no_hooks_of_a_type(hook_server: HookServer) -> None:
    assert (await run_hooks([], "pre-rollout", PAYLOAD)).ok is True
    assert (await run_hooks([], "rollback", PAYLOAD)).ok is False
    assert hook_server.hits == []


async def test_event_hooks_carry_the_event_in_metadata(hook_server: HookServer) -> None:
    hooks = [
        hook(hook_server, "/events", type="event", metadata={"team": "web", "eventType": "ignored"}),
        hook(hook_server, "/not-event", type="rollout"),
    ]
    results = await send_event(
        hooks,
        PAYLOAD,
        event_message="New revision detected! Scaling up podinfo.test",
        event_type="Normal",
        now_ms=1578607635167,
    )
    assert [r.ok for r in results] == [True]
    (hit,) = hook_server.hits
    assert hit.body["metadata"] == {
        "eventMessage": "New revision detected! Scaling up podinfo.test",
        "eventType": "Normal",
        "timestamp": "1578607635167",
        "team": "web",
    }
    assert hit.body["phase"] == "Progressing"


def test_event_metadata_timestamp_defaults_to_now() -> None:
    before = int(time.time() * 1000)
    metadata = event_metadata(
        WebhookSpec(name="e", url="http://x", type="event"), event_message="m", event_type="Warning"
    )
    assert before <= int(metadata["timestamp"]) <= int(time.time() * 1000)


def test_defaults_follow_flagger() -> None:
    spec = WebhookSpec(name="h", url="http://x")
    assert (spec.type, spec.timeout, spec.retries) == ("rollout", DEFAULT_WEBHOOK_TIMEOUT, 0)
    assert DEFAULT_WEBHOOK_TIMEOUT == 10.0


async def test_malformed_url_is_a_failure_not_a_crash() -> None:
    result = await call_webhook(WebhookSpec(name="bad", url="http://[::1"), PAYLOAD, backoff=0)
    assert (result.ok, result.status_code) == (False, None)
    assert result.message == "refused: invalid URL"


def test_the_flux_source_is_added_to_the_metadata_and_the_hooks_keys_win() -> None:
    payload = WebhookPayload(
        name="podinfo",
        namespace="test",
        phase="Progressing",
        source={"sourceRevision": "main@sha1:abc", "introducedBy": "abc"},
    )
    assert payload.body({})["metadata"] == {"sourceRevision": "main@sha1:abc", "introducedBy": "abc"}
    assert payload.body({"type": "bash", "introducedBy": "mine"})["metadata"] == {
        "sourceRevision": "main@sha1:abc",
        "introducedBy": "mine",
        "type": "bash",
    }
    empty = WebhookPayload(name="p", namespace="t", phase="Progressing", source={"sourceRevision": ""})
    assert "metadata" not in empty.body({})


async def test_a_trickling_webhook_is_cut_off_at_its_timeout(hook_server: HookServer) -> None:
    hook_server.trickle = True
    started = time.monotonic()
    result = await call_webhook(hook(hook_server, "/trickle", timeout=0.3), PAYLOAD, backoff=0)
    assert (result.ok, result.status_code, result.message) == (False, None, "timeout after 0.3s")
    assert time.monotonic() - started < 2.0


async def test_a_huge_webhook_answer_fails_at_the_size_cap(hook_server: HookServer) -> None:
    hook_server.reply = b"y" * (5 * 1024 * 1024)
    result = await call_webhook(hook(hook_server, "/huge", timeout=5.0), PAYLOAD, backoff=0)
    assert (result.ok, result.status_code) == (False, None)
    assert "larger than the 1048576-byte limit" in result.message


async def test_failure_messages_carry_only_a_short_sanitized_fragment(hook_server: HookServer) -> None:
    hook_server.statuses["/noisy"] = [500]
    hook_server.reply = b"\x1b[2J\x1b[31mdatabase password=hunter2\r\nfake: log line\x00" + b"z" * 2000
    result = await call_webhook(hook(hook_server, "/noisy"), PAYLOAD, backoff=0)
    assert result.ok is False
    assert len(result.message) <= 120
    assert result.message.isprintable()
    assert "\n" not in result.message and "\x1b" not in result.message


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://metadata.google.internal/",
        "file:///etc/passwd",
    ],
)
async def test_link_local_metadata_and_non_http_hooks_are_refused_without_retries(url: str) -> None:
    result = await call_webhook(WebhookSpec(name="ssrf", url=url, retries=3), PAYLOAD, backoff=0)
    assert (result.ok, result.status_code) == (False, None)
    assert result.message.startswith("refused: ")
    assert "latest/meta-data" not in result.message
