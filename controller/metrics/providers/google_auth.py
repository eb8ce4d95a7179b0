"""OAuth 2.0 access tokens for a Google service account (the JWT bearer grant, RFC 7523).

A service-account key file (``{"type": "service_account", "client_email", "private_key",
"private_key_id", "token_uri", ...}``) is turned into an access token by signing a JWT with the
key (RS256) and posting it to the key's ``token_uri`` as
``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<jwt>``.

Invariants:
* The private key, the signed assertion and the access token never reach a message: every
  error text is scrubbed of all three.
* The token request goes through ``transport.send`` (total deadline, 1 MiB cap, URL policy).
* Tokens are cached per key, scope and token URI until ``EXPIRY_MARGIN`` seconds before they
  expire, never longer than ``MAX_TOKEN_LIFETIME``; the cache holds at most ``CACHE_SIZE``
  entries (least recently used dropped) and is keyed by a digest, never by the key's text.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from controller.metrics.errors import ProviderConfigError, ProviderError
from controller.metrics.providers.contract import ProviderConfig
from controller.metrics.providers.transport import backend_text, json_of, send

__all__ = [
    "DEFAULT_TOKEN_URI",
    "GRANT_TYPE",
    "ServiceAccountKey",
    "TokenSource",
    "clear_token_cache",
    "service_account_key",
]

DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME = 3600
"""Seconds a signed assertion is valid (Google's maximum)."""
EXPIRY_MARGIN = 60.0
"""A cached token is replaced this many seconds before it expires."""
MAX_TOKEN_LIFETIME = 3600.0
"""A token is never cached for longer than this, whatever ``expires_in`` says."""
CACHE_SIZE = 64
MAX_KEY_BYTES = 64 * 1024


@dataclass(frozen=True)
class ServiceAccountKey:
    """The fields of a service-account key file that the JWT bearer grant needs."""

    client_email: str
    private_key: rsa.RSAPrivateKey
    private_key_id: str
    token_uri: str
    digest: str
    """SHA-256 of the key file's identity fields and private key: the cache key, not a secret."""
    secrets: tuple[str, ...]
    """Texts that must never appear in a message (the PEM private key)."""


def service_account_key(raw: str | bytes, what: str = "serviceAccountKey") -> ServiceAccountKey:
    """Parse a service-account key file; ``ProviderConfigError`` (never showing the key) if unusable."""
    if len(raw) > MAX_KEY_BYTES:
        raise ProviderConfigError(f"{what} is larger than {MAX_KEY_BYTES} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise ProviderConfigError(f"{what} is not a JSON service account key file") from None
    if not isinstance(data, dict):
        raise ProviderConfigError(f"{what} is not a JSON service account key file")
    if data.get("type") != "service_account":
        raise ProviderConfigError(f"{what} is not a service account key (type must be 'service_account')")
    email, pem = data.get("client_email"), data.get("private_key")
    key_id, token_uri = data.get("private_key_id", ""), data.get("token_uri") or DEFAULT_TOKEN_URI
    if not isinstance(email, str) or not email:
        raise ProviderConfigError(f"{what} has no client_email")
    if not isinstance(pem, str) or not pem:
        raise ProviderConfigError(f"{what} has no private_key")
    if not isinstance(key_id, str) or not isinstance(token_uri, str):
        raise ProviderConfigError(f"{what} has a private_key_id or token_uri that is not a string")
    if urlsplit(token_uri).scheme not in ("http", "https"):
        raise ProviderConfigError(f"{what} token_uri is not an http(s) URL")
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ProviderConfigError(f"{what} private_key is not a PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ProviderConfigError(f"{what} private_key is not an RSA key")
    digest = hashlib.sha256("\0".join((email, key_id, token_uri, pem)).encode()).hexdigest()
    return ServiceAccountKey(email, key, key_id, token_uri, digest, (pem,))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_assertion(key: ServiceAccountKey, scope: str, now: float) -> str:
    """The RS256 JWT the token endpoint exchanges for an access token."""
    header = {"alg": "RS256", "typ": "JWT", **({"kid": key.private_key_id} if key.private_key_id else {})}
    issued = int(now)
    claims = {
        "iss": key.client_email,
        "scope": scope,
        "aud": key.token_uri,
        "iat": issued,
        "exp": issued + ASSERTION_LIFETIME,
    }
    signing_input = ".".join(
        _b64(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    signature = key.private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64(signature)}"


_CACHE: OrderedDict[str, tuple[str, float]] = OrderedDict()
"""(digest of key, scope) -> (access token, monotonic time to replace it)."""


def clear_token_cache() -> None:
    """Forget every cached access token (tests, and a controller that rotates keys by hand)."""
    _CACHE.clear()


class TokenSource:
    """Access tokens for one service-account key and scope, cached across providers."""

    def __init__(
        self,
        config: ProviderConfig,
        key: ServiceAccountKey,
        scope: str,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._key = key
        self._scope = scope
        self._clock = clock
        self._monotonic = monotonic
        self._cache_key = f"{key.digest} {scope}"
        self._issued: tuple[str, ...] = ()

    @property
    def secrets(self) -> tuple[str, ...]:
        """The private key and every token this source handed out: scrub them from any text."""
        return (*self._key.secrets, *self._issued)

    async def token(self) -> str:
        """A valid access token: the cached one, or a new one from the token endpoint."""
        cached = _CACHE.get(self._cache_key)
        if cached is not None and self._monotonic() < cached[1]:
            _CACHE.move_to_end(self._cache_key)
            self._issued = (cached[0],)
            return cached[0]
        _CACHE.pop(self._cache_key, None)
        token, lifetime = await self._exchange()
        self._issued = (token,)
        keep = min(lifetime, MAX_TOKEN_LIFETIME) - EXPIRY_MARGIN
        if keep > 0:
            _CACHE[self._cache_key] = (token, self._monotonic() + keep)
            while len(_CACHE) > CACHE_SIZE:
                _CACHE.popitem(last=False)
        return token

    def forget(self) -> None:
        """Drop the cached token (the API refused it: revoked, or the key was rotated)."""
        _CACHE.pop(self._cache_key, None)

    async def _exchange(self) -> tuple[str, float]:
        assertion = signed_assertion(self._key, self._scope, self._clock())
        secrets = (*self._key.secrets, assertion)
        body = urlencode({"grant_type": GRANT_TYPE, "assertion": assertion}).encode()
        response = await send(
            self._config,
            "POST",
            self._key.token_uri,
            headers=[("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")],
            secrets=secrets,
            content=body,
        )
        if response.status_code != 200:
            raise ProviderError(
                f"error getting an access token: error response {response.status_code}: "
                f"{_oauth_error(response.text, secrets)}"
            )
        answer = json_of(response)
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise ProviderError("error unmarshaling token response: no access_token")
        expires = answer.get("expires_in", 0)
        if isinstance(expires, bool) or not isinstance(expires, int | float) or not 0 <= expires < 1e9:
            raise ProviderError("error unmarshaling token response: expires_in is not a number of seconds")
        return token, float(expires)


def _oauth_error(text: str, secrets: tuple[str, ...]) -> str:
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        return backend_text(text, secrets)
    if isinstance(body, Mapping):
        parts = [str(body.get(k)) for k in ("error", "error_description") if body.get(k)]
        if parts:
            return backend_text(": ".join(parts), secrets)
    return backend_text(text, secrets)
