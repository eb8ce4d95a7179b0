"""Built-in gates: decisions from annotations, and their combination with HTTP hooks.

``builtin_gate_outcome`` is pure and tested directly; ``answer_hooks`` mixes builtin hooks
with real HTTP hooks served by an in-process server on 127.0.0.1.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from controller.cli.main import main
from controller.hooks.gates import (
    GATE_ANNOTATIONS,
    GATE_URL,
    ROLLBACK_ANNOTATION,
    ROLLBACK_CONSUMED_PATCH,
    ROLLBACK_URL,
    answer_hooks,
    builtin_gate_outcome,
    gate_value,
    is_builtin_url,
)
from controller.hooks.webhooks import HookType, WebhookPayload, WebhookSpec

REV = "7f9c4d2b"
CONFIRM_TYPES: tuple[HookType, ...] = ("confirm-rollout", "confirm-traffic-increase", "confirm-promotion")
PAYLOAD = WebhookPayload(name="podinfo", namespace="test", phase="Progressing", checksum=REV)


# --- builtin_gate_outcome ------------------------------------------------------------------


@pytest.mark.parametrize("hook_type", CONFIRM_TYPES)
def test_confirm_gate_is_closed_without_annotation(hook_type: HookType) -> None:
    outcome = builtin_gate_outcome(hook_type, GATE_URL, {}, REV)
    assert outcome is not None and not outcome.ok
    assert GATE_ANNOTATIONS[hook_type] in outcome.message


@pytest.mark.parametrize("hook_type", CONFIRM_TYPES)
def test_each_confirm_type_reads_only_its_own_annotation(hook_type: HookType) -> None:
    own = GATE_ANNOTATIONS[hook_type]
    others = {a: "open" for t, a in GATE_ANNOTATIONS.items() if t != hook_type}
    closed = builtin_gate_outcome(hook_type, GATE_URL, others, REV)
    assert closed is not None and not closed.ok
    opened = builtin_gate_outcome(hook_type, GATE_URL, {**others, own: "open"}, REV)
    assert opened is not None and opened.ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("open", True),
        (" open ", True),
        ("closed", False),
        (f"open:{REV}", True),
        ("open:0000aaaa", False),
        ("open:", False),
        ("yes", False),
        ("OPEN", False),
        ("", False),
    ],
)
def test_promotion_gate_values(value: str, ok: bool) -> None:
    annotations = {GATE_ANNOTATIONS["confirm-promotion"]: value}
    outcome = builtin_gate_outcome("confirm-promotion", GATE_URL, annotations, REV)
    assert outcome is not None and outcome.ok is ok, outcome


def test_revision_pinned_gate_names_both_revisions_when_it_does_not_match() -> None:
    annotations = {GATE_ANNOTATIONS["confirm-rollout"]: "open:abc"}
    outcome = builtin_gate_outcome("confirm-rollout", GATE_URL, annotations, REV)
    assert outcome is not None and not outcome.ok
    assert "abc" in outcome.message and REV in outcome.message


@pytest.mark.parametrize(("value", "requested"), [("requested", True), ("", False), ("no", False)])
def test_rollback_requested_only_by_the_exact_value(value: str, requested: bool) -> None:
    outcome = builtin_gate_outcome("rollback", ROLLBACK_URL, {ROLLBACK_ANNOTATION: value}, REV)
    assert outcome is not None and outcome.ok is requested


def test_rollback_not_requested_without_annotation() -> None:
    outcome = builtin_gate_outcome("rollback", ROLLBACK_URL, {}, REV)
    assert outcome is not None and not outcome.ok


@pytest.mark.parametrize("url", ["http://loadtester.test/gate/approve", "https://x/", "", "gitcanary:other"])
def test_other_urls_are_not_builtin(url: str) -> None:
    assert (
        builtin_gate_outcome("confirm-promotion", url, {GATE_ANNOTATIONS["confirm-promotion"]: "open"}, REV)
        is None
    )
    assert not is_builtin_url(url)


@pytest.mark.parametrize(
    ("hook_type", "url"),
    [
        ("rollout", GATE_URL),
        ("rollback", GATE_URL),
        ("confirm-promotion", ROLLBACK_URL),
        ("pre-rollout", ROLLBACK_URL),
    ],
)
def test_builtin_url_with_a_type_it_does_not_serve_never_passes(hook_type: HookType, url: str) -> None:
    everything = {**dict.fromkeys(GATE_ANNOTATIONS.values(), "open"), ROLLBACK_ANNOTATION: "requested"}
    outcome = builtin_gate_outcome(hook_type, url, everything, REV)
    assert outcome is not None and not outcome.ok
    assert "does not answer" in outcome.message


def test_gate_value_and_consumed_patch() -> None:
    assert gate_value(True) == "open"
    assert gate_value(True, REV) == f"open:{REV}"
    assert gate_value(False, REV) == "closed"
    assert ROLLBACK_CONSUMED_PATCH == {"metadata": {"annotations": {ROLLBACK_ANNOTATION: None}}}


# --- answer_hooks, with a real HTTP server for the non-builtin hooks ------------------------


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.hits.append(self.path)  # type: ignore[attr-defined]
        code = 200 if self.path.startswith("/ok") else 403
        body = b"approved" if code == 200 else b"denied by load tester"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def http_hooks() -> Iterator[tuple[str, list[str]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    hits: list[str] = []
    server.hits = hits  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


async def test_closed_builtin_gate_stops_before_later_http_hooks(http_hooks: tuple[str, list[str]]) -> None:
    base, hits = http_hooks
    hooks = [
        WebhookSpec("manual", GATE_URL, "confirm-promotion"),
        WebhookSpec("tester", f"{base}/ok", "confirm-promotion"),
    ]
    closed = await answer_hooks(hooks, "confirm-promotion", PAYLOAD, annotations={}, revision=REV)
    assert (closed.ok, closed.webhook) == (False, "manual")
    assert hits == [], "hooks after a closed gate are not called"
    opened = await answer_hooks(
        hooks,
        "confirm-promotion",
        PAYLOAD,
        annotations={GATE_ANNOTATIONS["confirm-promotion"]: "open"},
        revision=REV,
    )
    assert (opened.ok, opened.webhook) == (True, "manual,tester")
    assert hits == ["/ok"]


async def test_failing_http_hook_after_open_gate_reports_its_own_detail(
    http_hooks: tuple[str, list[str]],
) -> None:
    base, _ = http_hooks
    hooks = [
        WebhookSpec("manual", GATE_URL, "confirm-rollout"),
        WebhookSpec("lt", f"{base}/no", "confirm-rollout"),
    ]
    answer = await answer_hooks(
        hooks,
        "confirm-rollout",
        PAYLOAD,
        annotations={GATE_ANNOTATIONS["confirm-rollout"]: "open"},
        revision=REV,
    )
    assert (answer.ok, answer.webhook, answer.message) == (False, "lt", "denied by load tester")


async def test_rollback_request_by_annotation_is_marked_for_consumption(
    http_hooks: tuple[str, list[str]],
) -> None:
    base, hits = http_hooks
    hooks = [WebhookSpec("lt", f"{base}/no", "rollback"), WebhookSpec("manual", ROLLBACK_URL, "rollback")]
    idle = await answer_hooks(hooks, "rollback", PAYLOAD, annotations={}, revision=REV)
    assert (idle.ok, idle.consumes_rollback, idle.webhook) == (False, False, "lt,manual")
    requested = await answer_hooks(
        hooks, "rollback", PAYLOAD, annotations={ROLLBACK_ANNOTATION: "requested"}, revision=REV
    )
    assert (requested.ok, requested.consumes_rollback, requested.webhook) == (True, True, "manual")
    assert hits == ["/no", "/no"]


async def test_rollback_requested_over_http_consumes_no_annotation(http_hooks: tuple[str, list[str]]) -> None:
    base, _ = http_hooks
    hooks = [WebhookSpec("lt", f"{base}/ok", "rollback"), WebhookSpec("manual", ROLLBACK_URL, "rollback")]
    answer = await answer_hooks(
        hooks, "rollback", PAYLOAD, annotations={ROLLBACK_ANNOTATION: "requested"}, revision=REV
    )
    assert (answer.ok, answer.consumes_rollback, answer.webhook) == (True, False, "lt")


async def test_no_hooks_of_the_type() -> None:
    assert (await answer_hooks([], "confirm-promotion", PAYLOAD, annotations={}, revision=REV)).ok
    assert not (await answer_hooks([], "rollback", PAYLOAD, annotations={}, revision=REV)).ok


# --- CLI usage errors (no cluster needed: they are refused before any API call) --------------


@pytest.mark.parametrize(
    "args",
    [
        ["promote", "podinfo"],
        ["abort", "ns/podinfo/extra"],
        ["gate", "ns/podinfo", "--type", "promotion"],
        ["gate", "ns/podinfo", "--type", "promotion", "--close", "--revision", REV],
        ["gate", "ns/podinfo", "--type", "canary", "--open"],
    ],
)
def test_cli_usage_errors(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
