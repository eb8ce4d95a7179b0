"""The wrapper modules that build the Flux controllers (pure logic + ``go mod edit``)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from gitcanary_sandbox import flux_binaries
from gitcanary_sandbox.flux_binaries import FluxController

CONTROLLER_GO_MOD = """module github.com/fluxcd/image-automation-controller

go 1.26.0

replace github.com/fluxcd/image-automation-controller/api => ./api

// Pin kustomize to the version the tests use.
replace (
\tsigs.k8s.io/kustomize/api => sigs.k8s.io/kustomize/api v0.21.1 // comment
\tsigs.k8s.io/kustomize/kyaml   =>   sigs.k8s.io/kustomize/kyaml v0.21.1
)

replace gopkg.in/yaml.v3 v3.0.0 => gopkg.in/yaml.v3 v3.0.1

require (
\tgithub.com/fluxcd/image-automation-controller/api v1.2.0
\tk8s.io/api v0.36.1
)
"""

IAC = FluxController("image-automation-controller", "v1.2.0")


def test_replace_directives_reads_single_lines_and_blocks() -> None:
    assert flux_binaries.replace_directives(CONTROLLER_GO_MOD) == [
        "github.com/fluxcd/image-automation-controller/api => ./api",
        "sigs.k8s.io/kustomize/api => sigs.k8s.io/kustomize/api v0.21.1",
        "sigs.k8s.io/kustomize/kyaml => sigs.k8s.io/kustomize/kyaml v0.21.1",
        "gopkg.in/yaml.v3 v3.0.0 => gopkg.in/yaml.v3 v3.0.1",
    ]


def test_wrapper_replaces_api_with_the_released_module_and_copies_the_rest() -> None:
    replaces = flux_binaries.wrapper_replaces(IAC, CONTROLLER_GO_MOD)
    assert replaces[0] == (
        "github.com/fluxcd/image-automation-controller/api => "
        "github.com/fluxcd/image-automation-controller/api v1.2.0"
    )
    assert "./api" not in " ".join(replaces)
    assert "gopkg.in/yaml.v3 v3.0.0 => gopkg.in/yaml.v3 v3.0.1" in replaces
    assert len(replaces) == 4


def test_local_replace_other_than_api_is_refused() -> None:
    go_mod = "module x\n\nreplace github.com/other/thing => ../thing\n"
    with pytest.raises(ValueError, match=r"\.\./thing"):
        flux_binaries.wrapper_replaces(IAC, go_mod)


def test_wrapper_go_mod_is_accepted_by_go(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text(flux_binaries.wrapper_go_mod(IAC, CONTROLLER_GO_MOD))
    proc = subprocess.run(
        ["go", "mod", "edit", "-json"], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    parsed = json.loads(proc.stdout)
    assert parsed["Require"] == [{"Path": IAC.module, "Version": "v1.2.0"}]
    olds = {r["Old"]["Path"]: r["New"] for r in parsed["Replace"]}
    assert olds[IAC.api_module] == {"Path": IAC.api_module, "Version": "v1.2.0"}
    assert olds["sigs.k8s.io/kustomize/kyaml"]["Version"] == "v0.21.1"


def test_pinned_sums_name_their_own_module_and_version() -> None:
    for ctrl in flux_binaries.CONTROLLERS:
        for line in ctrl.pinned_sums:
            module, version, digest = line.split()
            assert module == ctrl.module
            assert version in (ctrl.version, f"{ctrl.version}/go.mod")
            assert digest.startswith("h1:") and digest.endswith("=")


def test_unknown_controller_is_a_key_error() -> None:
    assert flux_binaries.controller("source-controller").module == "github.com/fluxcd/source-controller"
    with pytest.raises(KeyError, match="notification-controller"):
        flux_binaries.controller("notification-controller")


def test_a_substitute_is_a_replace_directive_of_the_wrapper() -> None:
    helm = flux_binaries.controller("helm-controller")
    replaces = flux_binaries.wrapper_replaces(helm, "module github.com/fluxcd/helm-controller\n")
    assert replaces[0] == f"{helm.api_module} => {helm.api_module} v1.6.0"
    assert "github.com/fluxcd/pkg/chartutil => github.com/fluxcd/pkg/chartutil v1.28.0" in replaces
