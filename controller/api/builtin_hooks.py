"""The webhook URLs gitcanary answers in-process (the built-in gates), part of the API.

A Canary may name them in ``analysis.webhooks[].url``; they never leave the controller, so
the outbound URL policy does not apply to them. ``controller.hooks.gates`` implements them.
"""

from __future__ import annotations

from typing import Final

__all__ = ["GATE_URL", "ROLLBACK_URL", "is_builtin_url"]

GATE_URL: Final = "gitcanary:gate"
ROLLBACK_URL: Final = "gitcanary:rollback"


def is_builtin_url(url: str) -> bool:
    """True for the URLs answered in-process (surrounding blanks ignored)."""
    return url.strip() in (GATE_URL, ROLLBACK_URL)
