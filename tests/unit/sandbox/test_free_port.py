"""Service ports are chosen outside the kernel's ephemeral range, where no outgoing connection
or bind(0) can take them between the choice and the service's start."""

from __future__ import annotations

import socket

from gitcanary_sandbox import processes


def test_free_ports_avoid_the_ephemeral_range_and_are_bindable() -> None:
    low, high = processes._ephemeral_range()
    ports = {processes.free_port() for _ in range(50)}
    assert not [p for p in ports if low <= p <= high]
    for port in list(ports)[:5]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))


def test_a_port_in_use_is_never_returned() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", processes.free_port()))
        busy.listen()
        taken = busy.getsockname()[1]
        assert all(processes.free_port() != taken for _ in range(200))
