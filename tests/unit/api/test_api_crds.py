"""The generated CRDs: up to date, structural, and Flagger's CRDs plus only our additions."""

import copy
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.api.openapi import structural_problems
from tests.upstream import flagger_crd_file

REPO = Path(__file__).resolve().parents[3]
KINDS = ["Canary", "MetricTemplate", "AlertProvider"]
FLAGGER_NAMES = {
    "Canary": "canaries.flagger.app",
    "MetricTemplate": "metrictemplates.flagger.app",
    "AlertProvider": "alertproviders.flagger.app",
}


def _flagger_crds() -> dict[str, dict[str, Any]]:
    path = flagger_crd_file()
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    return {d["spec"]["names"]["kind"]: d for d in docs}


def _remove_additions(kind: str, crd: dict[str, Any]) -> dict[str, Any]:
    """Our CRD minus everything gitcanary adds; what is left must equal Flagger's."""
    out = copy.deepcopy(crd)
    out["metadata"]["name"] = out["metadata"]["name"].replace("gitcanary.io", "flagger.app")
    out["spec"]["group"] = "flagger.app"
    out["spec"]["names"]["categories"].remove("gitcanary")
    if kind == "Canary":
        version = out["spec"]["versions"][0]
        version["additionalPrinterColumns"] = [
            c for c in version["additionalPrinterColumns"] if c["name"] not in ("Revision", "WriteBack")
        ]
        props = version["schema"]["openAPIV3Schema"]["properties"]
        del props["spec"]["properties"]["gitops"]
        del props["status"]["properties"]["gitops"]
        del props["status"]["properties"]["engine"]
        del props["status"]["properties"]["inconclusiveChecks"]
        del props["spec"]["properties"]["analysis"]["properties"]["onInconclusive"]
        del props["spec"]["properties"]["analysis"]["properties"]["inconclusiveThreshold"]
        scaler = props["spec"]["properties"]["autoscalerRef"]["properties"]
        del scaler["primaryScalingSet"]
        scaler["kind"]["enum"].remove("HTTPScaledObject")
    return out


def test_generated_crds_are_up_to_date() -> None:
    flagger = flagger_crd_file()
    result = subprocess.run(
        [sys.executable, str(REPO / "hack" / "gen_crds.py"), str(flagger), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_check_mode_detects_a_stale_file(tmp_path: Path) -> None:
    flagger = flagger_crd_file()
    out = tmp_path / "crds"
    script = str(REPO / "hack" / "gen_crds.py")
    subprocess.run(
        [sys.executable, script, str(flagger), "--out", str(out)], check=True, timeout=60, capture_output=True
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "alertprovider.yaml",
        "canary.yaml",
        "kustomization.yaml",
        "metrictemplate.yaml",
    ]
    (out / "canary.yaml").write_text((out / "canary.yaml").read_text().replace("Weight", "Wait"))
    stale = subprocess.run(
        [sys.executable, script, str(flagger), "--out", str(out), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert stale.returncode == 1
    assert "canary.yaml is out of date" in stale.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_crd_is_flaggers_plus_our_additions(kind: str, crd: Callable[[str], dict[str, Any]]) -> None:
    flagger = copy.deepcopy(_flagger_crds()[kind])
    flagger["metadata"].pop("annotations")  # Helm's resource-policy annotation is dropped
    assert flagger["metadata"]["name"] == FLAGGER_NAMES[kind]
    assert _remove_additions(kind, crd(kind)) == flagger


@pytest.mark.parametrize("kind", KINDS)
def test_crd_names_group_and_subresources(kind: str, crd: Callable[[str], dict[str, Any]]) -> None:
    doc = crd(kind)
    assert doc["apiVersion"] == "apiextensions.k8s.io/v1"
    assert doc["spec"]["group"] == "gitcanary.io"
    plural = doc["spec"]["names"]["plural"]
    assert doc["metadata"]["name"] == f"{plural}.gitcanary.io"
    assert doc["spec"]["names"]["categories"] == ["all", "gitcanary"]
    assert doc["spec"]["scope"] == "Namespaced"
    (version,) = doc["spec"]["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1beta1", True, True)
    assert version["subresources"] == {"status": {}}


@pytest.mark.parametrize("kind", KINDS)
def test_crd_schema_is_structural(kind: str, crd: Callable[[str], dict[str, Any]]) -> None:
    schema = crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert structural_problems(schema) == []


def test_canary_printer_columns(crd: Callable[[str], dict[str, Any]]) -> None:
    columns = crd("Canary")["spec"]["versions"][0]["additionalPrinterColumns"]
    always = [c["name"] for c in columns if c.get("priority", 0) == 0]
    assert always == ["Status", "Weight", "LastTransitionTime"]
    by_name = {c["name"]: c for c in columns}
    assert by_name["Revision"] == {
        "name": "Revision",
        "type": "string",
        "jsonPath": ".status.gitops.source.revision",
        "priority": 1,
    }
    assert by_name["WriteBack"]["jsonPath"] == ".status.gitops.lastWriteBack.result"
    assert by_name["WriteBack"]["priority"] == 1


def test_kustomization_lists_the_three_crds() -> None:
    kustomization = yaml.safe_load((REPO / "crds" / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    assert kustomization["resources"] == ["canary.yaml", "metrictemplate.yaml", "alertprovider.yaml"]


def test_gitops_defaults_in_the_crd(crd_schema: Callable[[str], dict[str, Any]]) -> None:
    gitops = crd_schema("Canary")["properties"]["spec"]["properties"]["gitops"]["properties"]
    assert gitops["onRollback"]["default"] == {}
    assert gitops["onRollback"]["properties"]["revert"]["default"] is True
    assert gitops["onPromotion"]["properties"]["pin"]["default"] is True
    assert gitops["approval"]["properties"]["mode"] == {
        "type": "string",
        "enum": ["none", "pullRequest"],
        "default": "none",
    }
    assert gitops["approval"]["properties"]["timeout"]["default"] == "24h"
    assert gitops["promoteTo"]["items"]["required"] == ["path"]
    assert gitops["reconcileFlux"]["default"] is True
    status = crd_schema("Canary")["properties"]["status"]["properties"]["gitops"]["properties"]
    assert status["applied"]["maxItems"] == 20
    assert status["pending"]["items"]["properties"]["kind"]["enum"] == ["rollback", "promotion", "promoteTo"]
