"""Which container's image a write-back is about."""

from __future__ import annotations

from typing import Any

from controller.workloads.images import analysed_image, container_images, stable_images_of


def workload(**images: str) -> dict[str, Any]:
    containers = [{"name": name, "image": image} for name, image in images.items()]
    return {"spec": {"template": {"spec": {"containers": containers}}}}


def test_container_images_keep_the_pod_order() -> None:
    assert list(container_images(workload(app="a:1", proxy="p:1"))) == ["app", "proxy"]
    assert container_images(None) == {}
    assert container_images({"spec": {}}) == {}


def test_a_rollback_is_about_the_sidecar_when_only_the_sidecar_changed() -> None:
    target = workload(app="app:1", proxy="proxy:2")
    primary = workload(app="app:1", proxy="proxy:1")
    image = analysed_image(target, primary, {})
    assert (image.container, image.target, image.primary, image.stable) == (
        "proxy",
        "proxy:2",
        "proxy:1",
        "proxy:1",
    )
    assert image.changed


def test_a_promotion_compares_with_the_images_recorded_while_stable() -> None:
    """Once promoted, the primary already runs the new images: the stable record tells the change."""
    promoted = workload(app="app:1", proxy="proxy:2")
    image = analysed_image(promoted, promoted, {"app": "app:1", "proxy": "proxy:1"})
    assert (image.container, image.target, image.stable) == ("proxy", "proxy:2", "proxy:1")


def test_the_first_changed_container_wins() -> None:
    target = workload(app="app:2", proxy="proxy:2")
    image = analysed_image(target, workload(app="app:1", proxy="proxy:1"), {})
    assert (image.container, image.target, image.stable) == ("app", "app:2", "app:1")


def test_a_config_only_revision_is_about_the_first_container_and_unchanged() -> None:
    target = workload(app="app:1", proxy="proxy:1")
    image = analysed_image(target, target, {"app": "app:1", "proxy": "proxy:1"})
    assert (image.container, image.target, image.primary, image.stable) == ("app", "app:1", "app:1", "app:1")
    assert not image.changed


def test_an_added_container_is_not_a_change_of_image() -> None:
    target = workload(app="app:1", debug="busybox:1")
    image = analysed_image(target, workload(app="app:1"), {})
    assert (image.container, image.changed) == ("app", False)


def test_no_containers() -> None:
    assert analysed_image(None, None, {}).target == ""


def test_stable_images_fall_back_to_the_legacy_first_image() -> None:
    primary = workload(app="app:1", proxy="proxy:1")
    assert stable_images_of({"engine": {"stableImages": {"app": "app:0"}}}, primary) == {"app": "app:0"}
    assert stable_images_of({"engine": {"stableImage": "app:0"}}, primary) == {"app": "app:0"}
    assert stable_images_of({"engine": {}}, primary) == {}
    assert stable_images_of(None, None) == {}
