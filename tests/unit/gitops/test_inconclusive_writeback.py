"""Giving up on inconclusive checks (issue 16) is written back without a verdict: the markers are
reverted (``onInconclusive.revert``, on by default), the tag is never quarantined, and the
commit's trailer says ``Gitcanary-Result: inconclusive``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from controller.analysis import RequestWriteBack
from controller.gitops.edits.apply import EditPolicy, apply_intent, record_file
from controller.gitops.edits.semver_range import satisfies
from controller.gitops.workflow.trailers import build_message, parse_trailers
from controller.reconcile.status import decision_intents, intents_for
from tests.unit.gitops.test_edits import FAILED, PRIMARY, intent, policy_range, repo, snapshot

__all__ = ["repo"]  # the fixture, imported from test_edits


def inconclusive() -> object:
    return replace(intent(), result="inconclusive", analysis="request-success-rate inconclusive (timeout)")


@pytest.mark.parametrize("policy", [EditPolicy(), EditPolicy(quarantine=True), EditPolicy(revert=False)])
def test_inconclusive_reverts_by_default_and_never_quarantines(repo: Path, policy: EditPolicy) -> None:
    range_before = policy_range(repo, "podinfo")
    todo = inconclusive()
    changed = apply_intent(repo, todo, policy)  # type: ignore[arg-type]
    assert FAILED not in (repo / "apps/podinfo/deployment.yaml").read_text()
    assert PRIMARY in (repo / "apps/podinfo/deployment.yaml").read_text()
    assert policy_range(repo, "podinfo") == range_before
    assert satisfies(policy_range(repo, "podinfo"), "6.0.2")
    assert repo / "flux-system/image-automation.yaml" not in changed
    assert "result: inconclusive" in record_file(repo, "test/podinfo").read_text()


def test_inconclusive_revert_switch_off_only_records(repo: Path) -> None:
    before = snapshot(repo)
    changed = apply_intent(repo, inconclusive(), EditPolicy(revert_inconclusive=False))  # type: ignore[arg-type]
    assert changed == [record_file(repo, "test/podinfo")]
    after = snapshot(repo)
    del after[".gitcanary/test/podinfo.txt"]
    assert after == before


def test_a_verdict_still_quarantines(repo: Path) -> None:
    apply_intent(repo, intent())
    assert not satisfies(policy_range(repo, "podinfo"), "6.0.2")


def test_the_trailer_says_inconclusive() -> None:
    block = inconclusive().trailer_block()  # type: ignore[attr-defined]
    message = build_message("gitcanary: inconclusive test/podinfo", [block])
    assert "Gitcanary-Result: inconclusive" in message
    assert parse_trailers(message)[0].result == "inconclusive"


def test_an_inconclusive_write_back_is_a_rollback_intent_that_keeps_its_result() -> None:
    wb = RequestWriteBack(
        "inconclusive", "rev-b", "request-success-rate inconclusive (timeout) (3/3 inconclusive checks)"
    )
    (queued,) = intents_for("test/podinfo", [wb], FAILED, PRIMARY, 1_700_000_000.0)
    assert (queued["kind"], queued["result"], queued["image"], queued["previousImage"]) == (
        "rollback",
        "inconclusive",
        PRIMARY,
        FAILED,
    )
    target = {"spec": {"template": {"spec": {"containers": [{"name": "podinfo", "image": FAILED}]}}}}
    primary = {"spec": {"template": {"spec": {"containers": [{"name": "podinfo", "image": PRIMARY}]}}}}
    (decided,) = decision_intents("test/podinfo", [wb], target, primary, {}, 1_700_000_000.0, "abc")
    assert (decided["kind"], decided["result"]) == ("rollback", "inconclusive")
