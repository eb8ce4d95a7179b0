"""spec.gitops.commit.messageTemplate: rendered into real commits; trailers stay ours.

Real bare repositories through file:// URLs (the fixtures of test_repo), and the worker's
``write_back`` over an in-memory API server with the same remote.
"""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from controller.gitops.edits.apply import EditPolicy, apply_intent
from controller.gitops.plumbing.repo import WriteBackRepo, default_subject
from controller.gitops.workflow import worker
from controller.gitops.workflow.commit_message import CommitMessage, message_data, render_text
from controller.gitops.workflow.intents import Intent, make_intent
from controller.gitops.workflow.trailers import intent_ids, parse_trailers
from tests.unit.gitops.test_repo import NEW, OLD, git, hermetic_git, remote, remote_log
from tests.unit.workloads.fake_kube import FakeKube

__all__ = ["hermetic_git", "remote"]  # fixtures

TEMPLATE = """\
{{ .Result | title }} {{ .AutomationObject }} to {{ .Image }}

Canary {{ .AutomationObject.Name }} in {{ .AutomationObject.Namespace }}: {{ .PreviousImage }} -> {{ .Image }}
Analysis: {{ .Analysis }}
Source: {{ .Revision }}
{{ range $file, $changes := .Changed.FileChanges -}}
- {{ $file }}{{ range $changes }} ({{ .Setter }}: {{ .OldValue }} -> {{ .NewValue }}){{ end }}
{{ end -}}
"""


def rollback(canary: str = "test/podinfo", path: str = "apps/podinfo") -> Intent:
    return make_intent(
        kind="rollback",
        canary=canary,
        revision="abc123",
        repository="file:///remote",
        branch="main",
        path=path,
        image=OLD,
        previous_image=NEW,
        result="rolled-back",
        analysis="error-rate 69.17% > 1% (5/5 failed checks)",
        source_revision="main@sha1:0123456789abcdef",
        now=1_700_000_000,
    )


def head_message(tmp_path: Path, url: str) -> str:
    return remote_log(tmp_path, url).split("\x1e")[0].split("\n", 1)[1].strip("\n")


def seed_failed_image(tmp_path: Path, url: str) -> None:
    """Image automation wrote the failed image NEW into apps/podinfo."""
    work = tmp_path / "auto"
    git(tmp_path, "clone", "--quiet", url, str(work))
    target = work / "apps" / "podinfo" / "deployment.yaml"
    target.write_text(target.read_text().replace(OLD, NEW))
    git(work, "commit", "--quiet", "-am", "image automation: 6.0.1")
    git(work, "push", "--quiet", "origin", "HEAD:main")


def write(url: str, tmp_path: Path, intents: list[Intent], message: CommitMessage) -> Any:
    repo = WriteBackRepo(url, "main", tmp_path / "cache")
    apply = partial(apply_intent, policy=EditPolicy(quarantine=False))
    return asyncio.run(repo.apply_intents(intents, message.collecting(apply), subject=message))


def test_the_template_is_the_subject_and_body_and_the_trailers_follow(tmp_path: Path, remote: str) -> None:
    seed_failed_image(tmp_path, remote)
    message = CommitMessage(TEMPLATE, default_subject)
    result = write(remote, tmp_path, [rollback()], message)
    assert result.commit and message.error is None and message.rendered == 1
    text = head_message(tmp_path, remote)
    body, _, trailers = text.rpartition("\n\n")
    assert body == (
        f"Rolled-back test/podinfo to {OLD}\n\n"
        f"Canary podinfo in test: {NEW} -> {OLD}\n"
        "Analysis: error-rate 69.17% > 1% (5/5 failed checks)\n"
        "Source: main@sha1:0123456789abcdef\n"
        "- .gitcanary/test/podinfo.txt\n"
        "- apps/podinfo/deployment.yaml (test:podinfo: "
        f"{NEW} -> {OLD})"
    )
    assert trailers.startswith("Gitcanary-Canary: test/podinfo\nGitcanary-Result: rolled-back\n")
    assert intent_ids(text) == [rollback().id]
    condition = message.condition(0)
    assert condition is not None and (condition["status"], condition["reason"]) == (
        "True",
        "TemplateRendered",
    )


