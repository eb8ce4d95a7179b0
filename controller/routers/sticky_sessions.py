"""Session affinity during a canary run (``analysis.sessionAffinity``), as Flagger does it.

While the canary takes weighted traffic, responses from the canary carry ``Set-Cookie:
<cookieName>=<random>``, and a sticky route sends every request carrying that cookie to the
canary. With ``primaryCookieName``, primary responses carry a cookie that lives one analysis
interval and a second sticky route keeps those users on the primary. When the canary weight
returns to 0 the canary cookie becomes the *expiring* cookie: requests carrying it are answered
with ``Max-Age=-1`` so browsers drop it.

Invariants:
- the cookies live in the route object, which is the source of truth: the adapters read them
  back from the live object, so repeated ``set_routes`` calls keep the same canary cookie and
  a restarted controller does not lose it (Flagger keeps them in the Canary status instead);
- the primary cookie value is derived from the canary uid, the canary cookie and the canary
  weight: stable within a step, new at every step (Flagger draws a new one per call).

Pure module apart from ``random_cookie_value``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from dataclasses import dataclass

from controller.api.analysis import SessionAffinity

CANARY_STICKY_ROUTE = "sticky-route"
PRIMARY_STICKY_ROUTE = "sticky-route-primary"
SET_COOKIE = "Set-Cookie"
MAX_AGE = "Max-Age"
_LETTERS = string.ascii_letters
_MAX_AGE_ATTR = re.compile(r"^\s*max-age\s*=\s*(-?\d+)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class StickyCookies:
    """``name=value`` cookies; ``None`` when not in use."""

    canary: str | None = None
    primary: str | None = None
    expiring: str | None = None


def random_cookie_value() -> str:
    return "".join(secrets.choice(_LETTERS) for _ in range(10))


def derived_cookie_value(*parts: str) -> str:
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    return "".join(_LETTERS[b % len(_LETTERS)] for b in digest[:10])


def cookie_name(cookie: str) -> str:
    return cookie.split("=", 1)[0]


def next_cookies(
    affinity: SessionAffinity,
    live: StickyCookies,
    canary_weight: int,
    fresh_value: str,
    uid: str,
) -> StickyCookies:
    """The cookies for a new split, given those found in the live route object."""
    if canary_weight <= 0:
        expiring = live.canary or live.expiring
        return StickyCookies(expiring=expiring)
    canary = live.canary
    if canary is None or cookie_name(canary) != affinity.cookie_name:
        canary = f"{affinity.cookie_name}={fresh_value}"
    primary = None
    if affinity.primary_cookie_name:
        value = derived_cookie_value(uid, canary, str(canary_weight))
        primary = f"{affinity.primary_cookie_name}={value}"
    return StickyCookies(canary=canary, primary=primary)


def cookie_regex(cookie: str) -> str:
    """A ``Cookie`` header regex matching the cookie anywhere in the header."""
    name, _, value = cookie.partition("=")
    return f".*{re.escape(name)}={re.escape(value)}.*"


def set_cookie(cookie: str, affinity: SessionAffinity, max_age: int) -> str:
    """A ``Set-Cookie`` value with the attributes of ``analysis.sessionAffinity``."""
    parts = [cookie, f"{MAX_AGE}={max_age}"]
    if affinity.domain:
        parts.append(f"Domain={affinity.domain}")
    if affinity.path:
        parts.append(f"Path={affinity.path}")
    if affinity.same_site:
        parts.append(f"SameSite={affinity.same_site}")
    if affinity.secure:
        parts.append("Secure")
    if affinity.http_only:
        parts.append("HttpOnly")
    if affinity.partitioned:
        parts.append("Partitioned")
    return "; ".join(parts)


def expire_cookie(cookie: str) -> str:
    return f"{cookie}; {MAX_AGE}=-1"


def parse_set_cookie(value: str) -> tuple[str, int | None]:
    """(``name=value``, Max-Age or ``None``) of a ``Set-Cookie`` header value."""
    cookie, *attrs = value.split(";")
    max_age = None
    for attr in attrs:
        found = _MAX_AGE_ATTR.match(attr)
        if found:
            max_age = int(found.group(1))
    return cookie.strip(), max_age
