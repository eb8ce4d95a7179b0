"""Matching the image under analysis to Flux's ImagePolicies and ImageUpdateAutomations."""

from __future__ import annotations

from typing import Any

from controller.flux.images import ImageOrigin, committing_automation, matching_policies, ref_matches

IMAGE = "ghcr.io/stefanprodan/podinfo:6.0.1"


def policy(ns: str, name: str, image: str, tag: str, digest: str = "") -> dict[str, Any]:
    ref = {"name": image, "tag": tag, **({"digest": digest} if digest else {})}
    return {"metadata": {"namespace": ns, "name": name}, "status": {"latestRef": ref}}


def automation(ns: str, name: str, observed: dict[str, Any], commit: str, time: str) -> dict[str, Any]:
    status = {"observedPolicies": observed, "lastPushCommit": commit, "lastPushTime": time}
    return {"metadata": {"namespace": ns, "name": name}, "status": status}


def test_a_ref_matches_by_name_and_tag_and_digest() -> None:
    ref = {"name": "ghcr.io/stefanprodan/podinfo", "tag": "6.0.1"}
    assert ref_matches(ref, IMAGE)
    assert not ref_matches(ref, "ghcr.io/stefanprodan/podinfo:6.0.2")
    assert not ref_matches(ref, "docker.io/stefanprodan/podinfo:6.0.1")
    assert not ref_matches(ref, "ghcr.io/stefanprodan/podinfo"), "a bare name names no version"
    digest = "sha256:" + "a" * 64
    assert ref_matches({**ref, "digest": digest}, f"{IMAGE}@{digest}")
    assert not ref_matches({**ref, "digest": digest}, f"{IMAGE}@sha256:{'b' * 64}")
    assert not ref_matches(None, IMAGE)
    assert not ref_matches({"tag": "6.0.1"}, IMAGE)
    assert not ref_matches(ref, "not an image")


def test_policies_whose_latest_ref_is_the_image_are_found() -> None:
    policies = [
        policy("flux-system", "podinfo", "ghcr.io/stefanprodan/podinfo", "6.0.1"),
        policy("flux-system", "podinfo-old", "ghcr.io/stefanprodan/podinfo", "5.0.0"),
        policy("apps", "other", "ghcr.io/acme/other", "6.0.1"),
        {"metadata": {"namespace": "flux-system", "name": "unready"}},
    ]
    assert matching_policies(policies, IMAGE) == ["flux-system:podinfo"]


def test_the_automation_that_observed_the_policy_at_the_image_committed_it() -> None:
    ref = {"name": "ghcr.io/stefanprodan/podinfo", "tag": "6.0.1"}
    older = {"name": "ghcr.io/stefanprodan/podinfo", "tag": "6.0.0"}
    automations = [
        automation("flux-system", "stale", {"podinfo": older}, "c" * 40, "2026-11-25T10:00:00Z"),
        automation("other", "elsewhere", {"podinfo": ref}, "d" * 40, "2026-11-25T12:00:00Z"),
        automation("flux-system", "apps", {"podinfo": ref}, "a" * 40, "2026-11-25T11:00:00Z"),
        {"metadata": {"namespace": "flux-system", "name": "new"}},
    ]
    found = committing_automation(automations, ["flux-system:podinfo"], IMAGE)
    assert found == {
        "namespace": "flux-system",
        "name": "apps",
        "lastPushCommit": "a" * 40,
        "lastPushTime": "2026-11-25T11:00:00Z",
    }
    assert committing_automation(automations, ["flux-system:nothing"], IMAGE) is None


def test_the_origin_in_status_and_in_words() -> None:
    auto = {"namespace": "flux-system", "name": "apps", "lastPushCommit": "a" * 40, "lastPushTime": "t"}
    origin = ImageOrigin(["flux-system:podinfo"], auto)
    assert origin.to_status() == {"imagePolicies": ["flux-system:podinfo"], "imageAutomation": auto}
    assert origin.describe() == (
        "; image from ImagePolicy flux-system:podinfo, committed by ImageUpdateAutomation flux-system/apps"
        f" ({'a' * 12})"
    )
    assert ImageOrigin().to_status() == {} and ImageOrigin().describe() == ""
    assert ImageOrigin(["flux-system:podinfo"]).to_status() == {"imagePolicies": ["flux-system:podinfo"]}
