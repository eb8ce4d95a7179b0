"""The traffic simulator answers requests for a workload's pods and counts them in its metrics."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest

from gitcanary_sandbox.exporter import Traffic, TrafficBook, make_handler


@pytest.fixture
def simulator() -> Iterator[tuple[str, TrafficBook]]:
    book = TrafficBook(None)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(book))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", book
    finally:
        server.shutdown()
        server.server_close()


def _get(url: str, host: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_requests_by_service_host_are_answered_with_the_error_rate_and_counted(
    simulator: tuple[str, TrafficBook],
) -> None:
    url, book = simulator
    book.set("demo", "podinfo", Traffic(rps=0, errorRate=1.0, latencyMs=1))
    book.set("demo", "podinfo-primary", Traffic(rps=0, errorRate=0.0, latencyMs=1))
    assert [_get(url + "/", "podinfo-canary.demo:9898") for _ in range(3)] == [500, 500, 500]
    assert _get(url + "/api/info", "podinfo-primary.demo.svc.cluster.local") == 200
    with urllib.request.urlopen(url + "/served", timeout=5) as resp:
        served = json.loads(resp.read())
    assert served == {"demo/podinfo": {"ok": 0, "errors": 3}, "demo/podinfo-primary": {"ok": 1, "errors": 0}}
    metrics = book.render()
    canary = 'destination_workload="podinfo",destination_workload_namespace="demo"'
    assert f'istio_requests_total{{reporter="destination",{canary},response_code="500"}} 3.000000' in metrics
    assert f'istio_requests_total{{reporter="destination",{canary},response_code="200"}} 0.000000' in metrics


def test_an_unknown_workload_is_503_and_the_control_api_still_answers(
    simulator: tuple[str, TrafficBook],
) -> None:
    url, _book = simulator
    assert _get(url + "/", "ghost.demo") == 503
    assert _get(url + "/healthz") == 200
    assert _get(url + "/metrics") == 200
