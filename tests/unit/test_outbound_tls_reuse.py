"""``controller.outbound`` builds its TLS context once per ``verify`` (issue 15, cheaper ticks).

A client made with ``verify=True`` loaded the CA bundle again for every request (about 18 ms of
CPU): two Prometheus metrics per Canary cost more than the rest of a tick. The contexts are made
once; verification itself is unchanged (``tests/unit/test_outbound.py`` covers it).
"""

from __future__ import annotations

import ssl

import httpx
import pytest

from controller import outbound


def test_one_context_per_verify_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[bool] = []
    real = httpx.create_ssl_context

    def counting(*, verify: bool, trust_env: bool) -> ssl.SSLContext:
        made.append(verify)
        return real(verify=verify, trust_env=trust_env)

    monkeypatch.setattr(outbound, "_TLS", {})
    monkeypatch.setattr(httpx, "create_ssl_context", counting)
    checked = [outbound._tls(True) for _ in range(3)]
    unchecked = [outbound._tls(False) for _ in range(3)]
    assert made == [True, False]
    assert checked[0] is checked[2] and checked[0].verify_mode is ssl.CERT_REQUIRED
    assert unchecked[0].verify_mode is ssl.CERT_NONE and not unchecked[0].check_hostname
