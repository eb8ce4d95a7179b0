"""The tenancy rules: namespaces, Flux inventory, path containment, branch names, remote URLs."""

from __future__ import annotations

import subprocess

import pytest

from controller.api import Canary
from controller.tenancy import (
    TenancySettings,
    allowed_namespaces,
    branch_problem,
    cross_namespace_problem,
    inventory_id,
    inventory_lists,
    kustomization_root,
    path_problem,
    refused_references,
    url_problem,
)
from tests.builders import canary, deployment, git_repository, kustomization

DEFAULT = TenancySettings()
OPEN = TenancySettings(allow_cross_namespace_refs=True)
FILES = TenancySettings(allow_file_remotes=True)


# -- settings -------------------------------------------------------------------------------------


def test_settings_are_secure_by_default_and_read_from_the_flags_environment() -> None:
    assert TenancySettings.from_env({}) == DEFAULT
    env = {"GITCANARY_ALLOW_CROSS_NAMESPACE_REFS": "1", "GITCANARY_ALLOW_FILE_REMOTES": "true"}
    assert TenancySettings.from_env(env) == TenancySettings(True, True)
    assert TenancySettings.from_env({"GITCANARY_ALLOW_FILE_REMOTES": "0"}) == DEFAULT


# -- namespaces -----------------------------------------------------------------------------------


def test_own_namespace_is_always_allowed() -> None:
    assert cross_namespace_problem("GitRepository", "team-a", "fleet", "team-a", DEFAULT) is None


def test_another_namespace_is_refused_with_the_way_to_allow_it() -> None:
    problem = cross_namespace_problem("GitRepository", "flux-system", "fleet", "team-a", DEFAULT)
    assert problem is not None
    assert "flux-system/fleet" in problem and "--allow-cross-namespace-refs" in problem
    assert "gitcanary.io/allowed-namespaces" in problem


def test_the_flag_or_the_annotation_allow_another_namespace() -> None:
    assert cross_namespace_problem("GitRepository", "flux-system", "fleet", "team-a", OPEN) is None
    repo = git_repository("flux-system", "fleet", "https://x/y.git", allowed_namespaces=" team-b , team-a")
    grant = allowed_namespaces(repo["metadata"]["annotations"])
    assert grant == {"team-a", "team-b"}
    assert cross_namespace_problem("GitRepository", "flux-system", "fleet", "team-a", DEFAULT, grant) is None
    assert cross_namespace_problem("GitRepository", "flux-system", "fleet", "team-c", DEFAULT, grant)
    everyone = allowed_namespaces({"gitcanary.io/allowed-namespaces": "*"})
    assert (
        cross_namespace_problem("GitRepository", "flux-system", "fleet", "team-c", DEFAULT, everyone) is None
    )
    assert allowed_namespaces(None) == allowed_namespaces({}) == frozenset()


def test_metric_templates_and_alert_providers_elsewhere_are_refused_unless_the_flag_allows() -> None:
    raw = canary("team-a", "podinfo")
    raw["spec"]["analysis"]["metrics"].append(
        {
            "name": "latency",
            "templateRef": {"name": "latency", "namespace": "monitoring"},
            "thresholdRange": {"max": 1},
        }
    )
    raw["spec"]["analysis"]["alerts"] = [
        {"name": "own", "providerRef": {"name": "slack"}},
        {"name": "same", "providerRef": {"name": "slack", "namespace": "team-a"}},
        {"name": "other", "providerRef": {"name": "pager", "namespace": "platform"}},
    ]
    parsed = Canary.from_k8s(raw)
    problems = refused_references(parsed, DEFAULT)
    assert len(problems) == 2
    assert "MetricTemplate monitoring/latency" in problems[0]
    assert "AlertProvider platform/pager" in problems[1]
    assert refused_references(parsed, OPEN) == []
    assert refused_references(Canary.from_k8s(canary("team-a", "podinfo")), DEFAULT) == []


# -- Flux inventory -------------------------------------------------------------------------------


def test_inventory_ids_follow_flux() -> None:
    assert inventory_id("apps", "podinfo", "apps/v1", "Deployment") == "apps_podinfo_apps_Deployment"
    assert inventory_id("apps", "podinfo", "v1", "Service") == "apps_podinfo__Service"


def test_labels_are_trusted_only_when_the_inventory_lists_the_target() -> None:
    target = deployment("team-a", "podinfo", "img:1")
    other = deployment("team-b", "podinfo", "img:1")
    assert inventory_lists(kustomization("flux-system", "apps", "fleet", "./apps", (target,)), target)
    assert not inventory_lists(kustomization("flux-system", "apps", "fleet", "./apps", (other,)), target)
    assert not inventory_lists(kustomization("flux-system", "apps", "fleet", "./apps"), target)
    no_status = kustomization("flux-system", "apps", "fleet", "./apps")
    del no_status["status"]
    assert not inventory_lists(no_status, target)


