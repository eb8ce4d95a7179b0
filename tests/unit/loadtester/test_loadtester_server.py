"""The load tester against Flagger's answers (pkg/loadtester/server.go), on a real loopback server."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from controller.loadtester.commands import CommandResult
from controller.loadtester.gates import STATE_FILE, GateStateError, GateStore
from controller.loadtester.server import MAX_BODY_BYTES, build_app
from controller.loadtester.tasks import TaskRunner, TaskSettings
from gitcanary_sandbox.helm_binary import helm_path
from tests.process_table import processes_mentioning


def payload(
    metadata: dict[str, str] | None = None, name: str = "podinfo", namespace: str = "test"
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "namespace": namespace, "phase": "Progressing", "checksum": "abc"}
    if metadata is not None:
        body["metadata"] = metadata
    return body


class LoadTester:
    def __init__(self, base: str, runner: TaskRunner, client: httpx.AsyncClient) -> None:
        self.base, self.runner, self.client = base, runner, client

    async def post(self, path: str, body: Any) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return await self.client.post(self.base + path, content=content)

    async def finished(self, canary: str, command: str, within: float = 10.0) -> CommandResult:
        """The result of the background ``cmd`` task once it ends."""
        running = self.runner.running(canary, command)
        if running is not None:
            async with asyncio.timeout(within):
                await running
        result = self.runner.last_result(canary, command)
        assert result is not None, "the task never ran"
        return result


@asynccontextmanager
async def load_tester(
    state_dir: Path, settings: TaskSettings | None = None, namespace_regexp: str | None = None
) -> AsyncIterator[LoadTester]:
    runner = TaskRunner(settings or TaskSettings(timeout=30))
    pattern = re.compile(namespace_regexp) if namespace_regexp else None
    app_runner = web.AppRunner(build_app(GateStore(state_dir), runner, pattern))
    await app_runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    await web.SockSite(app_runner, sock).start()
    try:
        async with httpx.AsyncClient(timeout=20) as client:
            yield LoadTester(f"http://127.0.0.1:{port}", runner, client)
    finally:
        await app_runner.cleanup()


# -- gates ----------------------------------------------------------------------------------------


async def test_approve_and_halt_answer_like_flagger(tmp_path: Path) -> None:
    async with load_tester(tmp_path) as lt:
        approve = await lt.post("/gate/approve", payload())
        halt = await lt.post("/gate/halt", payload())
        health = await lt.client.get(lt.base + "/healthz")
    assert (approve.status_code, approve.text) == (200, "OK")
    assert (halt.status_code, halt.text) == (403, "Forbidden")
    assert (health.status_code, health.text) == (200, "OK")


@pytest.mark.parametrize("kind", ["gate", "rollback"])
async def test_gate_is_closed_until_opened_and_closes_again(tmp_path: Path, kind: str) -> None:
    other = "rollback" if kind == "gate" else "gate"
    async with load_tester(tmp_path) as lt:
        first = await lt.post(f"/{kind}/check", payload())
        opened = await lt.post(f"/{kind}/open", payload())
        approved = await lt.post(f"/{kind}/check", payload())
        other_kind = await lt.post(f"/{other}/check", payload())
        other_canary = await lt.post(f"/{kind}/check", payload(name="backend"))
        closed = await lt.post(f"/{kind}/close", payload())
        after_close = await lt.post(f"/{kind}/check", payload())
    assert (first.status_code, first.text) == (403, "Forbidden")
    assert (opened.status_code, opened.text) == (202, "")
    assert (approved.status_code, approved.text) == (200, "Approved")
    assert other_kind.status_code == 403, "a gate and a rollback gate are separate"
    assert other_canary.status_code == 403, "gates are per canary"
    assert closed.status_code == 202
    assert after_close.status_code == 403


async def test_gate_state_survives_a_restart(tmp_path: Path) -> None:
    async with load_tester(tmp_path) as lt:
        assert (await lt.post("/gate/open", payload())).status_code == 202
        assert (await lt.post("/rollback/open", payload(name="backend"))).status_code == 202
        assert (await lt.post("/rollback/close", payload())).status_code == 202
    assert json.loads((tmp_path / STATE_FILE).read_text()) == {
        "podinfo.test": True,
        "rollback.backend.test": True,
        "rollback.podinfo.test": False,
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == [STATE_FILE], "no temporary file is left"
    async with load_tester(tmp_path) as lt:
        gate = await lt.post("/gate/check", payload())
        rollback = await lt.post("/rollback/check", payload(name="backend"))
        closed = await lt.post("/rollback/check", payload())
    assert (gate.status_code, rollback.status_code, closed.status_code) == (200, 200, 403)


@pytest.mark.parametrize("content", ["[1, 2]", "{not json", '{"name": "a", "metadata": {"x": 1}}'])
def test_a_state_file_that_is_no_gate_state_refuses_to_load(tmp_path: Path, content: str) -> None:
    (tmp_path / STATE_FILE).write_text(content)
    with pytest.raises(GateStateError):
        GateStore(tmp_path)


@pytest.mark.parametrize("path", ["/gate/check", "/gate/open", "/rollback/check", "/rollback/close", "/"])
async def test_a_body_that_is_no_payload_is_400(tmp_path: Path, path: str) -> None:
    async with load_tester(tmp_path) as lt:
        for body in (b"", b"not json", b"[]", json.dumps({"name": "a", "metadata": {"cmd": 1}}).encode()):
            answer = await lt.post(path, body)
            assert answer.status_code == 400, (path, body, answer.text)


async def test_a_namespace_outside_the_regexp_is_forbidden(tmp_path: Path) -> None:
    async with load_tester(tmp_path, namespace_regexp="^team-") as lt:
        assert (await lt.post("/gate/open", payload(namespace="test"))).status_code == 403
        assert (
            await lt.post("/", payload({"type": "bash", "cmd": "true"}, namespace="test"))
        ).status_code == 403
        assert (await lt.post("/gate/open", payload(namespace="team-a"))).status_code == 202
        assert (await lt.post("/gate/check", payload(namespace="team-a"))).status_code == 200
    assert json.loads((tmp_path / STATE_FILE).read_text()) == {"podinfo.team-a": True}


async def test_a_body_above_the_cap_is_refused(tmp_path: Path) -> None:
    big = payload({"type": "bash", "cmd": "true", "pad": "x" * MAX_BODY_BYTES})
    async with load_tester(tmp_path) as lt:
        answer = await lt.post("/", big)
    assert answer.status_code == 413


# -- tasks ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "text"),
    [
        ({}, "metadata not found in payload"),
        ({"type": "ngrinder-ish", "cmd": "true"}, "unknown task type ngrinder-ish"),
        ({"type": "cmd"}, "cmd not found in metadata"),
        ({"cmd": "hey 'unbalanced"}, "cannot split the command"),
        ({"type": "bash", "cmd": "true", "timeout": "soon"}, "metadata.timeout"),
    ],
)
async def test_a_payload_without_a_runnable_task_is_400(
    tmp_path: Path, metadata: dict[str, str], text: str
) -> None:
    async with load_tester(tmp_path) as lt:
        answer = await lt.post("/", payload(metadata))
    assert answer.status_code == 400
    assert text in answer.text


async def test_cmd_is_accepted_at_once_and_runs_in_the_background(tmp_path: Path) -> None:
    canary = "podinfo.test"
    async with load_tester(tmp_path) as lt:
        ok = await lt.post("/", payload({"cmd": "true"}))
        failing = await lt.post("/", payload({"type": "cmd", "cmd": "false", "logCmdOutput": "true"}))
        missing = await lt.post("/", payload({"cmd": "no-such-program-gitcanary"}))
        assert (ok.status_code, failing.status_code, missing.status_code) == (202, 202, 202)
        assert (await lt.finished(canary, "true")).exit_code == 0
        assert (await lt.finished(canary, "false")).exit_code == 1
        not_found = await lt.finished(canary, "no-such-program-gitcanary")
    assert not not_found.ok and not_found.error is not None and "cannot start" in not_found.error


async def test_the_same_cmd_is_not_started_twice_while_it_runs(tmp_path: Path) -> None:
    command = "sleep 0.5"
    async with load_tester(tmp_path) as lt:
        for _ in range(3):
            assert (await lt.post("/", payload({"cmd": command}))).status_code == 202
        assert (await lt.post("/", payload({"cmd": command}, name="other"))).status_code == 202
        assert lt.runner.total_execs == 2
        assert (await lt.finished("podinfo.test", command)).ok


async def test_cmd_past_its_deadline_kills_its_whole_process_group(tmp_path: Path) -> None:
    marker = "31.4159"
    command = f"sh -c 'sleep {marker} & sleep {marker}; wait'"
    started = time.monotonic()
    async with load_tester(tmp_path) as lt:
        assert (await lt.post("/", payload({"cmd": command, "timeout": "500ms"}))).status_code == 202
        result = await lt.finished("podinfo.test", command)
    assert result.timed_out and not result.ok
    assert time.monotonic() - started < 10
    assert processes_mentioning(f"sleep {marker}") == []


async def test_the_server_timeout_bounds_a_longer_payload_timeout(tmp_path: Path) -> None:
    marker = "27.1828"
    started = time.monotonic()
    async with load_tester(tmp_path, TaskSettings(timeout=0.5)) as lt:
        answer = await lt.post("/", payload({"type": "bash", "cmd": f"sleep {marker}", "timeout": "1h"}))
    assert answer.status_code == 500
    assert "killed at its deadline" in answer.text
    assert time.monotonic() - started < 10
    assert processes_mentioning(f"sleep {marker}") == []


async def test_bash_answers_200_or_500_with_its_output(tmp_path: Path) -> None:
    async with load_tester(tmp_path) as lt:
        quiet = await lt.post("/", payload({"type": "bash", "cmd": "echo hello; echo there >&2"}))
        loud = await lt.post(
            "/", payload({"type": "bash", "cmd": "echo hello; echo there >&2", "returnCmdOutput": "true"})
        )
        failed = await lt.post("/", payload({"type": "bash", "cmd": "echo broken; exit 3"}))
    assert (quiet.status_code, quiet.text) == (200, "")
    assert (loud.status_code, loud.text) == (200, "hello\nthere\n")
    assert failed.status_code == 500
    assert "exit code 3" in failed.text and "broken" in failed.text


async def test_output_beyond_the_cap_is_dropped(tmp_path: Path) -> None:
    async with load_tester(tmp_path, TaskSettings(timeout=30, max_output=1000)) as lt:
        answer = await lt.post(
            "/",
            payload({"type": "bash", "cmd": "head -c 300000 /dev/zero | tr '\\0' x", "returnCmdOutput": "1"}),
        )
        background = await lt.post("/", payload({"cmd": "head -c 300000 /dev/zero"}))
        assert background.status_code == 202
        result = await lt.finished("podinfo.test", "head -c 300000 /dev/zero")
    assert (answer.status_code, answer.text) == (200, "x" * 1000)
    assert result.ok and result.truncated and len(result.output) == 1000


async def test_the_allow_list_refuses_other_programs(tmp_path: Path) -> None:
    settings = TaskSettings(timeout=30, allowed_programs=frozenset({"true", "helm"}))
    async with load_tester(tmp_path, settings) as lt:
        allowed = await lt.post("/", payload({"cmd": "/bin/true"}))
        refused = await lt.post("/", payload({"cmd": "rm -rf /tmp/nothing"}))
        bash = await lt.post("/", payload({"type": "bash", "cmd": "true"}))
        await lt.finished("podinfo.test", "/bin/true")
    assert allowed.status_code == 202
    assert refused.status_code == 403 and "'rm'" in refused.text
    assert bash.status_code == 403
    assert lt.runner.total_execs == 1


@pytest.mark.parametrize("kind", ["helm", "helmv3"])
async def test_helm_runs_the_helm_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    helm = helm_path()
    assert helm.exists(), f"{helm} is missing: run ./scripts/bootstrap.sh (it builds helm)"
    monkeypatch.setenv("PATH", f"{helm.parent}:/usr/bin:/bin")
    async with load_tester(tmp_path) as lt:
        version = await lt.post(
            "/", payload({"type": kind, "cmd": "version --template {{.Version}}", "returnCmdOutput": "true"})
        )
        failed = await lt.post("/", payload({"type": kind, "cmd": "test no-such-release -n test"}))
    assert version.status_code == 200 and version.text.startswith("v3."), version.text
    assert failed.status_code == 500


async def test_metrics_count_tasks(tmp_path: Path) -> None:
    async with load_tester(tmp_path) as lt:
        await lt.post("/", payload({"type": "bash", "cmd": "true"}))
        await lt.post("/gate/check", payload())
        metrics = await lt.client.get(lt.base + "/metrics")
    assert metrics.status_code == 200
    assert 'gitcanary_loadtester_tasks_total{result="succeeded",type="bash"} 1.0' in metrics.text
    assert 'gitcanary_loadtester_gate_checks_total{approved="false",route="/gate/check"} 1.0' in metrics.text


@pytest.mark.parametrize(
    "command",
    [
        "curl -sd 'anon' http://podinfo-canary:9898/token | grep token",
        "hey -z 60s \\\n  -q 10 -c 2 http://myapp-canary:8080/health",
        "test -n $HOME && true",
        "echo `id`",
    ],
)
async def test_cmd_with_shell_syntax_is_refused_without_the_shell_option(
    tmp_path: Path, command: str
) -> None:
    async with load_tester(tmp_path) as lt:
        answer = await lt.post("/", payload({"cmd": command}))
    assert answer.status_code == 400
    assert "type: bash" in answer.text and "--cmd-shell" in answer.text
    assert lt.runner.total_execs == 0


async def test_cmd_shell_runs_cmd_through_sh_as_flagger_does(tmp_path: Path) -> None:
    command = "printf 'anon token' | grep -o token"
    async with load_tester(tmp_path, TaskSettings(timeout=30, cmd_shell=True)) as lt:
        assert (await lt.post("/", payload({"cmd": command}))).status_code == 202
        result = await lt.finished("podinfo.test", command)
    assert result.ok and result.output == b"token\n"
    allow_sh_only = TaskSettings(timeout=30, cmd_shell=True, allowed_programs=frozenset({"hey"}))
    async with load_tester(tmp_path, allow_sh_only) as lt:
        assert (await lt.post("/", payload({"cmd": "hey -z 1s http://x/"}))).status_code == 403
