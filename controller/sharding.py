"""Which Canaries one controller instance owns: a Kubernetes label selector, as Flux shards.

Flux runs one controller per shard with ``--watch-label-selector=sharding.fluxcd.io/key=shard1``
and the main one with ``--watch-label-selector='!sharding.fluxcd.io/key'``; gitcanary takes the
same flag and the same convention. The grammar is the apiserver's set-based selector:

    selector    := requirement ("," requirement)*
    requirement := key | "!" key | key ("=" | "==" | "!=") value
                 | key ("in" | "notin") "(" value ("," value)* ")"

``parse`` rejects anything else with a :class:`ValueError` naming the requirement, so a
typo in a flag stops the controller at start instead of silently owning nothing.
Matching is pure and works on a Canary's ``metadata.labels``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

SHARD_KEY = "sharding.fluxcd.io/key"

_KEY = r"(?:[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?/)?[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?"
_VALUE = r"(?:[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?)?"
_EXISTS = re.compile(rf"^(?P<neg>!?)\s*(?P<key>{_KEY})$")
_EQUALITY = re.compile(rf"^(?P<key>{_KEY})\s*(?P<op>==|=|!=)\s*(?P<value>{_VALUE})$")
_SET = re.compile(rf"^(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # exists | !exists | in | notin
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op == "in":
            return present and labels[self.key] in self.values
        return not present or labels[self.key] not in self.values


@dataclass(frozen=True)
class Selector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        return all(r.matches(labels or {}) for r in self.requirements)

    def __bool__(self) -> bool:
        return bool(self.requirements)


def _split(text: str) -> list[str]:
    """Split on commas that are not inside ``( )``."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p.strip() for p in parts]


def _requirement(text: str) -> Requirement:
    if m := _SET.match(text):
        values = frozenset(v.strip() for v in m["values"].split(","))
        if not all(re.fullmatch(_VALUE, v) and v for v in values):
            raise ValueError(f"invalid values in label selector requirement {text!r}")
        return Requirement(m["key"], m["op"], values)
    if m := _EQUALITY.match(text):
        return Requirement(m["key"], "notin" if m["op"] == "!=" else "in", frozenset({m["value"]}))
    if m := _EXISTS.match(text):
        return Requirement(m["key"], "!exists" if m["neg"] else "exists")
    raise ValueError(f"invalid label selector requirement {text!r}")


def parse(text: str) -> Selector:
    """Parse a label selector; the empty string selects everything."""
    if not text.strip():
        return Selector()
    parts = _split(text)
    if any(not p for p in parts):
        raise ValueError(f"invalid label selector {text!r}: empty requirement")
    return Selector(tuple(_requirement(p) for p in parts))