# -- paths ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "within"),
    [
        ("./apps/podinfo", "apps/podinfo"),
        ("apps/podinfo/", "apps/podinfo"),
        ("./apps/podinfo/overlays", "apps/podinfo"),
        ("./apps/x/../podinfo", "apps/podinfo"),
        ("./anything", "."),
        ("./", "."),
    ],
)
def test_paths_inside_the_kustomization_are_allowed(path: str, within: str) -> None:
    assert path_problem(path, within) is None


@pytest.mark.parametrize(
    ("path", "within", "says"),
    [
        ("../outside", ".", "leaves the repository"),
        ("./apps/../../etc", ".", "leaves the repository"),
        ("..", ".", "leaves the repository"),
        ("/etc", ".", "absolute"),
        ("/apps/podinfo", "apps/podinfo", "absolute"),
        ("./apps", "apps/podinfo", "leaves the Kustomization's path"),
        ("./apps/podinfo-other", "apps/podinfo", "leaves the Kustomization's path"),
        ("./apps/podinfo/../../platform", "apps/podinfo", "leaves the Kustomization's path"),
        ("./apps\n/x", ".", "control characters"),
    ],
)
def test_paths_leaving_the_kustomization_or_the_repository_are_refused(
    path: str, within: str, says: str
) -> None:
    problem = path_problem(path, within)
    assert problem is not None and says in problem


def test_a_kustomization_path_is_read_as_flux_reads_it() -> None:
    assert kustomization_root("./apps/podinfo/") == "apps/podinfo"
    assert kustomization_root("/apps") == "apps"
    assert kustomization_root("./") == kustomization_root("") == "."


# -- branches -------------------------------------------------------------------------------------

BRANCHES = [
    "main",
    "release/1.2",
    "feature/x-y_z",
    "gitcanary/promote/ns/name/abc123",
    "v1.0",
    "a.b",
    "ünïcode",
    "",
    "HEAD",
    "a..b",
    "a@{1}",
    "with space",
    "tab\there",
    "a~1",
    "a^",
    "a:b",
    "a?",
    "a*",
    "a[b",
    "a\\b",
    ".hidden",
    "x/.hidden",
    "x.lock",
    "x/y.lock/z",
    "x.",
    "/x",
    "x/",
    "x//y",
    "a\x7fb",
]


def _git_accepts(branch: str) -> bool:
    done = subprocess.run(
        ["git", "check-ref-format", "--branch", branch],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return done.returncode == 0


@pytest.mark.parametrize("branch", BRANCHES)
def test_branch_rules_agree_with_git_check_ref_format(branch: str) -> None:
    assert (branch_problem(branch) is None) == _git_accepts(branch), branch


@pytest.mark.parametrize("branch", ["-f", "--upload-pack=touch /tmp/x", "-"])
def test_a_branch_never_looks_like_an_option(branch: str) -> None:
    problem = branch_problem(branch, "spec.gitops.branch")
    assert problem is not None and "spec.gitops.branch" in problem and "'-'" in problem


def test_at_alone_is_refused_although_git_reads_it_as_head() -> None:
    assert branch_problem("@") is not None


# -- URLs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/org/fleet.git",
        "http://127.0.0.1:8080/fleet.git",
        "ssh://git@github.com/org/fleet.git",
        "git://127.0.0.1:9418/fleet.git",
        "git@github.com:org/fleet.git",
        "github.com:org/fleet.git",
        "HTTPS://git.example.com/fleet",
    ],
)
def test_remote_urls_that_are_allowed(url: str) -> None:
    assert url_problem(url, DEFAULT) is None


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("file:///srv/git/fleet.git", "--allow-file-remotes"),
        ("/srv/git/fleet.git", "local path"),
        ("./fleet", "local path"),
        ("ext::sh -c touch% /tmp/pwned", "whitespace"),
        ("ext::sh%20-c%20id", "remote helper"),
        ("fd::17", "remote helper"),
        ("ftp://example.com/fleet.git", "scheme 'ftp'"),
        ("ssh://-oProxyCommand=id/fleet", "starts with '-'"),
        ("-oProxyCommand=id:fleet", "starts with '-'"),
        ("git@-oProxyCommand=id:fleet", "starts with '-'"),
        ("https:///fleet.git", "no host"),
        ("https://example.com/fleet\n.git", "control"),
        ("", "empty"),
    ],
)
def test_remote_urls_that_are_refused(url: str, says: str) -> None:
    problem = url_problem(url, DEFAULT)
    assert problem is not None and says in problem, problem


def test_file_remotes_only_behind_the_flag() -> None:
    assert url_problem("file:///srv/git/fleet.git", FILES) is None
    assert url_problem("/srv/git/fleet.git", FILES) is None
    assert url_problem("ext::sh%20-c%20id", FILES) is not None, "the flag never allows remote helpers"
    assert url_problem("ftp://example.com/fleet.git", FILES) is not None
