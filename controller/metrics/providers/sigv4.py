"""AWS Signature Version 4 for one HTTP request (hashlib and hmac only).

Implements the documented algorithm: a canonical request (method, URI-encoded path, sorted and
RFC 3986-encoded query, lower-cased sorted headers, SHA-256 of the payload), a string to sign
over the credential scope ``<date>/<region>/<service>/aws4_request``, and a signing key derived
by chained HMAC-SHA256 from ``"AWS4" + secret key``.

Invariant: the secret key appears only as HMAC key material; the returned headers hold the
access key id and the signature, never the secret.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote

__all__ = ["AwsCredentials", "sign"]

ALGORITHM = "AWS4-HMAC-SHA256"


@dataclass(frozen=True)
class AwsCredentials:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(default="", repr=False)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def _canonical_query(params: Sequence[tuple[str, str]]) -> str:
    return "&".join(f"{k}={v}" for k, v in sorted((_encode(k), _encode(v)) for k, v in params))


def sign(
    credentials: AwsCredentials,
    *,
    method: str,
    host: str,
    path: str,
    region: str,
    service: str,
    headers: Mapping[str, str],
    body: bytes,
    params: Sequence[tuple[str, str]] = (),
    now: datetime | None = None,
) -> dict[str, str]:
    """The headers to add to the request: ``X-Amz-Date``, ``Authorization`` and, with a
    session token, ``X-Amz-Security-Token``. ``headers`` are the request's own headers to sign
    (``host`` is always signed)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    amz_date = moment.strftime("%Y%m%dT%H%M%SZ")
    day = moment.strftime("%Y%m%d")
    added = {"X-Amz-Date": amz_date}
    if credentials.session_token:
        added["X-Amz-Security-Token"] = credentials.session_token
    signed = {k.lower(): " ".join(v.split()) for k, v in {**headers, **added, "host": host}.items()}
    names = sorted(signed)
    canonical = "\n".join(
        [
            method.upper(),
            quote(path or "/", safe="/-_.~"),
            _canonical_query(params),
            "".join(f"{name}:{signed[name]}\n" for name in names),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(("AWS4" + credentials.secret_access_key).encode(), day)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    added["Authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return added
