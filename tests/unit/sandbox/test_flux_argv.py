"""The command lines the sandbox gives the Flux controllers."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitcanary_sandbox import flux
from gitcanary_sandbox.flux_binaries import CONTROLLER_NAMES


def _ports() -> dict[str, int]:
    return {name: 20000 + i for i, name in enumerate(flux.all_port_names())}


def test_port_names_are_unique_and_cover_every_controller() -> None:
    names = flux.all_port_names()
    assert len(names) == len(set(names))
    assert "source_controller_storage" in names
    for controller in CONTROLLER_NAMES:
        key = controller.replace("-", "_")
        assert f"{key}_metrics" in names and f"{key}_health" in names


@pytest.mark.parametrize("name", CONTROLLER_NAMES)
def test_every_controller_binds_loopback_without_leader_election(name: str) -> None:
    ports = _ports()
    key = name.replace("-", "_")
    argv = flux.controller_argv(name, Path("/bin") / name, ports, Path("/data"))
    assert argv[0] == f"/bin/{name}"
    assert f"--metrics-addr=127.0.0.1:{ports[f'{key}_metrics']}" in argv
    assert f"--health-addr=127.0.0.1:{ports[f'{key}_health']}" in argv
    assert "--enable-leader-election=false" in argv
    assert "--watch-all-namespaces=true" in argv


def test_source_controller_advertises_the_address_it_serves() -> None:
    ports = _ports()
    argv = flux.controller_argv("source-controller", Path("sc"), ports, Path("/data"))
    storage = ports["source_controller_storage"]
    assert f"--storage-addr=127.0.0.1:{storage}" in argv
    assert f"--storage-adv-addr=127.0.0.1:{storage}" in argv
    assert "--storage-path=/data/source-controller" in argv


def test_image_reflector_keeps_its_database_in_the_sandbox() -> None:
    argv = flux.controller_argv("image-reflector-controller", Path("irc"), _ports(), Path("/sbx/flux"))
    assert "--storage-path=/sbx/flux/image-reflector-controller" in argv


def test_unknown_controller_is_refused() -> None:
    ports = {**_ports(), "notification_controller_metrics": 1, "notification_controller_health": 2}
    with pytest.raises(KeyError, match="notification-controller"):
        flux.controller_argv("notification-controller", Path("nc"), ports, Path("/data"))
