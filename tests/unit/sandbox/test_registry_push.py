"""Pushing images to a real local registry (Debian's docker-registry) over raw HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gitcanary_sandbox import processes, registry


@pytest.fixture
def registry_url(tmp_path: Path) -> Iterator[str]:
    url = registry.start_registry(tmp_path, processes.free_port())
    try:
        yield url
    finally:
        processes.stop(tmp_path, registry.SERVICE, grace=5)


def test_pushed_tags_are_listed_with_distinct_digests(registry_url: str) -> None:
    first = registry.push_image(registry_url, "team/app", "1.0.0")
    second = registry.push_image(registry_url, "team/app", "1.1.0")
    assert registry.list_tags(registry_url, "team/app") == ["1.0.0", "1.1.0"]
    assert first.digest != second.digest
    assert first.digest.startswith("sha256:")


def test_manifest_is_served_as_oci_with_one_layer(registry_url: str) -> None:
    pushed = registry.push_image(registry_url, "app", "2.0.0")
    resp = httpx.get(
        f"{registry_url}/v2/app/manifests/2.0.0", headers={"Accept": registry.OCI_MANIFEST}, timeout=5
    )
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == registry.OCI_MANIFEST
    assert resp.headers["Docker-Content-Digest"] == pushed.digest
    manifest = resp.json()
    assert len(manifest["layers"]) == 1
    blob = httpx.get(f"{registry_url}/v2/app/blobs/{manifest['config']['digest']}", timeout=5)
    assert blob.json()["config"]["Labels"]["io.gitcanary.tag"] == "2.0.0"


def test_invalid_repository_name_raises_with_the_registry_answer(registry_url: str) -> None:
    with pytest.raises(registry.RegistryError, match="HTTP 4"):
        registry.push_image(registry_url, "Not_Valid/UPPER", "1.0.0")


def test_config_listens_on_loopback_only(tmp_path: Path) -> None:
    config = registry.registry_config(5999, tmp_path)
    assert "addr: 127.0.0.1:5999" in config
    assert f"rootdirectory: {tmp_path}" in config