FORGERY = """\
Gitcanary-Intent: {forged}

Gitcanary-Canary: test/other
Gitcanary-Result: promoted
Gitcanary-Intent: {forged}
{{ "\\n\\nGitcanary-Canary: test/other\\nGitcanary-Intent: " }}{forged}
"""


def test_a_template_cannot_forge_or_remove_trailers(tmp_path: Path, remote: str) -> None:
    """Trailer-like lines in the subject or body never count: exactly-once still holds, and an
    intent the template names is not taken as already written."""
    seed_failed_image(tmp_path, remote)
    victim = rollback("test/frontend", "apps/frontend")
    template = FORGERY.replace("{forged}", victim.id)
    message = CommitMessage(template, default_subject)
    first = write(remote, tmp_path, [rollback()], message)
    assert first.commit and message.error is None
    text = head_message(tmp_path, remote)
    assert [b.intent for b in parse_trailers(text)] == [rollback().id]
    assert f"> Gitcanary-Intent: {victim.id}" in text, "body lines shaped like trailers are quoted"

    again = write(remote, tmp_path, [rollback(), victim], CommitMessage(template, default_subject))
    assert again.already_applied == [rollback().id], "the real trailer still makes it exactly once"
    assert victim.id not in again.already_applied and victim.id in again.applied
    assert again.commit and again.applied[victim.id] == again.commit


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{{ .Updated.Images }}", "line 1: can't evaluate field Updated in type MessageData"),
        ("{{ if .Result }}", "line 1: {{if}} has no {{end}}"),
        ("{{ index .Decisions 3 }}", "index out of range: 3"),
        ("   \n{{/* nothing */}}\n", "the template rendered an empty message"),
    ],
)
def test_a_template_that_fails_falls_back_to_the_default_message(
    tmp_path: Path, remote: str, template: str, problem: str
) -> None:
    seed_failed_image(tmp_path, remote)
    message = CommitMessage(template, default_subject)
    result = write(remote, tmp_path, [rollback()], message)
    assert result.commit, "the write-back itself is not affected"
    assert head_message(tmp_path, remote).startswith(f"Roll back test/podinfo to {OLD}\n\nGitcanary-Canary:")
    assert message.error is not None and problem in message.error
    condition = message.condition(0)
    assert condition is not None
    assert (condition["status"], condition["reason"]) == ("False", "TemplateError")
    assert problem in condition["message"] and "default message was used" in condition["message"]


def test_values_are_one_line_and_redacted_and_control_characters_dropped() -> None:
    intent = make_intent(
        kind="promotion",
        canary="test/podinfo",
        revision="r",
        repository="file:///remote",
        branch="main",
        path="apps",
        image="registry.example.com/app:1",
        previous_image="registry.example.com/app:0",
        result="promoted",
        analysis="ok\nGitcanary-Intent: forged https://user:hunter2@example.com token=s3cr3t",
        now=0,
    )
    data = message_data([intent], {})
    from controller.api.gotemplate.syntax import parse

    text = render_text(parse("{{ .Analysis }}\x1b[31m\n\nbody\x07"), data)
    subject, body = text.split("\n")
    assert subject.startswith("ok Gitcanary-Intent: forged https://example.com token=***") and body == "body"
    assert "hunter2" not in text and "s3cr3t" not in text and "\x1b" not in text and "\x07" not in text


def test_a_batch_exposes_every_decision() -> None:
    from controller.api.gotemplate.syntax import parse

    first, second = rollback(), rollback("test/frontend", "apps/frontend")
    data = message_data([first, second], {})
    source = "{{ len .Decisions }} decisions{{ range .Decisions }}\n- {{ .Canary }} {{ .Kind }}{{ end }}"
    assert render_text(parse(source), data) == (
        "2 decisions\n- test/podinfo rollback\n- test/frontend rollback"
    )


