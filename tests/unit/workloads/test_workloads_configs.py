"""ConfigMap/Secret tracking: discovery, tracking switch, checksums, renames, primary copies."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from controller.workloads import configs
from tests.builders import config_map, secret

Obj = dict[str, Any]


def pod_spec() -> Obj:
    """A pod spec that references configs in every way Kubernetes allows."""
    return {
        "volumes": [
            {"name": "v-cm", "configMap": {"name": "vol-cm"}},
            {"name": "v-secret", "secret": {"secretName": "vol-secret"}},
            {
                "name": "v-projected",
                "projected": {
                    "sources": [
                        {"configMap": {"name": "proj-cm"}},
                        {"secret": {"name": "proj-secret"}},
                        {"serviceAccountToken": {"path": "token"}},
                    ]
                },
            },
            {"name": "scratch", "emptyDir": {}},
        ],
        "initContainers": [
            {
                "name": "init",
                "image": "busybox",
                "envFrom": [{"configMapRef": {"name": "init-cm"}}],
            }
        ],
        "containers": [
            {
                "name": "app",
                "image": "app:1",
                "env": [
                    {"name": "PLAIN", "value": "x"},
                    {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "env-cm", "key": "a"}}},
                    {"name": "B", "valueFrom": {"secretKeyRef": {"name": "env-secret", "key": "b"}}},
                    {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                ],
                "envFrom": [{"secretRef": {"name": "envfrom-secret"}}, {"prefix": "X_"}],
            }
        ],
    }


ALL_REFS = {
    "configmap/vol-cm",
    "secret/vol-secret",
    "configmap/proj-cm",
    "secret/proj-secret",
    "configmap/init-cm",
    "configmap/env-cm",
    "secret/env-secret",
    "secret/envfrom-secret",
}


def test_every_kind_of_reference_is_discovered() -> None:
    assert configs.referenced_configs(pod_spec()) == ALL_REFS


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"volumes": [{"name": "v", "configMap": {"name": "c"}}]}, {"configmap/c"}),
        ({"volumes": [{"name": "v", "projected": {"sources": [{"secret": {"name": "s"}}]}}]}, {"secret/s"}),
        (
            {
                "initContainers": [
                    {"name": "i", "env": [{"name": "E", "valueFrom": {"secretKeyRef": {"name": "s"}}}]}
                ]
            },
            {"secret/s"},
        ),
        ({"containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "c"}}]}]}, {"configmap/c"}),
        ({"containers": [{"name": "c", "image": "x"}]}, set()),
        ({}, set()),
    ],
)
def test_each_reference_kind_alone(spec: Obj, expected: set[str]) -> None:
    assert configs.referenced_configs(spec) == expected


@pytest.mark.parametrize(
    ("annotations", "tracked"),
    [
        (None, True),
        ({}, True),
        ({"flagger.app/config-tracking": "disabled"}, False),
        ({"gitcanary.io/config-tracking": "disabled"}, False),
        ({"flagger.app/config-tracking": "enabled"}, True),
        ({"unrelated": "disabled"}, True),
    ],
)
def test_tracking_disabled_annotation(annotations: dict[str, str] | None, tracked: bool) -> None:
    assert configs.is_tracked(config_map("test", "c", {"k": "v"}, annotations)) is tracked


def test_checksum_covers_data_only_and_ignores_key_order() -> None:
    a = config_map("test", "c", {"x": "1", "y": "2"})
    b = config_map("other", "d", {"y": "2", "x": "1"}, {"note": "metadata does not count"})
    assert configs.checksum(a) == configs.checksum(b)
    assert configs.checksum(config_map("test", "c", {"x": "1", "y": "3"})) != configs.checksum(a)
    with_binary = copy.deepcopy(a)
    with_binary["binaryData"] = {"z": "AAAA"}
    assert configs.checksum(with_binary) != configs.checksum(a)


def test_renames_map_keys_to_primary_names() -> None:
    assert configs.renames({"configmap/app": "1", "secret/tls": "2"}) == {
        "configmap/app": "app-primary",
        "secret/tls": "tls-primary",
    }


def test_rename_config_refs_rewrites_every_tracked_reference() -> None:
    original = pod_spec()
    renamed = configs.rename_config_refs(original, configs.renames(dict.fromkeys(ALL_REFS, "sum")))
    assert configs.referenced_configs(renamed) == {
        f"{ref.split('/')[0]}/{ref.split('/')[1]}-primary" for ref in ALL_REFS
    }
    assert original == pod_spec()  # the input is not mutated
    # untouched parts stay as they were
    assert renamed["containers"][0]["env"][0] == {"name": "PLAIN", "value": "x"}
    assert renamed["volumes"][2]["projected"]["sources"][2] == {"serviceAccountToken": {"path": "token"}}


def test_rename_config_refs_leaves_untracked_references_and_kinds_apart() -> None:
    spec: Obj = {
        "volumes": [
            {"name": "a", "configMap": {"name": "shared"}},
            {"name": "b", "secret": {"secretName": "shared"}},
        ]
    }
    renamed = configs.rename_config_refs(spec, {"configmap/shared": "shared-primary"})
    assert renamed["volumes"][0]["configMap"]["name"] == "shared-primary"
    assert renamed["volumes"][1]["secret"]["secretName"] == "shared"  # a Secret of the same name


def test_primary_copy_keeps_data_and_drops_flux_labels() -> None:
    owner = {"apiVersion": "gitcanary.io/v1beta1", "kind": "Canary", "name": "podinfo", "uid": "u"}
    source = secret("test", "tls", {"tls.crt": "Y2VydA=="})
    source["metadata"]["labels"] = {"app": "podinfo", "kustomize.toolkit.fluxcd.io/name": "apps"}
    source["immutable"] = True
    out = configs.primary_copy(source, owner)
    assert out["kind"] == "Secret"
    assert out["metadata"]["name"] == "tls-primary"
    assert out["metadata"]["labels"] == {"app": "podinfo"}
    assert out["metadata"]["annotations"] == {"kustomize.toolkit.fluxcd.io/reconcile": "disabled"}
    assert out["metadata"]["ownerReferences"] == [owner]
    assert (out["data"], out["type"], out["immutable"]) == ({"tls.crt": "Y2VydA=="}, "Opaque", True)
    assert configs.checksum(out) == configs.checksum(source)
    out["data"]["tls.crt"] = "changed"
    assert source["data"]["tls.crt"] == "Y2VydA=="  # a deep copy
