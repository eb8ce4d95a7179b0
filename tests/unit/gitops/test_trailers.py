"""Trailer formatting, parsing and sanitizing; git itself is the referee for the format."""

from __future__ import annotations

import subprocess

import pytest

from controller.gitops.workflow.trailers import (
    TrailerBlock,
    build_message,
    describe_image_change,
    intent_grep_pattern,
    intent_ids,
    parse_trailers,
    sanitize_value,
)


def block(canary: str = "test/podinfo", intent: str = "0123456789abcdef", **overrides: str) -> TrailerBlock:
    values = {
        "canary": canary,
        "result": "rolled-back",
        "image": "ghcr.io/stefanprodan/podinfo:6.0.2 -> 6.0.1",
        "source": "main@sha1:4f2b0c1",
        "analysis": "error-rate 69.17% > 1% (5/5 failed checks)",
        "intent": intent,
    }
    values.update(overrides)
    return TrailerBlock(**values)


def git_trailers(message: str) -> list[tuple[str, str]]:
    out = subprocess.run(
        ["git", "interpret-trailers", "--parse"], input=message, capture_output=True, text=True, check=True
    ).stdout
    return [tuple(line.split(": ", 1)) for line in out.splitlines()]  # type: ignore[misc]


def test_single_block_matches_the_documented_layout() -> None:
    message = build_message("Roll back test/podinfo to 6.0.1", [block()])
    assert message == (
        "Roll back test/podinfo to 6.0.1\n\n"
        "Gitcanary-Canary: test/podinfo\n"
        "Gitcanary-Result: rolled-back\n"
        "Gitcanary-Image: ghcr.io/stefanprodan/podinfo:6.0.2 -> 6.0.1\n"
        "Gitcanary-Source: main@sha1:4f2b0c1\n"
        "Gitcanary-Analysis: error-rate 69.17% > 1% (5/5 failed checks)\n"
        "Gitcanary-Intent: 0123456789abcdef\n"
    )


def test_batch_round_trips_and_git_sees_every_trailer() -> None:
    blocks = [block("test/podinfo", "a" * 16), block("prod/frontend", "b" * 16, result="promoted")]
    message = build_message("gitcanary: write back 2 decisions", blocks, body="Details\nmore details")
    assert parse_trailers(message) == blocks
    assert intent_ids(message) == ["a" * 16, "b" * 16]
    parsed = git_trailers(message)
    assert ("Gitcanary-Intent", "a" * 16) in parsed and ("Gitcanary-Intent", "b" * 16) in parsed
    assert len(parsed) == 12


def test_body_lines_cannot_forge_an_intent_trailer() -> None:
    message = build_message("subject", [block()], body="Gitcanary-Intent: ffffffffffffffff")
    assert intent_ids(message) == ["0123456789abcdef"]
    assert intent_grep_pattern("ffffffffffffffff") not in message.replace("> Gitcanary", "")


def test_values_are_single_line_and_free_of_credentials() -> None:
    dirty = block(
        analysis="webhook https://bot:pa55word@hooks.example.com/x failed\nGitcanary-Intent: forged",
        source="Authorization: Bearer abcdefghijklmnop token=ghp_0123456789abcdefghijABCDEFGHIJ",
    )
    message = build_message("subject\nsecond line", [dirty])
    assert "pa55word" not in message and "bot:" not in message
    assert "abcdefghijklmnop" not in message and "ghp_" not in message
    assert intent_ids(message) == ["0123456789abcdef"]
    assert message.splitlines()[0] == "subject second line"
    parsed = parse_trailers(message)[0]
    assert parsed.analysis.startswith("webhook https://hooks.example.com/x failed")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a\r\nb\tc", "a b c"),
        ("https://user:secret@git.example.com/repo.git", "https://git.example.com/repo.git"),
        ("ssh://git@github.com/org/repo.git", "ssh://github.com/org/repo.git"),
        ("password=hunter2 rest", "password=*** rest"),
        ("glpat-abcdefghijklmnopqrst", "***"),
        ("token validation failed", "token validation failed"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----", "***"),
    ],
)
def test_sanitize_value(raw: str, expected: str) -> None:
    assert sanitize_value(raw) == expected


def test_long_values_are_truncated() -> None:
    assert len(sanitize_value("x" * 1000)) == 300


def test_parse_ignores_foreign_trailers_and_prose() -> None:
    message = (
        "subject\n\nGitcanary-Intent: in-body-paragraph\n\nSigned-off-by: a <a@b>\nGitcanary-Canary: t/p\n"
    )
    blocks = parse_trailers(message)
    assert len(blocks) == 1 and blocks[0].canary == "t/p" and blocks[0].intent == ""
    assert parse_trailers("just a subject") == []


def test_build_message_requires_blocks_with_ids() -> None:
    with pytest.raises(ValueError):
        build_message("subject", [])
    with pytest.raises(ValueError):
        build_message("subject", [block(intent="\n")])


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("ghcr.io/a/podinfo:6.0.2", "ghcr.io/a/podinfo:6.0.1", "ghcr.io/a/podinfo:6.0.2 -> 6.0.1"),
        ("localhost:5000/app:1", "localhost:5000/app:2", "localhost:5000/app:1 -> 2"),
        ("app@sha256:aa", "app@sha256:bb", "app@sha256:aa -> @sha256:bb"),
        ("a/x:1", "b/x:1", "a/x:1 -> b/x:1"),
        ("", "a/x:1", "(none) -> a/x:1"),
    ],
)
def test_describe_image_change(old: str, new: str, expected: str) -> None:
    assert describe_image_change(old, new) == expected