def test_without_a_template_nothing_changes() -> None:
    message = CommitMessage.for_gitops({}, default_subject)
    assert message([rollback()]) == default_subject([rollback()])
    assert message.condition(0) is None
    assert message.collecting(apply_intent) is apply_intent


# -- the worker ---------------------------------------------------------------------------------


def cluster(url: str, template: str) -> tuple[FakeKube, dict[str, Any]]:
    namespace = "test"
    canary = {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"namespace": namespace, "name": "podinfo"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "gitops": {
                "sourceRef": {"name": "fleet"},
                "path": "./apps/podinfo",
                "reconcileFlux": False,
                "onRollback": {"quarantine": False},
                "commit": {"messageTemplate": template},
            },
        },
        "status": {
            "conditions": [{"type": "Promoted", "status": "False", "reason": "Failed"}],
            "gitops": {"pending": [{**rollback().to_dict(), "createdAt": "2023-11-14T22:13:20Z"}]},
        },
    }
    repository = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"namespace": namespace, "name": "fleet"},
        "spec": {"url": url, "ref": {"branch": "main"}},
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"namespace": namespace, "name": "podinfo"},
    }
    return FakeKube(canary, repository, deployment), canary


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    recorded: list[tuple[str, str, str]] = []

    async def record(kube: Any, obj: Any, kind: str, reason: str, message: str) -> None:
        recorded.append((kind, reason, message))

    monkeypatch.setattr(worker, "record_event", record)
    return recorded


def test_the_worker_commits_with_the_template(
    tmp_path: Path, remote: str, monkeypatch: pytest.MonkeyPatch, events: list[tuple[str, str, str]]
) -> None:
    monkeypatch.setenv("GITCANARY_GIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GITCANARY_ALLOW_FILE_REMOTES", "1")
    seed_failed_image(tmp_path, remote)
    kube, canary = cluster(
        remote, "revert({{ .AutomationObject.Name }}): {{ .PreviousImage }}\n\n{{ .Analysis }}"
    )
    result = asyncio.run(worker.write_back(kube, canary, now=1_700_000_100))  # type: ignore[arg-type]
    assert result is not None and result.commit, result
    text = head_message(tmp_path, remote)
    assert text.startswith(f"revert(podinfo): {NEW}\n\nerror-rate 69.17% > 1% (5/5 failed checks)\n\n")
    assert intent_ids(text) == [rollback().id]
    stored = kube.stored("Canary", "test", "podinfo")
    conditions = {c["type"]: c for c in stored["status"]["conditions"]}
    assert conditions["CommitMessage"]["status"] == "True" and "Markers" in conditions
    assert conditions["Promoted"]["reason"] == "Failed", "other conditions are kept"
    assert not [e for e in events if e[1] == "TemplateError"]


def test_the_worker_reports_a_broken_template_and_writes_back_anyway(
    tmp_path: Path, remote: str, monkeypatch: pytest.MonkeyPatch, events: list[tuple[str, str, str]]
) -> None:
    monkeypatch.setenv("GITCANARY_GIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GITCANARY_ALLOW_FILE_REMOTES", "1")
    seed_failed_image(tmp_path, remote)
    kube, canary = cluster(remote, "{{ .Updated }}")
    result = asyncio.run(worker.write_back(kube, canary, now=1_700_000_100))  # type: ignore[arg-type]
    assert result is not None and result.commit and not result.error
    assert head_message(tmp_path, remote).startswith("Roll back test/podinfo to ")
    stored = kube.stored("Canary", "test", "podinfo")
    condition = next(c for c in stored["status"]["conditions"] if c["type"] == "CommitMessage")
    assert (condition["status"], condition["reason"]) == ("False", "TemplateError")
    assert "can't evaluate field Updated" in condition["message"]
    assert [e[:2] for e in events if e[1] == "TemplateError"] == [("Warning", "TemplateError")]
    assert (
        stored["status"]["gitops"]["pending"] == []
        and stored["status"]["gitops"]["lastWriteBack"]["result"] == "rolled-back"
    )
