"""The helm build's pure parts: the Kubernetes version from helm's go.mod, and the link flags."""

from __future__ import annotations

import subprocess

import pytest

from gitcanary_sandbox.helm_binary import (
    HELM_MODULE,
    HELM_VERSION,
    HelmBuildError,
    helm_path,
    kube_minor,
    ldflags,
)

GO_MOD = """module helm.sh/helm/v3

go 1.26.0

require (
\tgithub.com/BurntSushi/toml v1.6.0
\tk8s.io/api v0.37.0
\tk8s.io/client-go v0.37.2
)
"""


def test_kube_minor_follows_client_go() -> None:
    assert kube_minor(GO_MOD) == "37"


def test_kube_minor_refuses_a_go_mod_without_client_go() -> None:
    with pytest.raises(HelmBuildError, match="client-go"):
        kube_minor("module x\n\ngo 1.26.0\n")


def test_ldflags_set_the_release_and_kubernetes_versions() -> None:
    flags = ldflags("37")
    assert f"-X {HELM_MODULE}/internal/version.version={HELM_VERSION}" in flags
    for package in ("pkg/lint/rules", "pkg/chartutil"):
        assert f"-X {HELM_MODULE}/{package}.k8sVersionMajor=1" in flags
        assert f"-X {HELM_MODULE}/{package}.k8sVersionMinor=37" in flags


def test_cached_helm_reports_the_pinned_version() -> None:
    binary = helm_path()
    assert binary.exists(), f"{binary} is missing: run ./scripts/bootstrap.sh (it builds helm)"
    proc = subprocess.run([str(binary), "version", "--short"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(HELM_VERSION), proc.stdout
