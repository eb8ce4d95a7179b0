"""Pure tests of controller.gitops.workflow.approval (kept beside the forge tests it pairs with)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from controller.gitops.workflow.approval import (
    APPROVED_REVISION_ANNOTATION,
    ApprovalEditError,
    MetricRow,
    approval_annotation_patch,
    approval_decision,
    branch_name,
    is_approved,
    pr_body,
    pr_title,
)

KEY = APPROVED_REVISION_ANNOTATION
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


# names and texts -----------------------------------------------------------------------------


def test_branch_name() -> None:
    assert branch_name("test", "podinfo", "7f3a9c1") == "gitcanary/promote/test/podinfo/7f3a9c1"


@pytest.mark.parametrize(
    ("namespace", "canary", "revision"),
    [
        ("te/st", "podinfo", "r1"),
        ("test", "", "r1"),
        ("test", "podinfo", "a..b"),
        ("test", "pod", "x.lock"),
        ("test", "pod", "has space"),
        ("-x", "pod", "r1"),
        ("test", "pod", "r1."),
    ],
)
def test_branch_name_rejects_unsafe_parts(namespace: str, canary: str, revision: str) -> None:
    with pytest.raises(ValueError, match="cannot be used in a Git branch name"):
        branch_name(namespace, canary, revision)


def test_pr_title() -> None:
    assert pr_title("test/podinfo", "ghcr.io/stefanprodan/podinfo:6.0.2") == (
        "gitcanary: promote test/podinfo to ghcr.io/stefanprodan/podinfo:6.0.2"
    )


def test_pr_body_has_the_analysis_and_a_metrics_table() -> None:
    metrics = [
        MetricRow("request-success-rate", 99.5, min=99.0),
        MetricRow("request-duration", 620.0, max=500.0),
        MetricRow("custom|pipe", None, min=1, max=2),
    ]
    body = pr_body(
        "test/podinfo", "7f3a9c1", "ghcr.io/podinfo:6.0.2", "10/10 checks passed\nweight 50", metrics
    )
    lines = body.splitlines()
    assert "| Image | ghcr.io/podinfo:6.0.2 |" in lines
    assert "| Revision | 7f3a9c1 |" in lines
    assert "**Analysis:** 10/10 checks passed weight 50" in lines
    assert "| request-success-rate | 99.5 | >= 99 | pass |" in lines
    assert "| request-duration | 620 | <= 500 | fail |" in lines
    assert "| custom\\|pipe | no data | 1 to 2 | no data |" in lines
    assert f"`{KEY}: 7f3a9c1`" in body
    assert "<!-- gitcanary:approval canary=test/podinfo revision=7f3a9c1 -->" in lines


def test_pr_body_without_metrics_has_no_table() -> None:
    body = pr_body("test/podinfo", "r1", "img:1", "", [])
    assert "| Metric |" not in body and "**Analysis:** no summary" in body


# the decision ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "elapsed", "on_timeout", "expected"),
    [
        ("open", 0, "rollback", "waiting"),
        ("open", 3599, "rollback", "waiting"),
        ("open", 3600, "rollback", "timed-out"),
        ("open", 99999, "wait", "waiting"),
        ("merged", 10, "rollback", "approved"),
        ("merged", 99999, "rollback", "approved"),
        ("closed", 10, "wait", "rejected"),
        ("closed", 99999, "rollback", "rejected"),
    ],
)
def test_approval_decision(state: Any, elapsed: int, on_timeout: Any, expected: str) -> None:
    now = T0 + timedelta(seconds=elapsed)
    assert approval_decision(state, T0, 3600, now, on_timeout) == expected


def test_an_infinite_timeout_never_expires() -> None:
    assert approval_decision("open", T0, math.inf, T0 + timedelta(days=3650), "rollback") == "waiting"


@pytest.mark.parametrize(
    ("state", "timeout", "on_timeout"),
    [
        ("open", 0, "rollback"),
        ("open", -1, "wait"),
        ("open", math.nan, "wait"),
        ("open", 60, "abort"),
        ("draft", 60, "wait"),
    ],
)
def test_approval_decision_rejects_bad_input(state: Any, timeout: float, on_timeout: Any) -> None:
    with pytest.raises(ValueError):
        approval_decision(state, T0, timeout, T0, on_timeout)


def test_is_approved() -> None:
    assert is_approved({KEY: "r1"}, "r1")
    assert is_approved({KEY: " r1\n", "other": "x"}, "r1")
    assert not is_approved({KEY: "r0"}, "r1")
    assert not is_approved({"other": "r1"}, "r1")
    assert not is_approved(None, "r1")
    assert not is_approved({KEY: ""}, "")


# the annotation edit ---------------------------------------------------------------------------

HEADER = "apiVersion: gitcanary.io/v1beta1\nkind: Canary\n"

CASES = {
    "block, comments, no annotations": (
        "# podinfo canary\n" + HEADER + "metadata:\n  name: podinfo # the app\n  namespace: test\n\n"
        "spec:\n  # keep me\n  targetRef: {kind: Deployment, name: podinfo}\n",
        "# podinfo canary\n" + HEADER + "metadata:\n  name: podinfo # the app\n  namespace: test\n"
        f"  annotations:\n    {KEY}: abc123\n\nspec:\n  # keep me\n  targetRef: {{kind: Deployment, name: podinfo}}\n",
    ),
    "CRLF, existing block annotations, 4-space indent": (
        HEADER.replace("\n", "\r\n") + "metadata:\r\n    name: podinfo\r\n    annotations:\r\n"
        "        team: web  # owner\r\n        note: 'x'\r\nspec: {}\r\n",
        HEADER.replace("\n", "\r\n") + "metadata:\r\n    name: podinfo\r\n    annotations:\r\n"
        f"        {KEY}: abc123\r\n        team: web  # owner\r\n        note: 'x'\r\nspec: {{}}\r\n",
    ),
    "CRLF, no annotations, tab-free comments": (
        HEADER.replace("\n", "\r\n") + "metadata:\r\n  name: podinfo  # c\r\n  labels: {}\r\nspec: {}\r\n",
        HEADER.replace("\n", "\r\n") + "metadata:\r\n  name: podinfo  # c\r\n"
        f"  annotations:\r\n    {KEY}: abc123\r\n  labels: {{}}\r\nspec: {{}}\r\n",
    ),
    "no final newline": (
        "spec: {}\n" + HEADER + "metadata:\n  labels: {a: b}\n  name: podinfo",
        "spec: {}\n"
        + HEADER
        + f"metadata:\n  labels: {{a: b}}\n  name: podinfo\n  annotations:\n    {KEY}: abc123",
    ),
    "flow-style annotations": (
        HEADER + "metadata:\n  name: podinfo\n  annotations: {team: web, 'x/y': \"z\"}  # c\nspec: {}\n",
        HEADER
        + f"metadata:\n  name: podinfo\n  annotations: {{{KEY}: abc123, team: web, 'x/y': \"z\"}}  # c\nspec: {{}}\n",
    ),
    "empty flow annotations": (
        HEADER + "metadata:\n  name: podinfo\n  annotations: {}\n",
        HEADER + f"metadata:\n  name: podinfo\n  annotations: {{{KEY}: abc123}}\n",
    ),
    "flow metadata": (
        HEADER + "metadata: {name: podinfo, namespace: test}\nspec: {}\n",
        HEADER
        + f"metadata: {{annotations: {{{KEY}: abc123}}, name: podinfo, namespace: test}}\nspec: {{}}\n",
    ),
    "null annotations": (
        HEADER + "metadata:\n  name: podinfo\n  annotations:\n  labels: {}\n",
        HEADER + f"metadata:\n  name: podinfo\n  annotations: {{{KEY}: abc123}}\n  labels: {{}}\n",
    ),
    "tilde annotations": (
        HEADER + "metadata:\n  name: podinfo\n  annotations: ~ # none yet\n",
        HEADER + f"metadata:\n  name: podinfo\n  annotations: {{{KEY}: abc123}} # none yet\n",
    ),
    "existing value, quoted, with comment": (
        HEADER
        + f"metadata:\n  name: podinfo\n  annotations:\n    a: b\n    {KEY}: 'old-rev'   # by gitcanary\n",
        HEADER
        + f"metadata:\n  name: podinfo\n  annotations:\n    a: b\n    {KEY}: 'abc123'   # by gitcanary\n",
    ),
    "no name before other keys, BOM": (
        "\ufeff" + HEADER + "metadata:\n  labels:\n    app: podinfo\nspec: {}\n",
        "\ufeff"
        + HEADER
        + f"metadata:\n  annotations:\n    {KEY}: abc123\n  labels:\n    app: podinfo\nspec: {{}}\n",
    ),
    "multi-document, Canary second": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: podinfo\n---\n"
        + HEADER
        + "metadata:\n  name: podinfo\n---\n# trailing doc\nkind: Service\n",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: podinfo\n---\n"
        + HEADER
        + f"metadata:\n  name: podinfo\n  annotations:\n    {KEY}: abc123\n---\n# trailing doc\nkind: Service\n",
    ),
}


def _all_but_annotations(text: str) -> list[Any]:
    docs = [doc for doc in yaml.safe_load_all(text.lstrip("\ufeff")) if doc]
    for doc in docs:
        doc.get("metadata", {}).pop("annotations", None) if isinstance(doc.get("metadata"), dict) else None
    return docs


@pytest.mark.parametrize("case", CASES)
def test_annotation_patch_changes_only_the_annotation(case: str) -> None:
    original, expected = CASES[case]
    edited = approval_annotation_patch(original, "abc123")
    assert edited == expected
    canary = next(
        doc for doc in yaml.safe_load_all(edited.lstrip("\ufeff")) if doc and doc.get("kind") == "Canary"
    )
    assert is_approved(canary["metadata"]["annotations"], "abc123")
    assert _all_but_annotations(edited) == _all_but_annotations(original)
    assert approval_annotation_patch(edited, "abc123") is edited  # idempotent


def test_numeric_looking_revisions_are_quoted() -> None:
    edited = approval_annotation_patch(HEADER + "metadata:\n  name: podinfo\n", "1234e5")
    assert edited.endswith(f'  annotations:\n    {KEY}: "1234e5"\n')
    assert yaml.safe_load(edited)["metadata"]["annotations"][KEY] == "1234e5"


def test_the_canary_is_picked_by_name_and_namespace() -> None:
    text = (
        HEADER
        + "metadata:\n  name: a\n  namespace: test\n---\n"
        + HEADER
        + "metadata:\n  name: b\n  namespace: test\n---\n"
        + HEADER
        + "metadata:\n  name: b\n  namespace: prod\n"
    )
    with pytest.raises(ApprovalEditError, match="3 matching"):
        approval_annotation_patch(text, "r1")
    with pytest.raises(ApprovalEditError, match="2 matching"):
        approval_annotation_patch(text, "r1", name="b")
    edited = approval_annotation_patch(text, "r1", name="b", namespace="prod")
    docs = list(yaml.safe_load_all(edited))
    assert [doc["metadata"].get("annotations") for doc in docs] == [None, None, {KEY: "r1"}]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata:\n  name: podinfo\n", "no matching"),
        ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: podinfo\n", "no matching"),
        (HEADER + "spec: {}\n", "no metadata"),
        (HEADER + "metadata:\n  name: podinfo\n  annotations: [a]\n", "not a mapping"),
        (HEADER + f"metadata:\n  name: p\n  annotations:\n    {KEY}: |\n      old\n", "one-line string"),
        (HEADER + "metadata: {name: [unclosed\n", "not valid YAML"),
    ],
)
def test_annotation_patch_errors(text: str, message: str) -> None:
    with pytest.raises(ApprovalEditError, match=message):
        approval_annotation_patch(text, "r1")


@pytest.mark.parametrize("revision", ["", " r1", "r1\nx"])
def test_annotation_patch_rejects_bad_revisions(revision: str) -> None:
    with pytest.raises(ValueError, match="revision"):
        approval_annotation_patch(HEADER + "metadata:\n  name: p\n", revision)
