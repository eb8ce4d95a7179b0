"""Commit-message trailers that make ``git log`` the audit trail of write-backs.

A write-back commit ends with one paragraph of ``Gitcanary-*`` trailers, one block per
applied intent, each block starting with ``Gitcanary-Canary`` and ending with
``Gitcanary-Intent``::

    Gitcanary-Canary: test/podinfo
    Gitcanary-Result: rolled-back
    Gitcanary-Image: ghcr.io/stefanprodan/podinfo:6.0.2 -> 6.0.1
    Gitcanary-Source: main@sha1:<sha>
    Gitcanary-Analysis: error-rate 69.17% > 1% (5/5 failed checks)
    Gitcanary-Intent: <deterministic id>

Invariants:
- All blocks sit in the final paragraph with no blank line between them, so
  ``git interpret-trailers --parse`` sees every trailer of a batch commit.
- Every value is sanitized: a single line, no control characters, and nothing that looks
  like a credential (URL userinfo, bearer tokens, well-known token formats).
- ``parse_trailers(build_message(s, blocks)) == [b.sanitized() for b in blocks]``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

__all__ = [
    "TRAILER_KEYS",
    "TrailerBlock",
    "build_message",
    "describe_image_change",
    "intent_grep_pattern",
    "intent_ids",
    "parse_trailers",
    "sanitize_value",
]

MAX_VALUE_LENGTH = 300
"""Longer values are truncated (with an ellipsis) so one trailer stays one readable line."""

TRAILER_KEYS: dict[str, str] = {
    "canary": "Gitcanary-Canary",
    "result": "Gitcanary-Result",
    "image": "Gitcanary-Image",
    "source": "Gitcanary-Source",
    "analysis": "Gitcanary-Analysis",
    "intent": "Gitcanary-Intent",
}
"""Field name of :class:`TrailerBlock` -> trailer token, in the order they are written."""

_FIELD_BY_KEY = {token.lower(): name for name, token in TRAILER_KEYS.items()}
_TRAILER_LINE = re.compile(r"^(Gitcanary-[A-Za-z]+):[ \t]*(.*?)\s*$", re.IGNORECASE)

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\u0085]+")
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)[^/\s@]*@")
_AUTH_HEADER = re.compile(
    r"\b(?:(?P<kind>bearer|basic)\s+[A-Za-z0-9._~+/=\-]{8,}|(?P<tkind>token)\s+[A-Za-z0-9._~+/=\-]{20,})",
    re.IGNORECASE,
)
_KEY_VALUE_SECRET = re.compile(
    r"\b(?P<key>password|passwd|pwd|token|secret|api[_-]?key|access[_-]?token)(?P<sep>\s*[=:]\s*)[^\s&,;]+",
    re.IGNORECASE,
)
_KNOWN_TOKENS = re.compile(
    r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_\-]{16,}"
    r"|xox[abposr]-[A-Za-z0-9\-]{10,}|AKIA[0-9A-Z]{16})\b"
)
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)")

REDACTED = "***"


def sanitize_value(value: str) -> str:
    """Return ``value`` as one safe trailer line.

    Control characters (newlines included) collapse to a single space, credentials are
    replaced by ``***`` and the result is truncated to :data:`MAX_VALUE_LENGTH`.
    """
    text = _CONTROL.sub(" ", value)
    text = _PRIVATE_KEY.sub(REDACTED, text)
    text = _USERINFO.sub(lambda m: m.group("scheme"), text)
    text = _AUTH_HEADER.sub(lambda m: f"{m.group('kind') or m.group('tkind')} {REDACTED}", text)
    text = _KEY_VALUE_SECRET.sub(lambda m: f"{m.group('key')}{m.group('sep')}{REDACTED}", text)
    text = _KNOWN_TOKENS.sub(REDACTED, text)
    text = " ".join(text.split())
    if len(text) > MAX_VALUE_LENGTH:
        text = text[: MAX_VALUE_LENGTH - 1].rstrip() + "…"
    return text


@dataclass(frozen=True)
class TrailerBlock:
    """The record of one applied intent inside a write-back commit."""

    canary: str
    """``namespace/name`` of the Canary."""
    result: str
    """``rolled-back`` (a verdict), ``inconclusive`` (gave up without one), ``promoted``, ``proposed`` ..."""
    image: str
    """``<old image> -> <new image or tag>``, see :func:`describe_image_change`."""
    source: str
    """The Flux source revision that introduced the change, ``main@sha1:<sha>``."""
    analysis: str
    """A one-line summary of the analysis that led to the decision."""
    intent: str
    """The deterministic intent id; the key of exactly-once write-back."""

    def sanitized(self) -> TrailerBlock:
        return replace(self, **{f.name: sanitize_value(getattr(self, f.name)) for f in fields(self)})

    def lines(self) -> list[str]:
        clean = self.sanitized()
        return [f"{token}: {getattr(clean, name)}" for name, token in TRAILER_KEYS.items()]


def describe_image_change(old: str, new: str) -> str:
    """``repo:old -> new-tag`` when both images share a repository, else ``old -> new``."""
    old_repo, _ = _split_image(old)
    new_repo, new_ref = _split_image(new)
    if old and new_ref and old_repo == new_repo:
        return f"{old} -> {new_ref}"
    return f"{old or '(none)'} -> {new or '(none)'}"


def _split_image(image: str) -> tuple[str, str]:
    if "@" in image:
        repo, digest = image.split("@", 1)
        return repo, "@" + digest
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon + 1 :]
    return image, ""


def build_message(subject: str, blocks: Sequence[TrailerBlock], body: str = "") -> str:
    """Compose a commit message: subject, optional body, then one trailer paragraph.

    Raises ``ValueError`` when there is no block or an intent id is empty.
    """
    if not blocks:
        raise ValueError("a write-back commit needs at least one trailer block")
    clean_subject = sanitize_value(subject) or "gitcanary write-back"
    trailer_lines: list[str] = []
    for block in blocks:
        if not sanitize_value(block.intent):
            raise ValueError(f"trailer block for {block.canary!r} has no intent id")
        trailer_lines.extend(block.lines())
    parts = [clean_subject]
    body_text = "\n".join(line.rstrip() for line in body.strip().splitlines())
    if body_text:
        # A body line shaped like our trailers would fake an audit record: neutralise it.
        body_text = "\n".join(
            ("> " + line) if _TRAILER_LINE.match(line) else line for line in body_text.splitlines()
        )
        parts.append(body_text)
    parts.append("\n".join(trailer_lines))
    return "\n\n".join(parts) + "\n"


def parse_trailers(message: str) -> list[TrailerBlock]:
    """Read every ``Gitcanary-*`` block of a commit message, in order.

    Only the final paragraph is read (as git does). A ``Gitcanary-Canary`` line opens a
    new block; unknown ``Gitcanary-*`` keys are ignored; missing fields are ``""``.
    """
    paragraphs = [p for p in re.split(r"\n\s*\n", message.strip()) if p.strip()]
    if len(paragraphs) < 2:
        return []
    blocks: list[dict[str, str]] = []
    for line in paragraphs[-1].splitlines():
        match = _TRAILER_LINE.match(line)
        if match is None:
            continue
        name = _FIELD_BY_KEY.get(match.group(1).lower())
        if name is None:
            continue
        if name == "canary" or not blocks or name in blocks[-1]:
            blocks.append({})
        blocks[-1][name] = match.group(2)
    return [TrailerBlock(**{name: block.get(name, "") for name in TRAILER_KEYS}) for block in blocks]


def intent_ids(message: str) -> list[str]:
    """The ``Gitcanary-Intent`` ids recorded in a commit message."""
    return [block.intent for block in parse_trailers(message) if block.intent]


def intent_grep_pattern(intent_id: str) -> str:
    """The fixed string that ``git log --fixed-strings --grep`` uses to find an intent."""
    return f"{TRAILER_KEYS['intent']}: {intent_id}"
